"""Regenerate the example testbed captures: every scenario, run once on STS03 of the example port.

Needs root (network namespaces). Each scenario runs for its own length and writes
``<scenario>/capture.pcap``, ``truth.json`` and ``events.jsonl`` here; ``run.log`` is not kept.
The captures differ from run to run (timing, random payloads, TLS keys); truth.json always
describes the capture beside it.

    sudo .venv/bin/python examples/testbed/generate.py            # all scenarios
    sudo .venv/bin/python examples/testbed/generate.py modem-idle # one
"""

from __future__ import annotations

import sys
from pathlib import Path

from cranewatch.testbed.runner import run_scenario
from cranewatch.testbed.scenarios import SCENARIOS, build, load_site

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    site = load_site()
    for name in names or list(SCENARIOS):
        out = HERE / name
        result = run_scenario(build(name, site), out)
        result.log.unlink(missing_ok=True)
        status = "; ".join(result.warnings) or "ok"
        print(f"{name}: {result.pcap.stat().st_size:,} bytes, {status}")
        if result.warnings:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
