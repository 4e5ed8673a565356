"""Proof of use: for every capability finding, was the capability used in the captured period?

Investigators abroad found modems and could not say whether they had ever been used; this
module answers it for each capability finding, from the captures, with the facts behind it:

``used``
    when at least one of these holds, each named in ``proof_detail``:

    - another finding of the same run about the same subject is ``activity-observed`` (same
      MAC, IP or component; a path or session finding counts for both of its ends);
    - its flows show traffic with addresses **outside the port** (in no declared zone, not a
      device of the port, not multicast, broadcast, link-local or unspecified), either its own
      or carried by its MAC (a router to the outside): peers, ports, packets, bytes, times;
    - it is not a declared component and it sent industrial requests (S7, Modbus, OPC UA ...)
      to the crane: protocols, operations, whether writes or control were among them.
``not-observed``
    when none holds but the captures **cover** its network zone (some capture has traffic sent
    from a device of the zone): the detail names the zone, the captured period (first and last
    timestamp of those captures), the number of captures and the packets sent from the zone,
    and says that traffic which never crosses the captured network (a cellular link alone)
    cannot be seen.
``unknown``
    when no capture covers its zone, or no zone is known for it.

The zone of a subject is its own ``zone``, else that of its asset links, of its declared
component, of the zone subnet its IP lies in, and finally the zones of its crane(s). The
structured facts are kept in the finding's ``details["proof"]`` for reports, and flows to the
outside are added to its evidence. Activity findings are left as they are: they are the proof.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from cranewatch.findings._proof_facts import (
    Coverage,
    Facts,
    industrial_requests,
    outside_flows,
    same_subject,
    size_text,
    when,
)
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import EvidenceRef, Finding, ProofOfUse, State, Subject

MAX_PEERS = 3  # outside peers named in the detail
MAX_PROOF_FLOWS = 20  # flows to the outside added to the evidence, per capture


def _with_outside(flow: dict[str, Any], s: Subject, facts: Facts) -> bool:
    """The flow is the subject's (its IP or MAC on one side) and reaches outside the port."""
    its = (s.ip and s.ip in (flow["src_ip"], flow["dst_ip"])) or (
        s.mac and s.mac in (flow["src_mac"], flow["dst_mac"])
    )
    ends = (flow["src_ip"], flow["dst_ip"])
    return bool(its) and any(facts.outside(ip) for ip in ends if ip != s.ip)


def _outside_part(flows: list[dict[str, Any]], s: Subject, facts: Facts) -> tuple[str, list[Any]]:
    peers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for flow in flows:
        ends = (flow["dst_ip"], flow["src_ip"])
        peer = next(ip for ip in ends if ip != s.ip and facts.outside(ip))
        transport = {6: "tcp", 17: "udp"}.get(flow["proto"], f"ip proto {flow['proto']}")
        port = f"{transport}/{flow['dst_port']}" if flow["dst_port"] is not None else transport
        peers[(peer, port)].append(flow)
    listed = []
    facts_out = []
    ranked = sorted(peers.items(), key=lambda kv: -sum(f["bytes"] or 0 for f in kv[1]))
    for (peer, port), group in ranked:
        packets = sum(f["packets"] or 0 for f in group)
        size = sum(f["bytes"] or 0 for f in group)
        first = min(f["first_ts"] for f in group)
        last = max(f["last_ts"] for f in group)
        facts_out.append(
            {
                "peer": peer,
                "port": port,
                "flows": len(group),
                "packets": packets,
                "bytes": size,
                "first_ts": when(first),
                "last_ts": when(last),
            }
        )
        listed.append(
            f"{peer} ({port}): {packets} packets, {size_text(size)}, {when(first)} to {when(last)}"
        )
    more = f" and {len(listed) - MAX_PEERS} more" if len(listed) > MAX_PEERS else ""
    text = "traffic with outside the port: " + "; ".join(listed[:MAX_PEERS]) + more
    return text, facts_out


