"""Test a protocol analyzer against what tshark counts on real captures, through stored baselines.

Analyzer authors, including those of third-party plugins, test their parsers the way the
built-in analyzers are tested: count what tshark decodes for one field of a capture, store the
counts once as a baseline file next to the tests, and compare the analyzer's own counts with
that file on every run. Runs without tshark still compare against the stored figures; runs with
tshark also check that the stored figures are current::

    from cranewatch.testing import Baseline, check_baseline, load_baseline, tshark_field_counts

    BASELINES = Path(__file__).parent / "baselines"

    def test_counts():                       # needs no tshark
        assert my_counts("x.pcap") == load_baseline(BASELINES, "x.pcap", "foo.func").counts

    def test_baseline_is_current(tshark):    # needs tshark
        check_baseline(BASELINES, tshark_field_counts(CAPTURES / "x.pcap", "foo.func"))

A baseline is one JSON file per capture and field, ``<capture stem>.<field>.json``, in one
format (see :class:`Baseline`). Refresh the baselines like ``btest -U`` and review the diff::

    CRANEWATCH_UPDATE_BASELINES=1 pytest tests/protocols
    python -m cranewatch.testing.protocols --update tests/protocols      # the same

With the variable set, :func:`check_baseline` rewrites the file from the live figures instead
of comparing. tshark runs with an empty personal configuration, no name resolution, the
preferences of :data:`cranewatch.testing.tshark.TSHARK_OPTIONS`, ``TZ=UTC`` and a C locale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as _field
from pathlib import Path
from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult
from cranewatch.testing.tshark import TSHARK_OPTIONS, tshark_version

__all__ = [
    "UPDATE_ENV",
    "Baseline",
    "baseline_path",
    "check_baseline",
    "frame_ranges",
    "frame_set",
    "load_baseline",
    "sha256_of",
    "tshark_field_counts",
    "tshark_fields",
    "update_requested",
    "with_counts",
]

#: Set to anything but ``""``, ``"0"`` or ``"false"`` to rewrite baselines instead of comparing.
UPDATE_ENV = "CRANEWATCH_UPDATE_BASELINES"


def update_requested() -> bool:
    """Whether this run rewrites baselines (:data:`UPDATE_ENV` is set), like ``btest -U``."""
    return os.environ.get(UPDATE_ENV, "") not in ("", "0", "false")


# ------------------------------------------------------------------------------ frame lists


def frame_ranges(frames: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``: frame lists stay one line in a baseline file."""
    spans: list[list[int]] = []
    for frame in sorted(set(frames)):
        if spans and frame == spans[-1][1] + 1:
            spans[-1][1] = frame
        else:
            spans.append([frame, frame])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def frame_set(text: str) -> set[int]:
    """``"1-3,7"`` -> ``{1, 2, 3, 7}``, the inverse of :func:`frame_ranges`."""
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def sha256_of(path: Path | str) -> str:
    """The SHA-256 of a capture file, recorded in a baseline to tie it to the bytes counted."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ the format


@dataclass(frozen=True)
class Baseline:
    """What tshark counts for one field of one capture: the content of one baseline file.

    ``counts`` maps each value of ``field`` (as tshark prints it, or as the test normalises it)
    to its number of occurrences in the frames ``filter`` selects, with ``decode_as`` rules
    (tshark ``-d``) applied. ``frames`` lists the frames that hold the field and ``sha256``
    identifies the capture's bytes; both are ``None`` when not recorded. ``tshark`` is the
    version that counted. ``extra`` holds protocol-specific facts a test needs besides the
    counts (for example frames where tshark's reassembly went wrong).
    """

    capture: str
    field: str
    counts: dict[str, int]
    filter: str = ""
    decode_as: tuple[str, ...] = ()
    tshark: str | None = None
    sha256: str | None = None
    frames: tuple[int, ...] | None = None
    extra: dict[str, Any] = _field(default_factory=dict)

    def to_json(self) -> str:
        """The canonical file text: sorted keys, two-space indent, frames as ranges."""
        doc = {
            "capture": self.capture,
            "field": self.field,
            "filter": self.filter,
            "decode_as": list(self.decode_as),
            "tshark": self.tshark,
            "sha256": self.sha256,
            "counts": dict(sorted(self.counts.items())),
            "frames": None if self.frames is None else frame_ranges(self.frames),
            "extra": self.extra,
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        """Read the canonical file text written by :meth:`to_json`."""
        doc: dict[str, Any] = json.loads(text)
        frames = doc["frames"]
        return cls(
            capture=doc["capture"],
            field=doc["field"],
            counts={str(k): int(v) for k, v in doc["counts"].items()},
            filter=doc["filter"],
            decode_as=tuple(doc["decode_as"]),
            tshark=doc["tshark"],
            sha256=doc["sha256"],
            frames=None if frames is None else tuple(sorted(frame_set(frames))),
            extra=dict(doc["extra"]),
        )

    def frame_set(self) -> set[int]:
        """The recorded frames as a set (empty when not recorded)."""
        return set(self.frames or ())


def _stem(capture: str) -> str:
    return capture.rsplit(".", 1)[0] if capture.endswith((".pcap", ".pcapng")) else capture


def baseline_path(directory: Path, capture: str, field: str) -> Path:
    """``<directory>/<capture without .pcap/.pcapng>.<field>.json``."""
    return Path(directory) / f"{_stem(Path(capture).name)}.{field}.json"


def load_baseline(directory: Path, capture: str, field: str) -> Baseline:
    """The stored baseline of ``field`` on ``capture``; fails the test if the file is missing."""
    path = baseline_path(directory, capture, field)
    assert path.exists(), f"{path} is missing: rerun its test with {UPDATE_ENV}=1"
    return Baseline.from_json(path.read_text())


def check_baseline(
    directory: Path, live: Baseline, *, compare: Literal["all", "counts"] = "all"
) -> None:
    """Assert that the stored baseline equals ``live`` (whole record, or only its counts).

    When :func:`update_requested`, the file is rewritten from ``live`` instead, so one run with
    ``CRANEWATCH_UPDATE_BASELINES=1`` refreshes every baseline its tests check.
    """
    path = baseline_path(directory, live.capture, live.field)
    if update_requested():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != live.to_json():
            path.write_text(live.to_json())
        return
    stored = load_baseline(directory, live.capture, live.field)
    if compare == "counts":
        assert live.counts == stored.counts, f"tshark disagrees with {path.name}"
    else:
        assert live == stored, f"{path.name} is stale"


# ------------------------------------------------------------------------------ tshark


def tshark_fields(
    capture: Path | str,
    fields: Sequence[str],
    display_filter: str = "",
    *,
    decode_as: Sequence[str] = (),
    tshark: str = "tshark",
    aggregator: str = ";",
) -> list[list[list[str]]]:
    """Per frame that ``display_filter`` selects, per field, every occurrence of the field.

    Prepend ``"frame.number"`` to ``fields`` to know which frame a row is.
    """
    cmd = [tshark, *TSHARK_OPTIONS, "-r", str(capture)]
    for rule in decode_as:
        cmd += ["-d", rule]
    if display_filter:
        cmd += ["-Y", display_filter]
    cmd += ["-T", "fields", "-E", "occurrence=a", "-E", f"aggregator={aggregator}"]
    for name in fields:
        cmd += ["-e", name]
    with tempfile.TemporaryDirectory(prefix="cranewatch-tshark-") as conf:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf, LC_ALL="C.UTF-8", TZ="UTC")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    rows: list[list[list[str]]] = []
    for line in proc.stdout.splitlines():
        cells = line.split("\t")
        rows.append([c.split(aggregator) if c else [] for c in cells])
    return rows


def tshark_field_counts(
    capture: Path | str,
    field: str,
    display_filter: str | None = None,
    *,
    decode_as: Sequence[str] = (),
    tshark: str = "tshark",
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Baseline:
    """Occurrences of ``field`` per value in the frames ``display_filter`` selects (by default
    the frames that have the field), the frames that hold it, the capture's SHA-256 and the
    tshark version, as a :class:`Baseline` named after ``name`` (default: the file name)."""
    flt = field if display_filter is None else display_filter
    rows = tshark_fields(capture, ["frame.number", field], flt, decode_as=decode_as, tshark=tshark)
    counts: Counter[str] = Counter()
    frames: list[int] = []
    for row in rows:
        number, values = row[0], row[1] if len(row) > 1 else []
        found = [v for v in values if v]
        if found:
            frames.append(int(number[0]))
            counts.update(found)
    return Baseline(
        capture=name or Path(capture).name,
        field=field,
        counts=dict(counts),
        filter=flt,
        decode_as=tuple(decode_as),
        tshark=tshark_version(tshark),
        sha256=sha256_of(capture),
        frames=tuple(frames),
        extra=dict(extra or {}),
    )


def with_counts(baseline: Baseline, counts: Mapping[str, int]) -> Baseline:
    """``baseline`` with other counts (for a test that normalises tshark's values)."""
    return replace(baseline, counts=dict(counts))


# ------------------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> int:
    """``python -m cranewatch.testing.protocols --update PATH...``: run the tests at PATH with
    ``CRANEWATCH_UPDATE_BASELINES=1`` so that every baseline they check is rewritten."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--update", action="store_true", required=True)
    parser.add_argument("paths", nargs="*", default=["tests"])
    args = parser.parse_args(argv)
    env = dict(os.environ, **{UPDATE_ENV: "1"})
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.paths]
    return subprocess.run(cmd, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())


def zeek_log(
    path: Path, fields: Sequence[str] | None = None, *, strict: bool = True
) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log as dicts keyed by its ``#fields`` names.

    ``fields`` names the columns of a log whose ``#fields`` line was filtered out by the test
    that produced it; ``strict`` requires every row to have exactly one value per column.
    Header lines (``#...``) and a btest banner line are skipped.
    """
    names: list[str] | None = None
    rows: list[list[str]] = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            names = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(line.split("\t"))
    columns = list(names if names is not None else (fields or ()))
    if not columns:
        raise ValueError(f"{path}: no #fields line and no column names given")
    return [dict(zip(columns, row, strict=strict)) for row in rows]


def only_operation(result: ParseResult, *, allow_error: bool = False) -> Operation:
    """The single operation of a parse result (asserting there is exactly one, and unless
    ``allow_error``, that the PDU decoded without error)."""
    if not allow_error:
        assert result.error is None, result.error
    assert len(result.operations) == 1, result
    return result.operations[0]


def edited(pdu: bytes, edits: Iterable[tuple[int, int]]) -> bytes:
    """``pdu`` with the bytes at (position, value) pairs overwritten; positions past its end are
    ignored. For fuzzing parsers with mutated real PDUs."""
    data = bytearray(pdu)
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    return bytes(data)
