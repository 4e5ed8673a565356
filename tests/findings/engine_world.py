"""A small world for engine tests: a two-crane port and a capture built frame by frame.

Crane C1 has a LAN (10.20.1.0/24) with a declared router, PLC and HMI, and three devices
nobody declared: ``MODEM`` talks to a server outside the port, ``BOX`` only talks inside the
crane LAN, ``LAPTOP`` reads the PLC over Modbus/TCP. Crane C2's LAN is declared but never
captured. Every address and frame is known, so each proof-of-use answer can be asserted.

The checks the rules of these tests name are registered by the tests themselves (``Script``
says what they report in the next run), so the engine is tested without the built-in checks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.capture_builder import ACK, ETH_IPV4, PSH, SYN, ether, ipv4, pcap, tcp, udp

from cranewatch.findings.checks import CHECKS, Check, params
from cranewatch.findings.context import AnalysisContext, make_finding
from cranewatch.findings.model import Finding, Rule, RulePack, State, Subject
from cranewatch.findings.packs import LoadedPacks, load_packs
from cranewatch.fleet.model import Component, Crane, Port, Terminal, Zone
from cranewatch.ingest import ingest_paths
from cranewatch.store.registry import Registry
from cranewatch.store.workspace import Workspace

ROUTER = ("00:80:63:00:00:01", "10.20.1.1")
PLC = ("28:63:36:00:00:20", "10.20.1.20")
HMI = ("28:63:36:00:00:60", "10.20.1.60")
MODEM = ("00:1e:42:00:00:c8", "10.20.1.200")
BOX = ("00:1e:42:00:00:c9", "10.20.1.201")
LAPTOP = ("00:1e:42:00:00:ca", "10.20.1.202")
CLOUD = "203.0.113.10"  # outside the port
START_NS = 1_790_000_000 * 10**9  # 2026-09-21 14:13:20 UTC


def build_port() -> Port:
    def part(crane: str, local: str, kind: str, mac: str, ip: str) -> Component:
        return Component(
            id=f"{crane}/{local}", kind=kind, macs=[mac], ips=[ip], zone=f"{crane}/lan"
        )

    c1 = Crane(
        id="C1",
        type="STS",
        manufacturer="Maker",
        model="M1",
        zones=[Zone(id="C1/lan", subnets=["10.20.1.0/24"])],
        components=[
            part("C1", "router", "router", *ROUTER),
            part("C1", "plc", "plc", *PLC),
            part("C1", "hmi", "hmi", *HMI),
        ],
    )
    c2 = Crane(
        id="C2",
        type="STS",
        manufacturer="Maker",
        model="M1",
        zones=[Zone(id="C2/lan", subnets=["10.20.2.0/24"])],
        components=[part("C2", "plc", "plc", "28:63:36:00:02:20", "10.20.2.20")],
    )
    return Port(id="P", name="Test port", terminals=[Terminal(id="T1", name="T1", cranes=[c1, c2])])


MODBUS_READ = struct.pack("!HHHBBHH", 1, 0, 6, 1, 3, 0, 10)  # read 10 holding registers
MODBUS_ANSWER = struct.pack("!HHHBBB", 1, 0, 23, 1, 3, 20) + bytes(20)


def _conversation(
    t0: int,
    client: tuple[str, str],
    server: tuple[str, str],
    port: int,
    via_mac: str | None = None,
    ask: bytes = b"hello" * 20,
    answer: bytes = b"world" * 40,
) -> list[tuple[int, bytes]]:
    """A TCP handshake and one request/answer; ``via_mac``: the server sits behind a router."""
    (cmac, cip), (smac, sip) = client, server
    smac = via_mac or smac

    def frame(src: str, dst: str, sipa: str, dipa: str, seg: bytes) -> bytes:
        return ether(dst, src, ETH_IPV4, ipv4(sipa, dipa, 6, seg))

    segments = [
        frame(cmac, smac, cip, sip, tcp(40000, port, SYN, seq=1)),
        frame(smac, cmac, sip, cip, tcp(port, 40000, SYN | ACK, seq=100, ack=2)),
        frame(cmac, smac, cip, sip, tcp(40000, port, ACK, seq=2, ack=101)),
        frame(cmac, smac, cip, sip, tcp(40000, port, PSH | ACK, ask, seq=2, ack=101)),
        frame(smac, cmac, sip, cip, tcp(port, 40000, PSH | ACK, answer, seq=101, ack=2 + len(ask))),
    ]
    return [(t0 + i * 1_000_000, data) for i, data in enumerate(segments)]


def write_capture(path: Path) -> Path:
    frames: list[tuple[int, bytes]] = []
    frames += _conversation(START_NS, HMI, PLC, 102)
    frames += _conversation(START_NS + 10**9, MODEM, ("", CLOUD), 443, via_mac=ROUTER[0])
    box = ether(HMI[0], BOX[0], ETH_IPV4, ipv4(BOX[1], HMI[1], 17, udp(5000, 5000, b"x" * 30)))
    frames += [(START_NS + 2 * 10**9, box)]
    frames += _conversation(
        START_NS + 3 * 10**9, LAPTOP, PLC, 502, None, MODBUS_READ, MODBUS_ANSWER
    )
    path.write_bytes(pcap(sorted(frames)))
    return path


# ------------------------------------------------------------------------ checks and packs


@dataclass
class Script:
    """What the test checks report in the next run; a test changes it between runs."""

    state: State = State.CAPABILITY
    hidden: set[str] = field(default_factory=set)  # IPs the undeclared check does not report
    fail: bool = False  # the undeclared check raises
    calls: list[str] = field(default_factory=list)


def _undeclared(script: Script) -> Check:
    def check(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
        params(rule, {})
        script.calls.append(rule.id)
        if script.fail:
            raise RuntimeError("the check broke")
        return [
            make_finding(
                rule,
                pack,
                identity=(link.site, link.mac),
                subject=Subject(site=link.site, mac=link.mac, ip=link.ip),
                summary=f"undeclared device {link.mac} ({link.ip}) on {link.zone}",
                state=script.state,
                confidence=0.9,
                cranes=[str(link.zone).split("/")[0]],
            )
            for link in ctx.links
            if link.component is None and link.ip and link.ip not in script.hidden
        ]

    return check


def _activity(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    """An activity finding about the path from ``params.ip`` to the PLC."""
    ip = params(rule, {"ip": ""})["ip"]
    subject = Subject(site="T1", ip=ip, peer=PLC[1])
    return [
        make_finding(
            rule,
            pack,
            identity=(ip, PLC[1]),
            subject=subject,
            summary=f"{ip} talks to the PLC",
            state=State.ACTIVITY,
            confidence=0.8,
            cranes=["C1"],
        )
    ]


def _walkdowns(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    """Capability only: a modem seen on crane C2 (never captured), one nobody placed, and one
    declared in the baseline whose IP sends industrial requests."""
    params(rule, {})
    on_c2 = Subject(site="T1", crane="C2", walkdown="wd-c2")
    nowhere = Subject(walkdown="wd-lost")
    declared = Subject(site="T1", component="C1/laptop", ip=LAPTOP[1])
    return [
        make_finding(
            rule,
            pack,
            identity=("wd-c2",),
            subject=on_c2,
            summary="modem on C2",
            state=State.CAPABILITY,
            confidence=1.0,
            cranes=["C2"],
        ),
        make_finding(
            rule,
            pack,
            identity=("wd-lost",),
            subject=nowhere,
            summary="modem",
            state=State.CAPABILITY,
            confidence=1.0,
        ),
        make_finding(
            rule,
            pack,
            identity=("declared",),
            subject=declared,
            summary="declared",
            state=State.CAPABILITY,
            confidence=1.0,
            cranes=["C1"],
        ),
    ]


def _boom(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    raise ZeroDivisionError("division by zero")


def _twice(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    one = make_finding(
        rule,
        pack,
        identity=("x",),
        subject=Subject(ip=BOX[1]),
        summary="x",
        state=State.CAPABILITY,
        confidence=0.5,
    )
    return [one, one]


def _unstorable(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]:
    odd = make_finding(
        rule,
        pack,
        identity=("odd",),
        subject=Subject(ip=BOX[1]),
        summary="odd",
        state=State.CAPABILITY,
        confidence=0.5,
        details={"what": object()},
    )
    return [odd]


def register_checks(monkeypatch: pytest.MonkeyPatch, script: Script) -> None:
    for name, fn in {
        "t-undeclared": _undeclared(script),
        "t-activity": _activity,
        "t-walkdowns": _walkdowns,
        "t-boom": _boom,
        "t-twice": _twice,
        "t-unstorable": _unstorable,
    }.items():
        monkeypatch.setitem(CHECKS, name, fn)


def rule_yaml(rule_id: str, check: str, params_yaml: str = "", severity: str = "high") -> str:
    text = (
        f"  - id: {rule_id}\n    version: 1\n    title: Rule {rule_id}\n"
        f"    description: d\n    severity: {severity}\n    techniques: [T0883]\n"
        f"    rationale: r\n    check: {check}\n"
    )
    return text + (f"    params: {params_yaml}\n" if params_yaml else "")


def pack_of(tmp_path: Path, *rules: str) -> LoadedPacks:
    """The rules given, as a user pack, without the built-in packs."""
    path = tmp_path / "test-pack.yaml"
    path.write_text(
        'pack: test\nversion: "1"\nattack_version: "ATT&CK for ICS v15"\nrules:\n' + "".join(rules)
    )
    return load_packs([path], builtin=False)


@pytest.fixture(scope="session")
def world_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The world's capture, ingested once."""
    root = tmp_path_factory.mktemp("engine-world")
    ws = Workspace.open(root / "ws", create=True)
    report = ingest_paths(ws, [write_capture(root / "world.pcap")])
    assert [o.status for o in report.outcomes] == ["ingested"], report.outcomes[0].error
    return ws


def with_port(registry: Registry) -> Registry:
    registry.save_port(build_port(), source="engine_world", actor="tester")
    return registry
