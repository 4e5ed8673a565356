"""``EvidenceSet``, the evidence every check gathers, and the time window ``make_finding``
takes from it: frames and flow ids per capture (the first ``MAX_FRAMES``), windows in UTC,
notes given with what was added or, for a capture added without one, the note of ``refs``."""

from __future__ import annotations

import datetime as dt

from cranewatch.findings.checks._evidence import EvidenceSet
from cranewatch.findings.context import make_finding
from cranewatch.findings.model import MAX_FRAMES, Rule, RulePack, Severity, State, Subject

T = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)


def test_evidence_per_capture_capped_in_utc_with_notes() -> None:
    ev = EvidenceSet()
    ev.add("bb", range(MAX_FRAMES + 50, 0, -1), T, flow_ids=range(2 * MAX_FRAMES))
    ev.add("bb", [None, 0, 7], T + dt.timedelta(seconds=5), note="sessions")
    local = dt.timezone(dt.timedelta(hours=1))
    ev.add("aa", [3], dt.datetime(2026, 3, 3, 9, 0), T.astimezone(local) + dt.timedelta(hours=1))
    ev.add(None, [1], T)  # no capture: nothing
    ev.add_file("f" * 64, "photo")
    aa, bb, photo = ev.refs("flows")
    assert (aa.capture_sha256, aa.note, aa.first_ts, aa.last_ts) == (
        "aa",
        "flows",
        T,
        T + dt.timedelta(hours=1),
    )
    assert aa.last_ts is not None and aa.last_ts.tzinfo == dt.UTC
    assert bb.frames == list(range(1, MAX_FRAMES + 1)) and bb.note == "sessions"
    assert bb.flow_ids == list(range(MAX_FRAMES))
    assert (bb.first_ts, bb.last_ts) == (T, T + dt.timedelta(seconds=5))
    assert (photo.file_sha256, photo.note) == ("f" * 64, "photo")
    assert (ev.first_ts, ev.last_ts) == (T, T + dt.timedelta(hours=1))


def test_a_finding_is_seen_over_its_evidence_window_unless_told() -> None:
    rule = Rule(
        id="CW-T-001", version=1, title="t", description="d", severity=Severity.HIGH,
        rationale="r", check="c",
    )  # fmt: skip
    pack = RulePack(pack="p", version="1", attack_version="v15", rules=[rule])
    ev = EvidenceSet()
    ev.add("aa", [1], T, T + dt.timedelta(seconds=9))
    ev.add_note("walk-down record w1")
    subject = Subject(ip="10.0.0.1")
    seen = make_finding(
        rule, pack, identity=("x",), subject=subject, summary="s", state=State.ACTIVITY,
        confidence=1.0, evidence=ev.refs(),
    )  # fmt: skip
    assert (seen.first_seen, seen.last_seen) == (T, T + dt.timedelta(seconds=9))
    day = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    told = make_finding(
        rule, pack, identity=("x",), subject=subject, summary="s", state=State.CAPABILITY,
        confidence=1.0, evidence=ev.refs(), first_seen=day, last_seen=day,
    )  # fmt: skip
    assert (told.first_seen, told.last_seen) == (day, day)
