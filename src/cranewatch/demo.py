"""``make demo``: the main job on the bundled example data, end to end, in a few seconds.

Until the testbed's example captures and the example port land (see the issues on the testbed
and the fleet registry), the demo generates a deterministic synthetic crane-network capture, with
a hidden cellular modem in it, ingests it into a workspace and writes a short summary: what was
captured, which devices talk (with their IEEE vendor), the largest conversations, and the devices
whose vendor makes cellular routers, what devices announce about themselves, the remote-access
and tunnel sessions, the names looked up, and the roles devices play. It prints where the
summary and the workspace are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_paths
from cranewatch.store.query import connect
from cranewatch.store.workspace import Workspace, default_workspace
from cranewatch.testbed.synth import write_synthetic_capture

DEMO_PACKETS = 200_000
DEMO_SEED = 1

SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "Captures",
        "SELECT regexp_extract(path, '[^/]+$') AS file, packets, bytes, first_ts, last_ts, "
        "skipped FROM captures ORDER BY first_ts",
    ),
    (
        "Devices by vendor (IEEE registry)",
        "SELECT vendor, count(DISTINCT mac) AS macs, count(DISTINCT ip) AS ips, "
        "sum(packets_sent) AS packets_sent FROM assets "
        "WHERE mac IS NOT NULL AND NOT group_address GROUP BY vendor ORDER BY packets_sent DESC",
    ),
    (
        "Largest conversations",
        "SELECT proto, vlan, src_ip, src_port, dst_ip, dst_port, packets, bytes, end_reason "
        "FROM flows WHERE proto IS NOT NULL ORDER BY bytes DESC LIMIT 10",
    ),
    (
        "Protocols recognised (coverage)",
        "SELECT coalesce(protocol, '(not recognised)') AS protocol, method, count(*) AS flows, "
        "sum(pdus) AS pdus, sum(gap_bytes) AS gap_bytes, sum(undecoded_bytes) AS undecoded_bytes, "
        "bool_or(midstream) AS midstream FROM coverage GROUP BY ALL ORDER BY pdus DESC",
    ),
    (
        "Writes and control commands (operations)",
        "SELECT protocol, operation, src_ip, dst_ip, sum(pdus) AS pdus, bool_or(is_control) "
        "AS control, any_value(target) AS target, min(example_frames[1]) AS first_frame "
        "FROM operations WHERE direction = 'request' AND (is_write OR is_control) "
        "GROUP BY ALL ORDER BY control DESC, pdus DESC LIMIT 10",
    ),
    (
        "Who talks to devices of cellular-router vendors",
        "SELECT m.vendor, m.mac, f.src_ip, f.dst_ip, f.dst_port, f.proto, f.packets, f.bytes "
        "FROM flows f JOIN (SELECT DISTINCT mac, vendor FROM assets WHERE regexp_matches("
        "lower(vendor), 'teltonika|sierra wireless|cradlepoint|robustel|inhand|digi')) m "
        "ON m.mac IN (f.src_mac, f.dst_mac) ORDER BY f.packets DESC LIMIT 10",
    ),
    (
        "What devices announce about themselves (identities from DHCP, LLDP, syslog, ...)",
        "SELECT i.ip, i.mac, i.attribute, i.value, i.protocol, i.source FROM identities i "
        "WHERE i.attribute IN ('hostname', 'vendor_class', 'system_description', 'platform', "
        "'software', 'os') ORDER BY i.ip NULLS LAST, i.attribute LIMIT 20",
    ),
    (
        "Remote-access and tunnel sessions",
        "SELECT protocol, kind, client_ip, server_ip, server_port, round(duration_s, 1) "
        "AS duration_s, contacts, keepalive_interval_s, encrypted, industrial_pdus, "
        "industrial_writes FROM sessions ORDER BY start_ts LIMIT 10",
    ),
    (
        "Names looked up and connected to",
        "SELECT ip, name, action, protocol, sum(count) AS count FROM names "
        "WHERE action IN ('asked', 'connected') GROUP BY ALL ORDER BY count DESC LIMIT 10",
    ),
    (
        "Roles on the network",
        "SELECT role, mac, ip, basis FROM roles "
        "WHERE role NOT IN ('switch', 'router') ORDER BY role, ip LIMIT 15",
    ),
)


def _markdown(title: str, columns: list[str], rows: list[tuple[object, ...]]) -> str:
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def run(workspace: Path, console: Console) -> Path:
    """Generate, ingest and summarise; returns the path of the summary file."""
    ws = Workspace.open(workspace, create=True)
    capture_dir = ws.root / "demo-captures"
    capture_dir.mkdir(exist_ok=True)
    capture = capture_dir / f"crane-lan-synthetic-{DEMO_PACKETS}-s{DEMO_SEED}.pcap"
    if not capture.exists():
        console.print(f"generating {DEMO_PACKETS:,} frames of synthetic crane-network traffic …")
        partial = capture.with_suffix(".partial")
        write_synthetic_capture(partial, DEMO_PACKETS, DEMO_SEED)
        partial.rename(capture)
    console.print(f"ingesting {capture.name} …")
    report = ingest_paths(ws, [capture], EngineOptions())
    for outcome in report.outcomes:
        if outcome.error:
            raise SystemExit(f"demo ingest failed: {outcome.error}")
    con = connect(ws)
    parts = ["# cranewatch demo summary", "",
             f"Workspace: `{ws.root}`. Explore it with `cranewatch -w {ws.root} query \"SQL\"`.", ""]  # fmt: skip
    for title, sql in SECTIONS:
        relation = con.sql(sql)
        columns, rows = relation.columns, relation.fetchall()
        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        parts.append(_markdown(title, columns, rows))
    con.close()
    summary = ws.root / "demo-summary.md"
    summary.write_text("\n".join(parts))
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cranewatch.demo",
        description="Run the cranewatch demo: synthetic crane capture -> ingest -> summary.",
        epilog="Example: python -m cranewatch.demo -w /tmp/demo-case",
    )
    parser.add_argument("-w", "--workspace", type=Path, default=default_workspace())
    args = parser.parse_args(argv)
    console = Console()
    try:
        summary = run(args.workspace, console)
    except Exception as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        sys.exit(1)
    console.print(f"\n[bold]Summary written to[/] {summary}")
    console.print(f"Workspace: {summary.parent}  (try: cranewatch -w {summary.parent} captures)")


if __name__ == "__main__":
    main()
