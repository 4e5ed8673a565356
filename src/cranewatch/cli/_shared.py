"""What every command module shares: the consoles, the workspace option and table printing."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pyarrow as pa

    from cranewatch.store.workspace import Workspace

# a pipe or file gets full tables instead of Rich's 80-column default for non-terminals
console = Console() if Console().is_terminal else Console(width=240)
err_console = Console(stderr=True, soft_wrap=True)  # one line per error, never wrapped


class State:
    workspace: Path = Path("cranewatch-workspace")
    db: str | None = None  # --db: registry database URL


def open_workspace(create: bool) -> Workspace:
    from cranewatch.store.workspace import Workspace

    return Workspace.open(State.workspace, create=create)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def with_text_timestamps(result: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 text with all nine decimals: Python's datetime stops at
    microseconds, and capture timestamps are nanoseconds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(result.schema):
        if pa.types.is_timestamp(field.type):
            column = result.column(i)
            fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if field.type.tz else "")
            text = pc.strftime(column.cast(pa.timestamp("ns", field.type.tz)), format=fmt)
            result = result.set_column(i, field.name, text)
    return result


def print_table(result: pa.Table, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.csv:
        import json

        import pyarrow as pa
        import pyarrow.csv as pacsv

        nested = [
            i for i, f in enumerate(result.schema)
            if pa.types.is_nested(f.type) or pa.types.is_map(f.type)
        ]  # fmt: skip
        for i in nested:  # CSV has no lists or structs: write them as JSON text
            texts = [
                None if v is None else json.dumps(v, default=str)
                for v in result.column(i).to_pylist()
            ]
            result = result.set_column(i, result.schema.field(i).name, pa.array(texts, pa.string()))

        sink = sys.stdout.buffer
        pacsv.write_csv(result, sink)
        sink.flush()
        return
    rows = with_text_timestamps(result).to_pylist()
    if fmt is OutputFormat.json:
        import json

        sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
        return
    table = Table(show_lines=False)
    for name in result.column_names:
        table.add_column(name)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row.values()))
    console.print(table)
    console.print(f"{result.num_rows} row(s)", style="dim")
