"""Example host program: ping a peer a bounded number of times and log each reply as an event.

The smallest program that follows the host-program contract (``_common``); the runner's tests
use it to show traffic crosses the testbed's bridges and routers and lands in the capture.

Config keys:
    ``target``      (str, required) IPv4 address to ping
    ``count``       (int, default 5) number of echo requests, one ``ping`` process each
    ``interval_s``  (float, default 0.2) pause between requests
    ``timeout_s``   (float, default 1.0) how long to wait for each reply
    ``duration_s``  (float, default 30.0) stop after this long even if ``count`` is not reached

Events: ``ping`` (``target``, ``seq``, ``ok``: whether a reply came back).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence

from cranewatch.testbed.hosts._common import Events, StopFlag, deadline, ready, require, setup

DEFAULTS: dict[str, object] = {
    "target": "",
    "count": 5,
    "interval_s": 0.2,
    "timeout_s": 1.0,
    "duration_s": 30.0,
}


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    require(cfg, "target", "the address to ping")
    stop = StopFlag()
    end = deadline(float(cfg["duration_s"]))
    wait_s = max(1, round(float(cfg["timeout_s"])))
    with Events(args.events, args.host, "ping") as events:
        ready()
        for seq in range(int(cfg["count"])):
            if stop.is_set or time.monotonic() >= end:
                break
            proc = subprocess.Popen(
                ["ping", "-n", "-q", "-c", "1", "-W", str(wait_s), str(cfg["target"])],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            while proc.poll() is None and not stop.wait(0.02):
                pass
            if proc.poll() is None:  # stopped while waiting for a reply
                proc.terminate()
                proc.wait()
                break
            events.emit("ping", target=cfg["target"], seq=seq, ok=proc.returncode == 0)
            if proc.returncode not in (0, 1):
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                print(f"ping {cfg['target']} failed: {err}", file=sys.stderr, flush=True)
            if stop.wait(float(cfg["interval_s"])):
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
