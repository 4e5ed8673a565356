"""Shared plumbing of the testbed host programs: arguments, READY, events and stopping.

Every host program (``cranewatch.testbed.hosts.<program>``) is started by the runner as
``python -m cranewatch.testbed.hosts.<program> --host NAME --events PATH --config JSON`` inside
its host's namespace. This module keeps the contract in one place so each program is only its
protocol logic:

* ``parse_args(argv)`` reads the three options (the config must be a JSON object);
* ``config(args.config, defaults)`` merges a program's documented keys with their defaults and
  exits 2 with a message on stderr for an unknown key (``ConfigError`` → ``fail``);
  ``setup(argv, defaults)`` does both, and ``require(cfg, key, what)`` exits 2 when a required
  key is empty;
* ``ready()`` prints ``READY`` on stdout, flushed: the runner waits for that line (up to 15 s);
* ``Events(path, host, program).emit(event, **detail)`` appends one JSON line per event with
  one ``os.write`` on an ``O_APPEND`` descriptor, so lines of concurrent programs never mix;
  truth.json builds the planted items' time windows from these lines;
* ``StopFlag`` (threads / blocking code) and ``async_stop_event()`` (asyncio) turn SIGTERM and
  SIGINT into a flag, so a program stops cleanly (exit 0) within 2 s of the runner's SIGTERM;
* ``run_async(args, program, run)`` is the end of an asyncio program's ``main``: it opens the
  events file and runs ``run(events)`` in a new event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

EXIT_CONFIG = 2  # exit status of a program given a bad command line or config


@dataclass(frozen=True)
class Args:
    """The command line of a host program."""

    host: str
    events: Path
    config: dict[str, Any]


class ConfigError(ValueError):
    """A program's config has an unknown key or a value of the wrong kind."""


def fail(message: str) -> NoReturn:
    """Print ``message`` on stderr and exit with status 2 (bad command line or config)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)


def parse_args(argv: Sequence[str] | None = None) -> Args:
    """Parse ``--host NAME --events PATH --config JSON``; exit 2 with a message when wrong."""
    parser = argparse.ArgumentParser(description="a cranewatch testbed host program")
    parser.add_argument("--host", required=True, help="name of the host this program runs on")
    parser.add_argument("--events", required=True, help="events file (JSON lines, appended)")
    parser.add_argument("--config", default="{}", help="the program's config as a JSON object")
    ns = parser.parse_args(argv)
    try:
        cfg = json.loads(ns.config)
    except json.JSONDecodeError as err:
        fail(f"--config is not valid JSON: {err}")
    if not isinstance(cfg, dict):
        fail("--config must be a JSON object")
    return Args(host=str(ns.host), events=Path(ns.events), config=cfg)


def config(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` overridden by ``given``; an unknown key exits 2 naming the allowed keys.

    A value whose default is not None must have the default's type (an int is accepted where a
    float is expected); a wrong type also exits 2.
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        fail(f"unknown config key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(defaults))}")
    merged = dict(defaults)
    for key, value in given.items():
        default = defaults[key]
        if default is not None and not _same_kind(value, default):
            fail(
                f"config key {key!r} must be {type(default).__name__}, "
                f"got {type(value).__name__} {value!r}"
            )
        merged[key] = value
    return merged


def setup(argv: Sequence[str] | None, defaults: Mapping[str, Any]) -> tuple[Args, dict[str, Any]]:
    """``parse_args(argv)`` and its config merged with ``defaults`` (``config``)."""
    args = parse_args(argv)
    return args, config(args.config, defaults)


def require(cfg: Mapping[str, Any], key: str, what: str) -> None:
    """Exit 2 when ``cfg[key]`` is empty: "config key 'target' (``what``) is required"."""
    if not cfg[key]:
        fail(f"config key {key!r} ({what}) is required")


def _same_kind(value: object, default: object) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def ready() -> None:
    """Tell the runner the program is listening/started: ``READY`` on stdout, flushed."""
    sys.stdout.write("READY\n")
    sys.stdout.flush()


class Events:
    """Appends the program's events to the shared events file, one atomic write per line."""

    def __init__(self, path: str | os.PathLike[str], host: str, program: str) -> None:
        self.host = host
        self.program = program
        self._fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def emit(self, event: str, **detail: Any) -> None:
        """Append ``{"ts", "host", "program", "event", ...detail}`` as one line."""
        record: dict[str, Any] = {
            "ts": time.time(),
            "host": self.host,
            "program": self.program,
            "event": event,
        }
        record.update(detail)
        line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Events:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StopFlag:
    """Set by SIGTERM or SIGINT; ``wait(seconds)`` sleeps but wakes at once when stopped.

    Create it in the main thread (signal handlers can only be installed there).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._event.set()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the program should stop."""
        return self._event.wait(max(0.0, seconds))


def async_stop_event() -> asyncio.Event:
    """An ``asyncio.Event`` set by SIGTERM or SIGINT; call it inside the running loop."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds`` in asyncio; True when ``stop`` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True


def run_async(
    args: Args, program: str, run: Callable[[Events], Coroutine[Any, Any, int | None]]
) -> int:
    """Open the events file and run ``run(events)`` with ``asyncio.run``; its status (None: 0)."""
    with Events(args.events, args.host, program) as events:
        return asyncio.run(run(events)) or 0


def deadline(duration_s: float) -> float:
    """The ``time.monotonic()`` value at which a loop bounded by ``duration_s`` must end."""
    return time.monotonic() + max(0.0, duration_s)
