"""``make demo``: the main job on the bundled example data, end to end, in a few seconds.

The demo ingests the bundled example captures (``examples/testbed``: one testbed run of every
scenario, real protocol stacks on crane STS03 of the example port) and a deterministic
synthetic capture of terminal T1's six ship-to-shore cranes (with a hidden cellular modem on
STS03), imports the example port's declared baseline and inspection evidence into the
workspace's registry, runs the analysis (links the devices seen to the declared components and
evaluates the rule packs), and writes a short
summary: what was captured, which devices talk (with their IEEE vendor), the largest
conversations, the devices whose vendor makes cellular routers, what devices announce about
themselves, the remote-access and tunnel sessions, the names looked up, the roles devices play,
declared against seen per crane, the devices no contract declares, what the walk-down found,
and the findings of the rules (what is undeclared, which capability was used, with evidence).
It then simulates what the port loses if every crane with an undeclared modem stopped at once
(``examples/scenario-undeclared-modems.yaml``, ``DEMO_REPLICATIONS`` replications; the result
goes to ``<workspace>/simulations/``) and writes the report of the analysis into ``<workspace>/reports/``: the internal version
(TLP:RED) as HTML and PDF and the public version (TLP:CLEAR) as HTML. The terminal shows one
short table of what was found (``OVERVIEW``) and where the summary, the report and the workspace
are; the long tables are in ``demo-summary.md`` and the report.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_paths
from cranewatch.store.query import connect
from cranewatch.store.registry import Registry, registry_url
from cranewatch.store.workspace import Workspace, default_workspace
from cranewatch.testbed.synth import write_synthetic_capture

DEMO_PACKETS = 200_000
DEMO_SEED = 1
#: the bundled example port, beside ``src/`` in a checkout (a wheel has no examples)
EXAMPLE_PORT = Path(__file__).resolve().parents[2] / "examples" / "port"
EXAMPLE_CAPTURES = Path(__file__).resolve().parents[2] / "examples" / "testbed"
DEMO_SITE = "T1"  # the terminal the synthetic capture shows

SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "Captures",
        "SELECT regexp_extract(path, '[^/]+/[^/]+$') AS file, packets, bytes, first_ts, last_ts, "
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


#: the short table printed on the terminal: (what, SQL giving one value)
OVERVIEW: tuple[tuple[str, str], ...] = (
    ("captures ingested", "SELECT count(*) FROM captures"),
    ("packets", "SELECT sum(packets) FROM captures"),
    ("devices seen (MAC addresses)",
     "SELECT count(DISTINCT mac) FROM assets WHERE mac IS NOT NULL AND NOT group_address"),
    ("remote-access and tunnel sessions", "SELECT count(*) FROM sessions"),
)  # fmt: skip
FLEET_OVERVIEW: tuple[tuple[str, str], ...] = (
    ("cranes in the port model", "SELECT count(*) FROM cranes"),
    ("devices no contract declares",
     "SELECT count(DISTINCT coalesce(mac, ip)) FROM asset_links WHERE component IS NULL"),
    ("findings: critical / high / medium",
     "SELECT concat_ws(' / ', count(*) FILTER (severity = 'critical'), "
     "count(*) FILTER (severity = 'high'), count(*) FILTER (severity = 'medium')) "
     "FROM findings WHERE present"),
    ("cranes with a finding of high severity or above",
     "SELECT count(DISTINCT c) FROM (SELECT unnest(cranes) AS c FROM findings "
     "WHERE present AND severity IN ('critical', 'high'))"),
    ("cranes where the captures show the capability used",
     "SELECT count(DISTINCT c) FROM (SELECT unnest(cranes) AS c FROM findings "
     "WHERE present AND (state = 'activity-observed' OR proof_of_use = 'used'))"),
    ("control commands or writes from a host that is not a declared master",
     "SELECT count(*) FROM findings WHERE present AND rule IN ('CW-OPS-001', 'CW-OPS-002')"),
)  # fmt: skip


FLEET_SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "Findings of medium severity or above (cranewatch findings list)",
        "SELECT severity, rule, state, coalesce(proof_of_use, '') AS proof_of_use, "
        "array_to_string(cranes, ', ') AS cranes, coalesce(component, mac, ip, walkdown) AS subject, "
        "summary FROM findings WHERE present AND severity IN ('critical', 'high', 'medium') "
        "ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, rule, key",
    ),
    (
        "Declared against seen, per crane of terminal T1 (fleet linking)",
        "SELECT c.id AS crane, c.manufacturer, c.model, count(DISTINCT k.id) AS declared, "
        "count(DISTINCT l.component) AS declared_and_seen, "
        "(SELECT count(DISTINCT coalesce(u.mac, u.ip)) FROM asset_links u WHERE u.component IS NULL "
        "AND u.zone LIKE c.id || '/%') AS undeclared_devices "
        "FROM cranes c JOIN components k ON k.crane = c.id "
        "LEFT JOIN asset_links l ON l.component = k.id "
        "WHERE c.terminal = 'T1' AND c.type = 'STS' GROUP BY ALL ORDER BY crane",
    ),
    (
        "Devices on the crane networks that no contract declares",
        "SELECT l.zone, l.vlan, l.mac, l.ip, any_value(a.vendor) AS vendor, "
        "sum(a.packets_sent) AS packets_sent, l.detail FROM asset_links l "
        "LEFT JOIN assets a ON a.mac = l.mac AND a.ip IS NOT DISTINCT FROM l.ip "
        "WHERE l.component IS NULL GROUP BY ALL ORDER BY l.zone, l.ip NULLS FIRST",
    ),
    (
        "What the walk-down found (inspection evidence)",
        "SELECT id, crane, date, summary, coalesce(component, 'not declared') AS declared_as, "
        "mac, imei, iccid FROM evidence WHERE kind = 'walkdown' ORDER BY id",
    ),
)


def _markdown(title: str, columns: list[str], rows: list[tuple[object, ...]]) -> str:
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _fleet(ws: Workspace, console: Console) -> dict[str, pa.Table] | None:
    """Import the example port and its evidence, link, and return the registry's tables."""
    from cranewatch.findings.engine import analyze
    from cranewatch.fleet.evidence import read_evidence
    from cranewatch.fleet.loader import load_port

    if not (EXAMPLE_PORT / "port.yaml").exists():
        console.print(f"no example port at {EXAMPLE_PORT} (not a checkout): fleet part skipped")
        return None
    console.print(f"importing the example port and its inspection evidence from {EXAMPLE_PORT} …")
    with Registry.open(registry_url(ws.root, None)) as registry:
        registry.save_port(load_port(EXAMPLE_PORT), source=str(EXAMPLE_PORT), actor="demo")
        evidence = read_evidence(EXAMPLE_PORT / "evidence", None, ws.root / "evidence")
        registry.save_evidence(evidence, source=str(EXAMPLE_PORT / "evidence"), actor="demo")
        console.print(
            f"linking and analysing (rules over the captures and the port, {DEMO_SITE}) …"
        )
        result = analyze(ws, registry, site=DEMO_SITE, analyst="demo")
        for problem in result.problems:
            console.print(f"[yellow]analysis problem:[/] {problem}")
        return registry.tables()


