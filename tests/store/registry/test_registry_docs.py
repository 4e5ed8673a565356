"""docs/registry.md documents every table and column of the registry, with its exported type."""

from __future__ import annotations

from pathlib import Path

import pytest

from cranewatch.store.registry.models import Base
from cranewatch.store.registry.tables import EXPORTED, arrow_type

PAGE = Path(__file__).resolve().parents[3] / "docs" / "registry.md"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n### ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


@pytest.mark.parametrize("name", sorted(Base.metadata.tables))
def test_every_table_and_column_is_documented(name: str) -> None:
    text = PAGE.read_text(encoding="utf-8")
    heading = f"### `{name}`"
    assert heading in text, f"table {name} is not in docs/registry.md"
    section = _section(text, heading)
    for column in Base.metadata.tables[name].columns:
        assert f"| `{column.name}` |" in section, f"column {name}.{column.name} is undocumented"
    assert ("Queryable." in section) == (name in EXPORTED), f"mark {name} queryable or not"


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_list_columns_are_documented_with_their_arrow_type(name: str) -> None:
    section = _section(PAGE.read_text(encoding="utf-8"), f"### `{name}`")
    for column in Base.metadata.tables[name].columns:
        kind = str(arrow_type(column))
        if kind.startswith("list"):
            element = "string" if "string" in kind else "int64"
            assert f"| `{column.name}` | list<{element}> |" in section, f"{name}.{column.name}"