def _industrial_part(ops: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    total = sum(int(o["pdus"]) for o in ops)
    names = sorted({f"{o['protocol']} {o['operation'] or '?'}" for o in ops})
    targets = sorted({o["dst_ip"] for o in ops if o["dst_ip"]})
    kind = (
        "including control commands"
        if any(o["control"] for o in ops)
        else "including writes"
        if any(o["writes"] for o in ops)
        else "reads and other requests only"
    )
    first = min(o["first_ts"] for o in ops)
    last = max(o["last_ts"] for o in ops)
    text = (
        f"sent {total} industrial request{'s' if total != 1 else ''} ({', '.join(names[:6])}) to "
        f"{', '.join(targets[:4]) or '?'}, {when(first)} to {when(last)}, {kind}"
    )
    facts_out = [{**o, "first_ts": when(o["first_ts"]), "last_ts": when(o["last_ts"])} for o in ops]
    return text, facts_out


def _coverage_text(covered: list[Coverage]) -> str:
    parts = []
    for c in covered:
        n = len(c.captures)
        parts.append(
            f"{c.zone} was captured from {when(c.first_ts)} to {when(c.last_ts)} "
            f"({n} capture{'s' if n != 1 else ''}, {c.packets} packets sent from the zone)"
        )
    return "; ".join(parts)


def judge(
    finding: Finding,
    activity: Iterable[Finding],
    flows: list[dict[str, Any]],
    ops: list[dict[str, Any]],
    facts: Facts,
) -> Finding:
    """The capability ``finding`` with its proof of use, detail, facts and evidence set."""
    s = finding.subject
    by_rule = sorted({f"{f.rule} ({f.title})" for f in activity if same_subject(s, f.subject)})
    keys = sorted({f.key for f in activity if same_subject(s, f.subject)})
    mine = [f for f in flows if _with_outside(f, s, facts)]
    own_ops = [o for o in ops if s.ip and o["src_ip"] == s.ip and not s.component]
    zones = facts.zones_of(finding)
    covered = [facts.coverage[z] for z in zones if z in facts.coverage]
    proof: dict[str, Any] = {"zones": zones}
    if covered:
        proof["coverage"] = [
            {
                "zone": c.zone,
                "captures": len(c.captures),
                "packets": c.packets,
                "from": when(c.first_ts),
                "to": when(c.last_ts),
            }
            for c in covered
        ]
    parts = []
    if by_rule:
        parts.append("activity found by " + ", ".join(by_rule))
        proof["activity_findings"] = keys
    if mine:
        text, proof["outside"] = _outside_part(mine, s, facts)
        parts.append(text)
    if own_ops:
        text, proof["industrial"] = _industrial_part(own_ops)
        parts.append(text)
    elif parts and s.ip and not s.component:
        parts.append("it sent no industrial request to the crane")
    evidence = list(finding.evidence)
    if parts:
        answer, detail = ProofOfUse.USED, "used: " + "; ".join(parts)
        by_capture: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for flow in mine:
            by_capture[flow["capture_sha256"]].append(flow)
        for sha, group in sorted(by_capture.items()):
            group = sorted(group, key=lambda f: f["first_frame"])[:MAX_PROOF_FLOWS]
            evidence.append(
                EvidenceRef(
                    capture_sha256=sha,
                    frames=[int(f["first_frame"]) for f in group],
                    first_ts=min(f["first_ts"] for f in group),
                    last_ts=max(f["last_ts"] for f in group),
                    flow_ids=[int(f["flow_id"]) for f in group],
                    note="proof of use: traffic with outside the port",
                )
            )
    elif covered:
        answer = ProofOfUse.NOT_OBSERVED
        detail = (
            f"not observed in the captured period: {_coverage_text(covered)}; no traffic "
            "of it with outside the port and no activity about it was found. Traffic that "
            "never crosses the captured network (a cellular link alone) cannot be seen"
        )
    elif zones:
        answer = ProofOfUse.UNKNOWN
        detail = f"unknown: no capture covers {', '.join(zones)}"
    else:
        answer, detail = ProofOfUse.UNKNOWN, "unknown: no network zone is known for it"
    proof["answer"] = answer.value
    return finding.model_copy(
        update={
            "proof_of_use": answer,
            "proof_detail": detail,
            "details": {**finding.details, "proof": proof},
            "evidence": evidence,
        }
    )


def apply_proof(ctx: AnalysisContext, findings: Sequence[Finding]) -> list[Finding]:
    """Every finding, the capability ones with their proof of use set."""
    capabilities = [f for f in findings if f.state is State.CAPABILITY]
    if not capabilities:
        return list(findings)
    facts = Facts(ctx)
    subjects = [f.subject for f in capabilities]
    flows = outside_flows(facts, subjects)
    ops = industrial_requests(facts, subjects)
    activity = [f for f in findings if f.state is State.ACTIVITY]
    return [
        judge(f, activity, flows, ops, facts) if f.state is State.CAPABILITY else f
        for f in findings
    ]