#: the resilience scenario the demo simulates, and how many replications (enough for intervals)
DEMO_SCENARIO = EXAMPLE_PORT.parent / "scenario-undeclared-modems.yaml"
DEMO_REPLICATIONS = 40


def simulate_scenario(ws: Workspace, console: Console) -> None:
    """Simulate the demo scenario over the analysed registry (its selection reads findings)."""
    from cranewatch.resilience.results import result_folder
    from cranewatch.resilience.runner import run_study
    from cranewatch.resilience.scenario import load_scenario

    scenario = load_scenario(DEMO_SCENARIO)
    name = scenario.model.name
    console.print(f"simulating scenario {name!r} ({DEMO_REPLICATIONS} replications) …")
    with Registry.open(registry_url(ws.root, None)) as registry:
        port, findings = registry.load_port(), registry.load_findings()
    if port is None:
        return
    workers = min(2, os.cpu_count() or 1)
    run_study(scenario, port, findings, result_folder(ws.root, name),
              replications=DEMO_REPLICATIONS, seed=DEMO_SEED, workers=workers)  # fmt: skip


#: the reports the demo writes: (audience, formats)
DEMO_REPORTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("internal", ("html", "pdf")),
    ("public", ("html",)),
)


def write_reports(ws: Workspace, console: Console) -> list[Path]:
    """The demo's reports in ``<workspace>/reports/``, built from the analysis just run."""
    from cranewatch.report.audience import audience_named
    from cranewatch.report.content import build_content
    from cranewatch.report.output import prepare_folder, write_audience
    from cranewatch.report.sources import read_sources

    console.print("writing the report (internal HTML and PDF, public HTML) …")
    folder = prepare_folder(ws.root / "reports")
    with Registry.open(registry_url(ws.root, None)) as registry:
        sources = read_sources(ws, registry)
    content = build_content(sources)
    written: list[Path] = []
    from cranewatch.report.pdf import pdf_unavailable

    no_pdf = pdf_unavailable()
    if no_pdf is not None:  # the demo still shows the HTML report
        console.print(f"[yellow]no PDF:[/] {no_pdf}")
    for name, formats in DEMO_REPORTS:
        wanted = tuple(f for f in formats if f != "pdf" or no_pdf is None)
        written += write_audience(sources, content, audience_named(name), wanted, folder)
    table = Table(title="Report", title_justify="left")
    for col in ("audience", "marking", "file"):
        table.add_column(col)
    for path in written:
        audience = path.stem.removeprefix("report-").split(".")[0]
        table.add_row(audience, audience_named(audience).tlp.value, str(path))
    console.print(table)
    return written


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
    captures = [capture, *sorted(EXAMPLE_CAPTURES.glob("*/capture.pcap"))]
    console.print(f"ingesting {len(captures)} captures …")
    report = ingest_paths(ws, captures, EngineOptions())
    for outcome in report.outcomes:
        if outcome.error:
            raise SystemExit(f"demo ingest failed: {outcome.error}")
    sections, registry_tables = SECTIONS, _fleet(ws, console)
    if registry_tables is not None:
        sections += FLEET_SECTIONS
    con = connect(ws, registry_tables)
    overview = Table(title="What the demo found", title_justify="left")
    overview.add_column("")
    overview.add_column("", justify="right")
    for what, sql in OVERVIEW + (FLEET_OVERVIEW if registry_tables is not None else ()):
        value = con.sql(sql).fetchall()[0][0]  # one row of one value
        shown = f"{value:,}" if isinstance(value, int) else "" if value is None else str(value)
        overview.add_row(what, shown)
    parts = ["# cranewatch demo summary", "",
             f"Workspace: `{ws.root}`. Explore it with `cranewatch -w {ws.root} query \"SQL\"`.", ""]  # fmt: skip
    for title, sql in sections:
        relation = con.sql(sql)
        columns, rows = relation.columns, relation.fetchall()
        parts.append(_markdown(title, columns, rows))
    con.close()
    summary = ws.root / "demo-summary.md"
    summary.write_text("\n".join(parts))
    if registry_tables is not None:
        simulate_scenario(ws, console)
        write_reports(ws, console)
    console.print(overview)
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
    report = summary.parent / "reports" / "report-internal.html"
    if report.exists():
        pdf = "PDF beside it; " if report.with_suffix(".pdf").exists() else ""
        console.print(f"[bold]Report:[/] {report}  ({pdf}public version: report-public.html)")
    console.print(f"Workspace: {summary.parent}  (try: cranewatch -w {summary.parent} captures)")


if __name__ == "__main__":
    main()
