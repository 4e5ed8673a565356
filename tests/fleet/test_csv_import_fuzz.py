"""Fuzzing the procurement CSV reader: any bytes, and sheets built from real headers and cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from cranewatch.fleet.csv_import import read_components_csv
from cranewatch.fleet.model import Component
from cranewatch.fleet.problems import FleetInputError

DATA = Path(__file__).parent / "data" / "csv"
HEADERS = ["Serial No.", "Hersteller", "MAC address(es)", "IMEI", "Type", "Crane", "id", "Zone"]
CELLS = st.one_of(
    st.sampled_from(
        ["00:11:22:33:44:55", "plc", "SPS", "STS01", "356938035643809", "=1+1", "@x", ""]
    ),
    st.text(max_size=12),
)


def _read(path: Path) -> list[Component] | None:
    try:
        components = read_components_csv(path)
    except FleetInputError as error:
        assert error.problems
        assert all(p.line is None or p.line >= 1 for p in error.problems)
        return None
    assert all(isinstance(c, Component) for c in components)
    return components


@fuzz_settings(300)
@given(data=st.binary(max_size=600))
def test_any_bytes_import_or_raise(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "x.csv"
    path.write_bytes(data)
    _read(path)


@fuzz_settings(300)
@given(
    header=st.lists(st.sampled_from(HEADERS), min_size=1, max_size=6, unique=True),
    rows=st.lists(st.lists(CELLS, max_size=8), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_generated_sheets_import_or_raise(
    tmp_path_factory: Any, header: list[str], rows: list[list[str]], delimiter: str, encoding: str
) -> None:
    def quote(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"'

    lines = [delimiter.join(quote(c) for c in header)]
    lines += [delimiter.join(quote(c) for c in row) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    path = tmp_path_factory.mktemp("sheet") / "x.csv"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        path.write_bytes(text.encode("utf-8"))
    components = _read(path)
    if components is not None:  # every imported row keeps its cells as written
        kept = {c.serial for c in components} - {None}
        written = {
            r[header.index("Serial No.")].strip()
            for r in rows
            if "Serial No." in header and len(r) > header.index("Serial No.")
        }
        assert kept <= written


@fuzz_settings(200)
@given(cut=st.integers(min_value=0, max_value=2000), flip=st.integers(0, 255))
def test_truncated_and_corrupted_real_sheet(tmp_path_factory: Any, cut: int, flip: int) -> None:
    data = bytearray((DATA / "procurement-en.csv").read_bytes())
    data = data[: cut % (len(data) + 1)]
    if data:
        data[flip % len(data)] = flip
    path = tmp_path_factory.mktemp("cut") / "x.csv"
    path.write_bytes(bytes(data))
    _read(path)
