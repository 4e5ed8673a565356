"""The host-program contract (``hosts._common``) and the example ``ping`` program that follows it.

Config checking, argument errors (exit 2 with a message), events that stay whole lines when
many processes append at once, READY, and a clean exit 0 within 2 s of SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import require_tool

from cranewatch.testbed.hosts._common import Events, config, parse_args

DEFAULTS = {"target": "", "count": 5, "interval_s": 0.2, "verbose": False, "extra": None}


def test_config_merges_defaults_and_accepts_ints_for_floats() -> None:
    merged = config({"count": 2, "interval_s": 1, "extra": [1]}, DEFAULTS)
    assert merged == {"target": "", "count": 2, "interval_s": 1, "verbose": False, "extra": [1]}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"colour": "red"}, "unknown config key(s) colour; allowed: count, extra"),
        ({"count": "5"}, "config key 'count' must be int, got str"),
        ({"count": True}, "config key 'count' must be int, got bool"),
        ({"verbose": 1}, "config key 'verbose' must be bool, got int"),
    ],
)
def test_bad_config_exits_2_with_a_message(
    given: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config(given, DEFAULTS)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [("{nope", "not valid JSON"), ("[1]", "JSON object")])
def test_bad_config_json_exits_2(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--host", "h", "--events", "e", "--config", text])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_parse_args_reads_the_three_options() -> None:
    args = parse_args(["--host", "plc", "--events", "/x/e.jsonl", "--config", '{"a": 1}'])
    assert (args.host, args.events, args.config) == ("plc", Path("/x/e.jsonl"), {"a": 1})


def test_events_from_many_processes_stay_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = (
        "import sys; from cranewatch.testbed.hosts._common import Events\n"
        "e = Events(sys.argv[1], sys.argv[2], 'w')\n"
        "for i in range(400): e.emit('tick', i=i, pad='x' * 3000)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(path), f"h{k}"]) for k in range(4)]
    assert [p.wait(30) for p in procs] == [0] * 4
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 1600
    for k in range(4):
        mine = [e["i"] for e in lines if e["host"] == f"h{k}"]
        assert mine == list(range(400))
    assert {e["program"] for e in lines} == {"w"} and all(e["ts"] > 1e9 for e in lines)


def test_events_close_is_safe(tmp_path: Path) -> None:
    with Events(tmp_path / "e", "h", "p") as events:
        events.emit("one", n=1)
    events.emit("after-close")  # ignored, not an error: a late callback during shutdown
    assert [json.loads(x)["event"] for x in (tmp_path / "e").read_text().splitlines()] == ["one"]


def test_ping_program_is_ready_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    require_tool("ping")
    events = tmp_path / "events.jsonl"
    cfg = json.dumps({"target": "127.0.0.1", "count": 1000, "interval_s": 0.05})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cranewatch.testbed.hosts.ping",
            "--host",
            "lo",
            "--events",
            str(events),
            "--config",
            cfg,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "READY\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert proc.wait(5) == 0
    assert time.monotonic() - started < 2.0
    pings = [json.loads(line) for line in events.read_text().splitlines()]
    assert 2 <= len(pings) < 1000
    assert all(p["event"] == "ping" and p["ok"] and p["host"] == "lo" for p in pings)
