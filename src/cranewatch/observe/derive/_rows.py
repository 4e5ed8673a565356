"""Rows in and out of Arrow for the derived tables, without pandas.

Parquet files are read with :func:`read_columns`. ``Table.to_pylist`` turns timestamps into ``datetime`` objects, which imports pandas when it is
installed (a tenth of a second); the derivations compare times as integer nanoseconds, so
timestamp columns are cast to int64 first. Tables are built back through
:func:`cranewatch.protocols.dispatch.facts.table_of` (columns from buffers).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cranewatch.protocols.dispatch.facts import table_of


def read_columns(path: Path, columns: list[str]) -> pa.Table:
    """Some columns of a Parquet file. ``ParquetFile.read`` rather than ``pq.read_table``: the
    latter goes through the dataset layer, whose first use costs about 50 MB of memory."""
    return pq.ParquetFile(path).read(columns=columns, use_threads=False)


def plain(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, timestamps as int nanoseconds."""
    columns = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    rows: list[dict[str, Any]] = pa.table(columns, names=table.column_names).to_pylist()
    return rows


def table_from_rows(schema: pa.Schema, rows: Iterable[dict[str, Any]]) -> pa.Table:
    """A table of ``schema`` from dict rows (missing keys are null)."""
    cols: dict[str, list[object]] = {f.name: [] for f in schema}
    for row in rows:
        for name, values in cols.items():
            values.append(row.get(name))
    return table_of(schema, cols)


def ints(column: pa.ChunkedArray | pa.Array, null: int = -1) -> np.ndarray:
    """A fixed-width integer or timestamp column as int64, nulls as ``null``, read from its
    buffers: pyarrow's ``to_numpy`` imports pandas when it is installed."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [np.zeros(0, np.int64)]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        validity, data = chunk.buffers()[:2]
        width = chunk.type.bit_width // 8
        kind = (
            "i"
            if pa.types.is_signed_integer(chunk.type) or pa.types.is_timestamp(chunk.type)
            else "u"
        )
        end = chunk.offset + len(chunk)
        values = np.frombuffer(data, np.dtype(f"{kind}{width}"), count=end)[chunk.offset :]
        values = values.astype(np.int64)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
            values = np.where(bits[chunk.offset : end].astype(bool), values, null)
        parts.append(values)
    return np.concatenate(parts)
