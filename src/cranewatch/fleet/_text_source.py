"""Where the bytes of an input file become text: a size cap, the encodings spreadsheets write, and
the delimiter of a CSV export.

Both CSV importers (procurement lists in ``csv_import``, evidence sheets in ``_evidence_csv``)
read their files with ``read_delimited``; the YAML reader ``_yaml_lines`` shares only the size
cap (``read_limited``), because YAML is UTF-8 text.

A file over ``MAX_TEXT_BYTES`` is refused before it is read whole. Spreadsheets export CSV in the
encoding of the user's program and locale, so these are accepted, in this order: UTF-16 with a
byte-order mark (Excel's "Unicode text"), UTF-8 with or without BOM, and otherwise Windows-1252
(Excel's "CSV" on a German or Dutch Windows). A file is valid UTF-8 or it is not, and
Windows-1252 leaves only five byte values undefined, so the order decides and nothing is guessed;
encoding detectors (charset-normalizer, chardet) guess from letter statistics, which a short sheet
of serial numbers does not have. NUL bytes outside UTF-16 mean a binary file (an .xlsx renamed).

The delimiter is whichever of ``,`` ``;`` tab ``|`` occurs most often outside quotes in the header
(the first non-blank line), the one line whose shape is known; when the header holds none of them
(one column), the first 20 lines decide, else ``,``. ``csv.Sniffer`` is not used: it guesses from
all sample lines and picks the delimiter of free-text cells (descriptions full of commas, MAC
lists, decimal commas) over the real one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cranewatch.fleet.problems import Problem

MAX_TEXT_BYTES = 50 * 1024 * 1024  # a sheet or a port file is kilobytes; this is generous
DELIMITERS = (",", ";", "\t", "|")

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BINARY = "contains NUL bytes: a binary file (an .xlsx?), not CSV text; save the sheet as CSV UTF-8"
_LINE = re.compile(r"[^\r\n]+")
_QUOTED = re.compile(r'"[^"]*"')


@dataclass(frozen=True)
class TextSource:
    """A CSV file's text and the delimiter its header uses."""

    text: str
    delimiter: str


def read_delimited(path: Path, name: str) -> tuple[TextSource | None, list[Problem]]:
    """The text and delimiter of a CSV export, or the problem that keeps it from being read."""
    data, problems = read_limited(path, name)
    if data is None:
        return None, problems
    text, problems = decode_sheet(name, data)
    if text is None:
        return None, problems
    return TextSource(text, find_delimiter(text)), []


def read_limited(path: Path, name: str) -> tuple[bytes | None, list[Problem]]:
    """The bytes of a file of at most ``MAX_TEXT_BYTES``, or why they cannot be had."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(MAX_TEXT_BYTES + 1) if size <= MAX_TEXT_BYTES else b""
    except OSError as exc:
        return None, [Problem(name, None, "", f"cannot read the file: {exc.strerror or exc}")]
    if size > MAX_TEXT_BYTES or len(data) > MAX_TEXT_BYTES:  # a pipe or /proc file has size 0
        shown = f"{size:,} bytes" if size > MAX_TEXT_BYTES else f"over {MAX_TEXT_BYTES:,} bytes"
        return None, [Problem(name, None, "", f"file is {shown}; at most {_limit()}")]
    return data, []


def _limit() -> str:
    megabytes, rest = divmod(MAX_TEXT_BYTES, 1024 * 1024)
    return f"{megabytes} MB" if not rest else f"{MAX_TEXT_BYTES:,} bytes"


def decode_sheet(name: str, data: bytes) -> tuple[str | None, list[Problem]]:
    """The text of a spreadsheet export: UTF-16 with BOM, UTF-8 (BOM or not), else Windows-1252."""
    if data.startswith(_UTF16_BOMS):
        text, problems = _decode(name, data, 0, "utf-16", "UTF-16")
        if text is not None and "\x00" in text:
            return None, [Problem(name, None, "", _BINARY)]
        return text, problems
    if b"\x00" in data:
        return None, [Problem(name, None, "", _BINARY)]
    if data.startswith(_UTF8_BOM):
        return _decode(name, data[len(_UTF8_BOM) :], len(_UTF8_BOM), "utf-8", "UTF-8")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        return _decode(name, data, 0, "cp1252", "UTF-8 or Windows-1252")


def _decode(
    name: str, data: bytes, skipped: int, encoding: str, shown: str
) -> tuple[str | None, list[Problem]]:
    """``data`` (the file after its first ``skipped`` bytes) decoded, or where it is not."""
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = (
            f"not {shown} text (byte {data[exc.start]:#04x} at offset {skipped + exc.start}); "
            "save the sheet as CSV UTF-8"
        )
        return None, [Problem(name, line, "", message)]


def find_delimiter(text: str) -> str:
    """The one of ``DELIMITERS`` most frequent outside quotes in the header, else in the first 20
    non-blank lines, else ``,``."""
    lines: list[str] = []
    for match in _LINE.finditer(text):
        if match[0].strip():
            lines.append(match[0])
            if len(lines) == 20:
                break
    for sample in (lines[:1], lines):
        unquoted = _QUOTED.sub("", "\n".join(sample))
        counts = {d: unquoted.count(d) for d in DELIMITERS}
        best = max(DELIMITERS, key=lambda d: counts[d])
        if counts[best]:
            return best
    return ","
