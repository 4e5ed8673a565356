"""cranewatch.testing.streams: reassembled runs tie every byte back to the frame that carried it."""

from __future__ import annotations

import subprocess

import pytest

from cranewatch.testing.streams import collect
from tests.conftest import shared_capture

CAPTURE = "modbus_tcp_icsnpp_example.pcap"


def test_offsets_are_ordered_and_cover_the_run() -> None:
    for flow in collect(shared_capture(CAPTURE)).values():
        for runs in flow.runs.values():
            for run in runs:
                assert run.offsets[0] == 0
                assert run.offsets == sorted(run.offsets)
                assert len(run.offsets) == len(run.frames)
                assert run.offsets[-1] < len(run.data)


def test_each_request_maps_to_the_frame_tshark_shows(tshark: str) -> None:
    expected = [
        int(n)
        for n in subprocess.run(
            [tshark, "-r", str(shared_capture(CAPTURE)), "-Y", "modbus && tcp.dstport == 502",
             "-T", "fields", "-e", "frame.number"],
            capture_output=True, text=True, check=True,
        ).stdout.split()
    ]  # fmt: skip
    got = []
    for flow in sorted(collect(shared_capture(CAPTURE)).values(), key=lambda f: f.flow_id):
        for run in flow.runs[0]:
            offset = 0
            while offset + 6 <= len(run.data):  # MBAP: length field at bytes 4-5
                got.append(run.frame_at(offset))
                offset += 6 + int.from_bytes(run.data[offset + 4 : offset + 6], "big")
    assert got == expected


def test_frame_run_strict_and_resynchronising() -> None:
    from cranewatch.protocols.modbus import ANALYZER
    from cranewatch.testing.streams import frame_run

    adu = bytes.fromhex("000100000006010300000010")  # read holding registers
    assert [off for off, _ in frame_run(ANALYZER, adu + adu)] == [0, 12]
    with pytest.raises(ValueError, match="offset 12"):
        list(frame_run(ANALYZER, adu + b"\xff" + adu))
    # lenient: the stray byte is skipped (if pdu_length refuses it) and the cut-off tail ends it
    lenient = list(frame_run(ANALYZER, adu + adu[:5], strict=False))
    assert [off for off, _ in lenient] == [0]
