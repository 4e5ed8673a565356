"""Ingest never imports pandas.

pyarrow imports pandas, when it is installed, on conversions that infer types from Python
objects (``pa.array(list)``, a compute function given a Python scalar, ``to_pylist`` of a
timestamp column). That costs 0.15 s and 30 MB per run, a fifth of the engine's budget for a
million packets, and it happens only on machines that have pandas (the benchmark's NFStream
pulls it in), so a clean test environment would never notice. A child process records every
attempt to import pandas, installed or not, while it ingests captures that fill every table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_capture

CHILD = r"""
import json, sys
attempts = []
class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            import traceback
            attempts.append("".join(traceback.format_stack(limit=8)))
        return None
sys.meta_path.insert(0, Recorder())
from pathlib import Path
from cranewatch.ingest import ingest_paths
from cranewatch.store.workspace import Workspace
ws = Workspace.open(Path(sys.argv[1]), create=True)
report = ingest_paths(ws, [Path(p) for p in sys.argv[2:]])
print(json.dumps({"statuses": [o.status for o in report.outcomes], "attempts": attempts}))
"""

CAPTURES = (
    "dhcp_all_message_types.pcap",  # identities, roles
    "dns_recursive_queries_edns_ecs.pcap",  # names, resolved addresses
    "ssh_multiple_sessions.pcap",  # sessions
    "modbus_tcp_icsnpp_example.pcap",  # operations (compiled tier)
    "gtpv1_cellular_gn_http_ip_fragmented.pcap",  # a tunnel carrier and inner flows
)


def test_ingest_never_tries_to_import_pandas(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tmp_path / "ws"),
            *(str(shared_capture(c)) for c in CAPTURES),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["statuses"] == ["ingested"] * len(CAPTURES)
    assert result["attempts"] == [], result["attempts"][0]
