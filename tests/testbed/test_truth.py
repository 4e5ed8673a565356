"""truth.json from a hand-made capture and events file, and the scenario checks behind it.

No root needed: the capture is written frame by frame here, so every expected frame number
is known before ``build_truth`` looks at it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from tests.testbed._nets import (
    CLOUD_IP,
    ENG_IP,
    ENG_MAC,
    PLC_IP,
    PLC_MAC,
    RTR_LAN_IP,
    RTR_LAN_MAC,
    two_segments,
)

from cranewatch.errors import TestbedError
from cranewatch.testbed import truth as truth_mod
from cranewatch.testbed.pcapfile import record_header, write_header
from cranewatch.testbed.scenario import Host, Interface, Planted, Scenario, Segment
from cranewatch.testbed.truth import Selector, build_truth, merge_windows, read_events

T0 = 1_800_000_000.0
BCAST = "ff:ff:ff:ff:ff:ff"


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


def ipv4_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 1, 0, ip(src_ip), ip(dst_ip))
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + header + bytes(8)


def arp_frame(src_mac: str, sender_ip: str, target_ip: str) -> bytes:
    body = struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac(src_mac), ip(sender_ip), bytes(6), ip(target_ip)
    )
    return mac(BCAST) + mac(src_mac) + b"\x08\x06" + body


def write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> None:
    with path.open("wb") as out:
        write_header(out)
        for ts, data in frames:
            out.write(record_header(round(ts * 1e9), len(data), len(data)))
            out.write(data)


def write_events(path: Path, events: list[tuple[float, str, str, dict[str, object]]]) -> None:
    lines = [
        json.dumps({"ts": ts, "host": host, "program": "x", "event": ev, **detail})
        for ts, host, ev, detail in events
    ]
    path.write_text("\n".join([*lines, "{broken"]) + "\n")


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, Path]:
    frames = [
        (T0 + 0.5, ipv4_frame(ENG_MAC, PLC_MAC, ENG_IP, PLC_IP)),  # 1 legit, early
        (T0 + 10.0, arp_frame(PLC_MAC, PLC_IP, RTR_LAN_IP)),  # 2 ARP for the router
        (T0 + 10.2, ipv4_frame(PLC_MAC, RTR_LAN_MAC, PLC_IP, CLOUD_IP)),  # 3 via router
        (T0 + 10.3, ipv4_frame(ENG_MAC, PLC_MAC, ENG_IP, PLC_IP)),  # 4 in window, not router
        (T0 + 12.3, ipv4_frame(RTR_LAN_MAC, PLC_MAC, CLOUD_IP, PLC_IP)),  # 5 slack after window
        (T0 + 14.0, ipv4_frame(RTR_LAN_MAC, PLC_MAC, CLOUD_IP, PLC_IP)),  # 6 outside slack
        (T0 + 50.0, ipv4_frame(PLC_MAC, RTR_LAN_MAC, PLC_IP, CLOUD_IP)),  # 7 second window
    ]
    events = [
        (T0 + 10.1, "plc", "ping", {"target": CLOUD_IP}),
        (T0 + 11.4, "plc", "ping", {"target": CLOUD_IP}),
        (T0 + 11.0, "eng", "ping", {"target": PLC_IP}),  # other host: not this item's
        (T0 + 50.0, "plc", "ping", {"target": CLOUD_IP}),
    ]
    write_pcap(tmp_path / "capture.pcap", frames)
    write_events(tmp_path / "events.jsonl", events)
    return tmp_path / "capture.pcap", tmp_path / "events.jsonl"


def make_truth(run: tuple[Path, Path], planted: tuple[Planted, ...]) -> dict[str, object]:
    pcap, events = run
    return build_truth(
        two_segments(planted=planted),
        run_id="abc123",
        started=T0,
        ended=T0 + 60,
        capture=pcap,
        events_path=events,
        dropped=0,
    )


def planted_of(truth: dict[str, object], item: str) -> dict[str, object]:
    items = truth["planted"]
    assert isinstance(items, list)
    return next(p for p in items if p["id"] == item)


def test_windows_and_frames_of_a_planted_item(run: tuple[Path, Path]) -> None:
    beacon = Planted("beacon", "beacon", ("router",), "PLC pings the cloud", ("plc:ping",))
    item = planted_of(make_truth(run, (beacon,)), "beacon")
    assert item["windows"] == [[T0 + 10.1, T0 + 11.4], [T0 + 50.0, T0 + 50.0]]
    assert item["event_count"] == 3
    # ARP naming the router's IP, frames to/from its MAC in the windows ±1 s; not 1, 4, 6
    assert item["frames"] == [2, 3, 5, 7]
    assert item["frames_truncated"] is False
    assert item["hosts"] == [
        {
            "name": "router",
            "macs": [RTR_LAN_MAC, "02:00:00:00:02:01"],
            "ips": [RTR_LAN_IP, "198.51.100.2"],
        }
    ]


def test_detail_selectors_and_whole_run_items(run: tuple[Path, Path]) -> None:
    pcap, _ = run
    by_target = Planted("eng", "remote-session", ("eng",), "x", (f"ping?target={PLC_IP}",))
    present = Planted("dev", "undeclared-device", ("router",), "always there")
    truth = make_truth(run, (by_target, present))
    assert planted_of(truth, "eng")["windows"] == [[T0 + 11.0, T0 + 11.0]]
    assert planted_of(truth, "eng")["frames"] == [4]  # ENG's frame 4 within 1 s; frame 1 is not
    assert planted_of(truth, "dev")["windows"] == [[T0, T0 + 60]]
    assert planted_of(truth, "dev")["frames"] == [2, 3, 5, 6, 7]
    capture = truth["capture"]
    assert isinstance(capture, dict)
    assert capture["frames"] == 7
    assert capture["sha256"] == hashlib.sha256(pcap.read_bytes()).hexdigest()
    assert truth["truth_version"] == 1 and truth["started"] == "2027-01-15T08:00:00.000Z"


def test_items_that_never_happened_are_warnings(run: tuple[Path, Path]) -> None:
    never = Planted("tls", "tunnel", ("router",), "no TLS here", ("tls-heartbeat",))
    truth = make_truth(run, (never,))
    assert planted_of(truth, "tls")["windows"] == [] and planted_of(truth, "tls")["frames"] == []
    warnings = truth["warnings"]
    assert isinstance(warnings, list)
    assert any("'tls'" in w and "did not do what it should" in w for w in warnings)
    assert any("1 unreadable line" in w for w in warnings)


def test_frame_lists_are_capped(run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(truth_mod, "MAX_FRAMES", 2)
    item = planted_of(make_truth(run, (Planted("d", "dual-homed", ("plc",), "x"),)), "d")
    assert item["frames"] == [1, 2] and item["frames_truncated"] is True


def test_merge_windows_splits_at_thirty_seconds() -> None:
    assert merge_windows([5.0, 0.0, 29.9, 59.8, 100.0]) == [[0.0, 59.8], [100.0, 100.0]]
    assert merge_windows([0.0, 30.0]) == [[0.0, 0.0], [30.0, 30.0]]
    assert merge_windows([]) == []


def test_selectors() -> None:
    ev = {"event": "s7-write", "host": "plc", "peer": "10.20.1.99", "ok": True}
    assert Selector.parse("s7-write").matches(ev)
    assert Selector.parse("plc:s7-write?peer=10.20.1.99&ok=true").matches(ev)
    assert not Selector.parse("eng:s7-write").matches(ev)
    assert not Selector.parse("plc:s7-write?peer=10.20.1.20").matches(ev)
    assert not Selector.parse("s7-read").matches(ev)


def test_read_events_sorts_and_counts_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"ts": 2, "event": "b"}\nnot json\n{"ts": 1, "event": "a"}\n{"event": "c"}\n')
    events, bad = read_events(path)
    assert [e["event"] for e in events] == ["a", "b"] and bad == 2


def test_inconsistent_scenarios_are_refused_with_every_problem() -> None:
    with pytest.raises(TestbedError) as err:
        Scenario(
            name="Bad Name",
            title="t",
            summary="s",
            segments=(Segment("lan"),),
            hosts=(
                Host("a", "x", (Interface("nowhere", "02:00:00:00:00:01", "10.0.0.1/24"),)),
                Host("b", "x", (Interface("lan", "02:00:00:00:00:01", "fe80::1/64"),)),
                Host("c", "x", (Interface("lan", "03:00:00:00:00:01", "10.0.0.300/24"),)),
            ),
            planted=(Planted("p", "teleport", ("ghost",), "d", ("nobody:ev", "ev?x")),),
            duration_s=5,
        )
    text = str(err.value)
    for expected in (
        "scenario name 'Bad Name'",
        "unknown segment 'nowhere'",
        "MAC 02:00:00:00:00:01 is used twice",
        "is IPv6 but the scenario has ipv6=False",
        "'03:00:00:00:00:01' is not a unicast MAC",
        "'10.0.0.300/24' is not an IP",
        "capture_segment 'crane-lan' is not a segment",
        "unknown kind 'teleport'",
        "unknown host 'ghost'",
        "event 'nobody:ev'",
        "event 'ev?x'",
    ):
        assert expected in text


def test_the_scenario_example_in_the_docs_is_valid() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "testbed.md").read_text()
    code = page.split("### Writing a scenario", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)
    scenario = namespace["MODEM_SESSION"]
    assert isinstance(scenario, Scenario) and scenario.host("modem").declared is False
