"""The scenario clock: shift a finished run's capture and events to a fixed start time.

Some scenarios only mean something at a certain time of day: a vendor's remote session is
legitimate inside its agreed window (weekdays 08:00–17:00 local time) and suspicious outside it.
A run happens whenever the test or the user starts it, so a scenario may name the moment its
run should appear to start (``Scenario.clock``); after the run, every capture timestamp and
every event time is moved by the same offset. Relative timing (intervals, beacons, order) is
untouched, and truth.json records both the offset and the real start, so nothing is hidden.

The pcap is rewritten record by record (read with ``cranewatch.capture.records``, written with
the testbed's own ``pcapfile`` headers) into a temporary file next to it and renamed over it:
memory stays at one frame whatever the capture's size.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
from pathlib import Path

from cranewatch.capture.records import RecordReader
from cranewatch.errors import CaptureError, TestbedError
from cranewatch.testbed.pcapfile import LINKTYPE_ETHERNET, MAGIC_NS, record_header, write_header

_TESTBED_MAGIC = struct.pack("<I", MAGIC_NS)  # little-endian nanosecond pcap, as the capture writes


def parse_clock(text: str) -> dt.datetime:
    """An ISO 8601 date and time with its UTC offset, e.g. ``2026-03-03T09:30:00+01:00``."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TestbedError(
            f"clock {text!r} is not an ISO 8601 time like 2026-03-03T09:30:00+01:00"
        ) from None
    if moment.tzinfo is None:
        raise TestbedError(f"clock {text!r} needs its UTC offset, e.g. +01:00 or Z")
    return moment


def offset_ns(clock: str, started: float) -> int:
    """Nanoseconds to add to a run that really started at ``started`` (Unix seconds)."""
    return round((parse_clock(clock).timestamp() - started) * 1e9)


def shift_pcap(path: Path, shift_ns: int) -> None:
    """Move every record of the testbed's nanosecond pcap by ``shift_ns``."""
    partial = path.with_suffix(".shifting")
    with path.open("rb") as fh:
        magic = fh.read(len(_TESTBED_MAGIC))
    refused = TestbedError(f"{path}: not the testbed's nanosecond pcap; cannot shift it")
    if magic != _TESTBED_MAGIC:
        raise refused
    try:
        reader = RecordReader(path)
    except CaptureError:
        raise refused from None
    with reader, partial.open("wb") as out:
        if reader.linktype != LINKTYPE_ETHERNET:
            raise refused
        write_header(out, reader.snaplen)
        for record in reader:
            if record.data is None or record.ts_ns is None:
                continue
            ts = record.ts_ns + shift_ns
            if ts < 0:
                raise TestbedError(f"clock shift moves {path} before 1970")
            out.write(record_header(ts, len(record.data), record.wirelen) + record.data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)


def shift_events(path: Path, shift_ns: int) -> None:
    """Move the ``ts`` of every event line by ``shift_ns``; other lines are kept as they are."""
    lines = []
    with path.open("rb") as src:
        for raw in src:
            try:
                event = json.loads(raw)
                event["ts"] = float(event["ts"]) + shift_ns / 1e9
                lines.append(json.dumps(event, separators=(",", ":")).encode() + b"\n")
            except (ValueError, KeyError, TypeError):
                lines.append(raw if raw.endswith(b"\n") else raw + b"\n")
    partial = path.with_suffix(".shifting")
    partial.write_bytes(b"".join(lines))
    partial.replace(path)
