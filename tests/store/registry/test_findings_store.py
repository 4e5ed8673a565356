"""The findings store on SQLite and PostgreSQL: round trips, the merge, verdicts, baselines,
the exported tables, and the upgrade of a registry written at revision 0001."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect
from tests.store.registry.samples import (
    assert_every_field_set,
    links,
    rich_evidence,
    rich_port,
    sha,
)

from cranewatch.errors import RegistryError
from cranewatch.findings.model import (
    EvidenceRef,
    Finding,
    ProofOfUse,
    Severity,
    State,
    Subject,
    Verdict,
    finding_key,
)
from cranewatch.store.registry import Registry
from cranewatch.store.registry.baseline import replace_port
from cranewatch.store.registry.findings_store import RunInfo
from cranewatch.store.registry.migrate import alembic_config, current_revision, head_revision

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def finding(n: int, *, site: str = "T1", rule: str = "CW-TEST-001", **changes: object) -> Finding:
    """A finding with every field set; ``n`` is its subject."""
    base = Finding(
        key=finding_key(rule, site, n),
        rule=rule,
        rule_version=1,
        pack="test",
        title="Undeclared device",
        severity=Severity.HIGH,
        confidence=0.9,
        techniques=["T0883", "T0822"],
        attack_version="ATT&CK for ICS v15",
        state=State.CAPABILITY,
        subject=Subject(
            site=site,
            zone="STS01/crane-lan",
            crane="STS01",
            component="STS01/x",
            mac=f"00:1e:42:00:00:{n:02x}",
            ip=f"10.20.1.{n}",
            peer="203.0.113.10",
            walkdown=f"wd-{n}",
        ),
        cranes=["STS01", "STS02"],
        summary=f"device {n} nobody declared",
        details={"vendor": "Teltonika", "nested": {"ports": [443, 1194]}},
        evidence=[
            EvidenceRef(
                capture_sha256=sha(n),
                frames=[1, 5, 9],
                first_ts=T0,
                last_ts=T0 + dt.timedelta(seconds=30),
                flow_ids=[3],
                file_sha256=sha(99),
                note="first frames",
            ),
        ],
        first_seen=T0,
        last_seen=T0 + dt.timedelta(minutes=5),
        proof_of_use=ProofOfUse.NOT_OBSERVED,
        proof_detail="not observed in the captured period",
    )
    return base.model_copy(update=changes)


def run_info(n: int, rules: tuple[str, ...] = ("CW-TEST-001",), site: str | None = "T1") -> RunInfo:
    return RunInfo(
        id=f"run-{n}",
        at=T0 + dt.timedelta(hours=n),
        actor="ana",
        version="test",
        site=site,
        packs=[{"pack": "test", "version": "1"}],
        rules=list(rules),
        captures=[sha(1)],
        problems=[f"problem {n}"],
    )


def test_the_sample_finding_sets_every_field() -> None:
    assert_every_field_set(finding(1))


def test_findings_round_trip(registry: Registry) -> None:
    findings = [
        finding(1),
        finding(
            2, severity=Severity.CRITICAL, state=State.ACTIVITY, proof_of_use=None, proof_detail=""
        ),
    ]
    counts = registry.save_analysis(run_info(1), findings)
    assert (counts["new"], counts["findings"], counts["by_severity"]) == (
        2,
        2,
        {"high": 1, "critical": 1},
    )
    stored = registry.load_findings()
    assert [s.finding for s in stored] == findings
    assert all(s.present and s.first_run == s.last_run == "run-1" for s in stored)
    assert registry.finding(findings[0].key) == stored[0]
    assert registry.finding("CW-TEST-001:none") is None
    [run] = registry.analysis_runs()
    assert run == dataclasses.replace(run_info(1), counts=counts)


def test_a_finding_cannot_be_saved_twice_in_one_run(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="one finding twice"):
        registry.save_analysis(run_info(1), [finding(1), finding(1)])
    assert registry.load_findings() == [] and registry.analysis_runs() == []


def test_the_merge_widens_seen_times_and_records_what_changed(registry: Registry) -> None:
    registry.save_analysis(run_info(1), [finding(1)])
    later = finding(
        1,
        severity=Severity.CRITICAL,
        first_seen=T0 + dt.timedelta(days=1),
        last_seen=T0 + dt.timedelta(days=2),
        proof_of_use=ProofOfUse.USED,
    )
    counts = registry.save_analysis(run_info(2), [later])
    assert (counts["new"], counts["updated"], counts["state_changed"]) == (0, 1, 0)
    [stored] = registry.load_findings()
    assert stored.finding.first_seen == T0 and stored.finding.last_seen == later.last_seen
    assert stored.finding.severity is Severity.CRITICAL
    assert (stored.first_run, stored.last_run) == ("run-1", "run-2")
    history = registry.finding_history(later.key)
    assert [h["kind"] for h in history] == ["detected", "updated"]
    assert history[1]["from_value"] == "severity=high; proof_of_use=not-observed"
    assert history[1]["to_value"] == "severity=critical; proof_of_use=used"
    assert (history[1]["actor"], history[1]["run"], history[1]["at"]) == (
        "ana",
        "run-2",
        T0 + dt.timedelta(hours=2),
    )


def test_only_rules_that_ran_in_the_site_analysed_lose_their_findings(registry: Registry) -> None:
    t1, t2 = finding(1, site="T1"), finding(2, site="T2")
    other_rule = finding(3, rule="CW-TEST-002")
    registry.save_analysis(
        run_info(1, ("CW-TEST-001", "CW-TEST-002"), site=None), [t1, t2, other_rule]
    )
    counts = registry.save_analysis(run_info(2, ("CW-TEST-001",), site="T2"), [])
    assert counts["no_longer_seen"] == 1
    assert {s.finding.key for s in registry.load_findings()} == {t1.key, other_rule.key}
    counts = registry.save_analysis(run_info(3, ("CW-TEST-001", "CW-TEST-002"), site=None), [t2])
    assert (counts["no_longer_seen"], counts["seen_again"]) == (2, 1)
    everything = registry.load_findings(present_only=False)
    assert {s.finding.key: s.present for s in everything} == {
        t1.key: False,
        t2.key: True,
        other_rule.key: False,
    }


def test_verdicts_keep_who_when_why_and_survive_runs(registry: Registry) -> None:
    f = finding(1)
    registry.save_analysis(run_info(1), [f])
    first = registry.set_verdict(f.key, Verdict.CONFIRMED, analyst="ana", reason="SIM active")
    assert first.verdict is Verdict.CONFIRMED and first.verdict_reference is None
    assert first.verdict_at is not None and first.verdict_at.tzinfo is not None
    registry.set_verdict(
        f.key,
        Verdict.EXPLAINED,
        analyst="bob",
        reason="vendor telemetry",
        reference="contract amendment 7",
    )
    registry.save_analysis(run_info(2), [f.model_copy(update={"state": State.ACTIVITY})])
    registry.save_analysis(run_info(3), [])
    stored = registry.finding(f.key)
    assert stored is not None and not stored.present
    assert (stored.verdict, stored.verdict_by, stored.verdict_reason, stored.verdict_reference) == (
        Verdict.EXPLAINED,
        "bob",
        "vendor telemetry",
        "contract amendment 7",
    )
    history = registry.finding_history(f.key)
    assert [(h["kind"], h["from_value"], h["to_value"]) for h in history] == [
        ("detected", None, "capability"),
        ("verdict", None, "confirmed-use"),
        ("verdict", "confirmed-use", "explained"),
        ("state-changed", "capability", "activity-observed"),
        ("no-longer-seen", "run-2", "run-3"),
    ]
    assert (history[2]["actor"], history[2]["reason"], history[2]["reference"]) == (
        "bob",
        "vendor telemetry",
        "contract amendment 7",
    )


@pytest.mark.parametrize(
    ("verdict", "analyst", "reason", "reference", "message"),
    [
        (Verdict.MITIGATED, "ana", "", None, "needs a reason"),
        (Verdict.EXPLAINED, "ana", "vendor", "  ", "needs a reference"),
        (Verdict.FALSE_POSITIVE, " ", "test rig", None, "needs the analyst"),
    ],
)
def test_incomplete_verdicts_are_refused(
    registry: Registry,
    verdict: Verdict,
    analyst: str,
    reason: str,
    reference: str | None,
    message: str,
) -> None:
    f = finding(1)
    registry.save_analysis(run_info(1), [f])
    with pytest.raises(RegistryError, match=message):
        registry.set_verdict(f.key, verdict, analyst=analyst, reason=reason, reference=reference)
    stored = registry.finding(f.key)
    assert stored is not None and stored.verdict is None
    assert [h["kind"] for h in registry.finding_history(f.key)] == ["detected"]


def test_the_latest_approved_baseline_wins(registry: Registry) -> None:
    assert registry.approved_baseline() is None
    registry.approve_baseline(
        [("00:1e:42:00:00:01", "10.20.1.5")], [], analyst="ana", reason="first walk-down"
    )
    devices = [("28:63:36:00:00:20", "10.20.1.20"), (None, "10.20.1.60")]
    paths = [("10.20.1.60", "10.20.1.20", "tcp", 102)]
    registry.approve_baseline(devices, paths, analyst="bob", reason="all explained")
    approved = registry.approved_baseline()
    assert approved is not None and approved.analyst == "bob"
    assert approved.devices == set(devices) and approved.paths == set(paths)
    assert approved.approved_at.tzinfo is not None
    with pytest.raises(RegistryError, match="a reason"):
        registry.approve_baseline(devices, paths, analyst="bob", reason=" ")
    actions = [h["action"] for h in registry.history()]
    assert actions == ["approve_baseline", "approve_baseline"]


def test_findings_are_queryable(registry: Registry) -> None:
    f = finding(1)
    registry.save_analysis(run_info(1), [f])
    registry.set_verdict(f.key, Verdict.MITIGATED, analyst="ana", reason="unplugged")
    tables = registry.tables()
    con = duckdb.connect()
    for name in ("findings", "finding_history", "analysis_runs"):
        con.register(name, tables[name])
    row = con.execute(
        "SELECT key, verdict, present, cranes, json_extract_string(details, '$.vendor') "
        "FROM findings WHERE list_contains(techniques, 'T0883')"
    ).fetchall()
    assert row == [(f.key, "mitigated", True, ["STS01", "STS02"], "Teltonika")]
    kinds = con.execute('SELECT kind FROM finding_history ORDER BY "at", kind').fetchall()
    assert kinds == [("detected",), ("verdict",)]
    assert con.execute("SELECT id, rules FROM analysis_runs").fetchall() == [
        ("run-1", ["CW-TEST-001"])
    ]
    assert [h["action"] for h in registry.history()] == ["save_analysis", "set_verdict"]


def test_a_registry_written_at_revision_0001_is_upgraded_with_its_data(registry_url: str) -> None:
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    with engine.begin() as conn:
        assert current_revision(conn) == "0001"
        replace_port(conn, rich_port(), "test")  # written by the 0001 schema
    engine.dispose()
    with Registry.open(registry_url) as registry:
        assert registry.load_port() == rich_port()
        assert registry.load_findings() == []
        registry.save_analysis(run_info(1), [finding(1)])
        assert len(registry.load_findings()) == 1
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision() == "0002"
    engine.dispose()


def test_downgrading_to_0001_drops_only_the_findings_tables(registry_url: str) -> None:
    with Registry.open(registry_url) as registry:
        registry.save_port(rich_port(), source="v1", actor="tester")
        registry.save_evidence(rich_evidence(), source="walkdown.yaml", actor="inspector")
        registry.save_links(links("T1"), site="T1")
        registry.save_analysis(run_info(1), [finding(1)])
    engine = create_engine(registry_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    with engine.connect() as conn:
        assert current_revision(conn) == "0001"
        assert not inspect(conn).has_table("findings")
    engine.dispose()
    with Registry.open(registry_url) as registry:  # upgraded again
        assert registry.load_port() == rich_port()
        assert registry.load_evidence() == rich_evidence()
        assert registry.load_links() == links("T1")
        assert registry.load_findings(present_only=False) == []


def test_old_findings_stay_readable_after_reopening(registry_url: str) -> None:
    with Registry.open(registry_url) as registry:
        registry.save_analysis(run_info(1), [finding(1)])
    with Registry.open(registry_url) as registry:
        assert [s.finding for s in registry.load_findings()] == [finding(1)]
