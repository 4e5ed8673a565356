"""Reading the written report files as text, and finding identifying strings in them.

A string counts as found only as a whole token (not inside a longer address or name:
``10.20.3.2`` is not found in ``10.20.3.20``, an analyst called ``demo`` not in
``demo-captures``). PDF text comes from poppler's ``pdftotext``; a long value a table cell
wraps (a SHA-256) is also looked for in the text with the line breaks taken out.
"""

from __future__ import annotations

import csv
import html
import re
import subprocess
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from cranewatch.fleet.loader import load_port
from tests.conftest import require_tool

EXAMPLE_PORT = Path(__file__).resolve().parents[2] / "examples" / "port"
MIN_LENGTH = 4  # shorter ids (T1) are also ordinary text
_EDGE = r"A-Za-z0-9_\-"


def pdf_text(path: Path) -> str:
    pdftotext = require_tool("pdftotext")
    done = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def file_text(path: Path) -> str:
    """The text a reader of ``path`` sees (HTML unescaped, every CSV file of a folder, PDF
    through pdftotext)."""
    if path.is_dir():
        return "\n".join(file_text(p) for p in sorted(path.iterdir()))
    if path.suffix == ".pdf":
        return pdf_text(path)
    text = path.read_text(encoding="utf-8")
    return html.unescape(text) if path.suffix == ".html" else text


@lru_cache(maxsize=32)
def _pattern(strings: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(s) for s in sorted(strings, key=len, reverse=True))
    return re.compile(rf"(?<![{_EDGE}])(?:{alternatives})(?![{_EDGE}])")


def found(strings: Iterable[str], text: str) -> list[str]:
    """The strings of ``strings`` (at least MIN_LENGTH long) that occur in ``text``."""
    wanted = frozenset(s for s in strings if len(s) >= MIN_LENGTH)
    if not wanted:
        return []
    hits = set(_pattern(wanted).findall(text))
    # a string may also hide inside a longer one that matched first (10.20.3.2 in 10.20.3.20
    # is no hit, but "A. Visser" inside "A. Visser (x)" is found by the alternation anyway);
    # look for the rest one by one only where a plain substring test says they might be
    for s in wanted - hits:
        if s in text and re.search(rf"(?<![{_EDGE}]){re.escape(s)}(?![{_EDGE}])", text):
            hits.add(s)
    joined = re.sub(r"\s+", "", text)
    hits |= {s for s in wanted - hits if len(s) >= 12 and not re.search(r"\s", s) and s in joined}
    return sorted(hits)


def example_port_identifiers() -> dict[str, set[str]]:
    """What identifies the example port's own equipment and people, read straight from
    examples/port (the port files and the evidence CSVs), not from the report's content."""
    port = load_port(EXAMPLE_PORT)
    out: dict[str, set[str]] = {k: set() for k in ("crane", "component", "ip", "mac", "serial",
                                                   "imei", "iccid", "imsi", "terminal", "person")}  # fmt: skip
    for terminal in port.terminals:
        out["terminal"].add(terminal.name)
    for _, crane in port.cranes():
        out["crane"].add(crane.id)
    for _, _, c in port.all_components():
        out["component"].add(c.id)
        out["ip"].update(c.ips)
        out["mac"].update(c.macs)
        if c.serial:
            out["serial"].add(c.serial)
        for cap in c.capabilities:
            for key in ("imei", "iccid", "imsi"):
                value = getattr(cap, key, None)
                if value:
                    out[key].add(value)
    evidence = EXAMPLE_PORT / "evidence"
    with (evidence / "walkdown.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out["person"].add(row["inspector"])
            out["serial"].add(row["label serial"])
            out["mac"].add(row["label mac"])
            out["imei"].add(row["label imei"])
            out["iccid"].add(row["label iccid"])
    with (evidence / "rf-survey.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out["person"].add(row["surveyor"])
            if ":" in row["identifier"]:  # a Wi-Fi or Bluetooth transmitter's address
                out["mac"].add(row["identifier"].lower())
    with (evidence / "sim-usage.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out["iccid"].add(row["iccid"])
            out["imsi"].add(row["imsi"])
    return {k: {v for v in values if v} for k, values in out.items()}
