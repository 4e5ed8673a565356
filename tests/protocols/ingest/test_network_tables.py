"""The network tables (``names``, ``sessions``, ``identities``, ``roles``) against the peer's logs.

The first bar of the network-analyzers issue, checked on the tables ``cranewatch ingest`` writes:
every capture of tests/captures that has a Zeek baseline for a network or remote-access protocol
(``zeek-baseline/{dhcp,dns,snmp,ssh,rdp,rfb,ssl,mqtt,lldp,cdp,openvpn,ipsec,wireguard,gtp,
vlan-mpls}/``) is ingested once, with every registered analyzer, into one workspace; then the
rows are compared with what Zeek logged about the same connections. Where Zeek logs nothing
useful (LLDP and CDP: one ``unknown_protocols`` line; the DNS capture: only EDNS Client Subnet
events; the SNMP walk: only addresses) tshark is the oracle, and Zeek's line is still checked
against it.

Expected values come from the peer's logs or from tshark, never from our own output. Where the
tables legitimately differ from the peer (the engine counts frames, not reassembled datagrams,
and reads only the first fragment of an IP datagram; Zeek ends a TCP connection at its closing
FIN; some values have no column), the difference is asserted exactly, so a change shows, and
explained in docs/validation.md, "Network tables against Zeek". A comparison that shows a fault
of ours gets fixed, or is marked ``xfail(strict=True)`` with the capture, the flow and what was
expected (none is at present).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.protocols.ingest.conftest import Ingested

from cranewatch.ingest import ingest_paths
from cranewatch.store.workspace import Workspace
from cranewatch.testing.protocols import zeek_log

TESTS = Path(__file__).resolve().parents[2]
CAPTURES = TESTS / "captures"
ZEEK = CAPTURES / "zeek-baseline"

#: The baseline folders of network and remote-access protocols (zeek-baseline/<folder>/<capture>/)
NETWORK_BASELINES = ("dhcp", "dns", "snmp", "ssh", "rdp", "rfb", "ssl", "mqtt", "lldp", "cdp",
                     "openvpn", "ipsec", "wireguard", "gtp", "vlan-mpls")  # fmt: skip

#: Columns of conn.log.filtered (the origin tests cut local_orig, local_resp and ip_proto and the
#: ``#fields`` line; the header is printed as the last line instead)
CONN_FILTERED = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                 "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "missed_bytes",
                 "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
                 "tunnel_parents")  # fmt: skip

Row = dict[str, Any]
NS = 1_000_000_000


# =============================================================================== the workspace


def baseline_dir(capture: str) -> Path:
    """zeek-baseline/<folder>/<capture stem>/ of a network capture."""
    stem = Path(capture).stem
    (found,) = [ZEEK / f / stem for f in NETWORK_BASELINES if (ZEEK / f / stem).is_dir()]
    return found


def network_captures() -> list[Path]:
    """The captures of tests/captures that have a network-protocol Zeek baseline."""
    stems = {d.name for f in NETWORK_BASELINES for d in (ZEEK / f).iterdir() if d.is_dir()}
    return sorted(p for p in CAPTURES.iterdir()
                  if p.suffix in (".pcap", ".pcapng") and p.stem in stems)  # fmt: skip


@pytest.fixture(scope="session")
def net(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """The network captures as ``cranewatch ingest`` writes them (every registered analyzer)."""
    captures = network_captures()
    assert len(captures) == 19, [p.name for p in captures]
    ws = Workspace.open(tmp_path_factory.mktemp("ingest-network"), create=True)
    report = ingest_paths(ws, captures)
    problems = [(o.path.name, o.status, o.error) for o in report.outcomes if o.status != "ingested"]
    assert problems == [], problems
    return Ingested(ws, "compiled")


def rows(net: Ingested, table: str, capture: str, **equal: Any) -> list[Row]:
    return list(net.rows(table, capture, **equal))


def pdus(ops: Iterable[Row], key: Any) -> Counter[Any]:
    out: Counter[Any] = Counter()
    for op in ops:
        out[key(op)] += op["pdus"]
    return +out


# =============================================================================== the peer's logs


def zeek(capture: str, log: str) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log of the capture's baseline (``conn.log.filtered`` included)."""
    path = baseline_dir(capture) / log
    if log.endswith(".filtered"):
        return [r for r in zeek_log(path, CONN_FILTERED) if r["ts"] != "ts"]
    return zeek_log(path)


def zeek_text(capture: str, name: str) -> list[str]:
    """Lines of a printed (non-log) baseline file, without the btest banner lines."""
    text = (baseline_dir(capture) / name).read_text().splitlines()
    return [line for line in text if not line.startswith("###")]


def unescape(text: str) -> str:
    """Zeek's log escaping undone: ``\\xHH`` is the byte, ``\\\\`` a backslash."""
    return re.sub(r"\\x([0-9a-fA-F]{2})|\\\\",
                  lambda m: chr(int(m[1], 16)) if m[1] else "\\", text)  # fmt: skip


def unset(value: str) -> bool:
    return value in ("-", "(empty)")


def zeek_ends(r: dict[str, str]) -> tuple[str, int, str, int]:
    """(originator address, port, responder address, port) of a Zeek log row."""
    return r["id.orig_h"], int(r["id.orig_p"]), r["id.resp_h"], int(r["id.resp_p"])


def ends(session: Row) -> tuple[str, int, str, int]:
    """The same four of a ``sessions`` row."""
    return (session["client_ip"], session["client_port"], session["server_ip"],
            session["server_port"])  # fmt: skip


# =============================================================================== tshark


def _tshark(tshark: str, capture: str, *args: str) -> str:
    cmd = [tshark, "-n", "-r", str(CAPTURES / capture), *args]
    with tempfile.TemporaryDirectory(prefix="cranewatch-tshark-") as conf:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf, LC_ALL="C.UTF-8", TZ="UTC")
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout


@cache
def tshark_json(tshark: str, capture: str, display_filter: str, *options: str) -> list[Row]:
    """The ``layers`` of each frame ``display_filter`` selects (repeated keys become lists)."""
    out = _tshark(tshark, capture, *options, "-Y", display_filter, "-T", "json",
                  "--no-duplicate-keys")  # fmt: skip
    return [p["_source"]["layers"] for p in json.loads(out or "[]")]


def each(value: Any) -> list[Any]:
    """A JSON value that tshark makes a list when a key repeats, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def entries(tree: Row | None) -> Iterator[tuple[str, Row]]:
    """(summary text, fields) of the records under a tshark tree such as ``Answers``."""
    for text, value in (tree or {}).items():
        for item in each(value):
            yield text, item


FRAME_FIELDS = ("frame.number", "frame.time_epoch", "frame.len", "ip.src", "ip.dst",
                "ipv6.src", "ipv6.dst", "ip.len", "ip.hdr_len", "ipv6.plen", "ip.id",
                "ip.flags.mf", "ip.frag_offset", "tcp.srcport", "tcp.dstport", "udp.srcport",
                "udp.dstport", "tcp.flags.fin", "tcp.flags.reset")  # fmt: skip


@dataclass(frozen=True)
class Frame:
    """One frame as tshark decodes it without IP reassembly (outermost headers)."""

    number: int
    ns: int
    length: int
    src: str
    dst: str
    ip_len: int
    hdr_len: int
    ip_id: str
    more: bool
    offset: int
    tcp: tuple[int, int] | None  # source and destination port of the first TCP header
    udp: tuple[int, int] | None  # ... of the first UDP header (the outer one of GTP-U)
    closes: bool  # TCP FIN or RST

    @property
    def fragment(self) -> bool:
        return self.more or self.offset > 0


def _ns(epoch: str) -> int:
    whole, _, frac = epoch.partition(".")
    return int(whole) * NS + int((frac + "000000000")[:9])


@cache
def tshark_frames(tshark: str, capture: str) -> tuple[Frame, ...]:
    out = _tshark(tshark, capture, "-o", "ip.defragment:FALSE", "-T", "fields",
                  "-E", "occurrence=f", *[a for f in FRAME_FIELDS for a in ("-e", f)])  # fmt: skip
    frames = []
    for line in out.splitlines():
        v = dict(zip(FRAME_FIELDS, line.split("\t"), strict=True))
        src, dst = v["ip.src"] or v["ipv6.src"], v["ip.dst"] or v["ipv6.dst"]
        if not src:
            continue
        v4 = bool(v["ip.src"])
        tcp = (int(v["tcp.srcport"]), int(v["tcp.dstport"])) if v["tcp.srcport"] else None
        udp = (int(v["udp.srcport"]), int(v["udp.dstport"])) if v["udp.srcport"] else None
        frames.append(Frame(
            int(v["frame.number"]), _ns(v["frame.time_epoch"]), int(v["frame.len"]), src, dst,
            int(v["ip.len"]) if v4 else int(v["ipv6.plen"]) + 40,
            int(v["ip.hdr_len"]) if v4 else 40, v["ip.id"], v["ip.flags.mf"] in ("1", "True"),
            int(v["ip.frag_offset"] or 0), tcp, udp,
            "1" in (v["tcp.flags.fin"], v["tcp.flags.reset"]),
        ))  # fmt: skip
    return tuple(frames)


@dataclass
class Datagram:
    """The frames of one IP datagram (one frame, or its fragments) and when Zeek sees it."""

    frames: list[Frame]

    @property
    def complete(self) -> bool:
        offsets = {f.offset for f in self.frames}
        return 0 in offsets and any(not f.more for f in self.frames)

    @property
    def first(self) -> Frame:
        return min(self.frames, key=lambda f: f.offset)

    @property
    def done_ns(self) -> int:  # the frame that completes the reassembly
        return max(f.ns for f in self.frames)


@dataclass
class Direction:
    """What tshark shows of one direction of a Zeek connection."""

    datagrams: list[Datagram]

    @property
    def frames(self) -> list[Frame]:
        return [f for d in self.datagrams for f in d.frames]

    def extra_frames(self) -> int:
        """Frames we count and Zeek does not: all but one fragment of each reassembled
        datagram, every fragment of a datagram that never completes."""
        return sum(len(d.frames) - 1 if d.complete else len(d.frames) for d in self.datagrams)

    def extra_bytes(self) -> int:
        """Wire bytes we count beyond Zeek's IP bytes: the link layer of every frame (header,
        VLAN/MPLS tags, padding, trailer), the IP headers of all but the first fragment of a
        reassembled datagram, and the whole of datagrams that never complete."""
        link = sum(f.length - f.ip_len for f in self.frames)
        frag = sum(
            sum(f.hdr_len for f in d.frames) - d.first.hdr_len if d.complete
            else sum(f.ip_len for f in d.frames)
            for d in self.datagrams
        )  # fmt: skip
        return link + frag


def conn_directions(tshark: str, capture: str, conn: dict[str, str]) -> tuple[Direction, Direction]:
    """The originator's and the responder's datagrams of a Zeek conn.log row."""
    orig = zeek_ends(conn)
    groups: dict[tuple[str, str, str], list[Frame]] = defaultdict(list)
    single: list[Frame] = []
    for f in tshark_frames(tshark, capture):
        (groups[(f.src, f.dst, f.ip_id)].append(f) if f.fragment else single.append(f))
    datagrams = [Datagram([f]) for f in single] + [Datagram(g) for g in groups.values()]
    out: tuple[list[Datagram], list[Datagram]] = ([], [])
    for d in sorted(datagrams, key=lambda d: d.first.number):
        head = d.first
        ports = head.tcp if conn["proto"] == "tcp" else head.udp
        if ports is None:
            continue
        key = (head.src, ports[0], head.dst, ports[1])
        if key == orig:
            out[0].append(d)
        elif key == (orig[2], orig[3], orig[0], orig[1]):
            out[1].append(d)
    return Direction(out[0]), Direction(out[1])


def check_session(tshark: str, capture: str, session: Row, conn: dict[str, str]) -> None:
    """A ``sessions`` row against Zeek's conn.log row of the same connection.

    Endpoints are equal. Packets and bytes: Zeek counts IP datagrams after reassembly and their
    IP bytes, we count frames and their wire length, so ours = Zeek's + what tshark shows of the
    difference (``Direction.extra_*``). Duration: ours runs from the first to the last frame;
    Zeek starts at the first complete datagram and ends a TCP connection at the packet by which
    both sides have sent FIN (or RST), not at the final ACK.
    """
    assert ends(session) == zeek_ends(conn)
    client, server = conn_directions(tshark, capture, conn)
    for side, d, zp, zb in (("client", client, "orig_pkts", "orig_ip_bytes"),
                            ("server", server, "resp_pkts", "resp_ip_bytes")):  # fmt: skip
        assert session[f"{side}_packets"] == int(conn[zp]) + d.extra_frames(), (side, conn["uid"])
        assert session[f"{side}_bytes"] == int(conn[zb]) + d.extra_bytes(), (side, conn["uid"])
    frames = sorted(client.frames + server.frames, key=lambda f: f.number)
    assert (session["start_ts"], session["end_ts"]) == (frames[0].ns, frames[-1].ns)
    done = sorted(d.done_ns for d in client.datagrams + server.datagrams if d.complete)
    zeek_end = done[-1]
    if conn["proto"] == "tcp":
        closed: set[str] = set()
        for f in frames:
            if f.closes:
                closed.add(f.src)
                if len(closed) == 2:
                    zeek_end = f.ns
                    break
    late, early = frames[-1].ns - zeek_end, done[0] - frames[0].ns
    difference = session["duration_s"] - float(conn["duration"])
    assert abs(difference - (late + early) / NS) < 1.5e-6, (conn["uid"], difference, late, early)


# =============================================================================== DHCP

DHCP = "dhcp_all_message_types.pcap"
DHCP_SERVER_TYPES = {"OFFER", "ACK", "NAK"}


def test_dhcp_identities_names_and_roles_match_zeek_dhcp_log(net: Ingested) -> None:
    """dhcp.log's mac, host_name, domain, assigned_addr and server_addr are in the tables,
    about the device Zeek names; client_fqdn is unset in Zeek and absent here."""
    log = zeek(DHCP, "dhcp.log")
    ids = rows(net, "identities", DHCP, protocol="dhcp")
    facts = {(r["mac"], r["attribute"], r["value"]) for r in ids}
    servers = {r["server_addr"] for r in log if not unset(r["server_addr"])}
    (server,) = servers
    server_macs = {r["mac"] for r in ids if r["ip"] == server}
    for r in log:
        mac = r["mac"]
        assert (mac, "mac_address", mac) in facts
        if not unset(r["host_name"]):
            assert (mac, "hostname", r["host_name"]) in facts
            announced = rows(net, "names", DHCP, protocol="dhcp", action="announced")
            assert (mac, r["host_name"]) in {(n["mac"], n["name"]) for n in announced}
        if not unset(r["assigned_addr"]):
            assert (mac, "ip_address", r["assigned_addr"]) in facts
        if not unset(r["domain"]):  # option 15 comes from the server's OFFER/ACK
            assert {(m, "domain", r["domain"]) for m in server_macs} <= facts
    # nothing beyond what Zeek logged
    assert {v for _, a, v in facts if a == "hostname"} == {
        r["host_name"] for r in log if not unset(r["host_name"])}  # fmt: skip
    assert {v for _, a, v in facts if a == "ip_address"} == {
        r["assigned_addr"] for r in log if not unset(r["assigned_addr"])}  # fmt: skip
    assert all(unset(r["client_fqdn"]) for r in log)
    assert {r["ip"] for r in rows(net, "roles", DHCP, role="dhcp_server")} == servers


def test_dhcp_message_types_match_zeek_dhcp_log(net: Ingested) -> None:
    """Every message type Zeek lists is one operation, sent by the server Zeek names for the
    server's types and by the client's MAC for the others."""
    log = zeek(DHCP, "dhcp.log")
    expected = Counter(t for r in log for t in r["msg_types"].split(","))
    ops = rows(net, "operations", DHCP, protocol="dhcp")
    assert pdus(ops, lambda o: o["operation"].upper()) == expected
    (server,) = {r["server_addr"] for r in log if not unset(r["server_addr"])}
    (client_mac,) = {r["mac"] for r in log}
    for op in ops:
        if op["operation"].upper() in DHCP_SERVER_TYPES:
            assert (op["src_ip"], op["direction"]) == (server, "response")
        else:
            assert (op["src_mac"], op["direction"]) == (client_mac, "request")
    assert sum(o["exceptions"] for o in ops) == expected["NAK"]


def test_dhcp_differences_from_zeek_are_the_documented_ones(net: Ingested, tshark: str) -> None:
    """Zeek's client_addr 128.2.6.97 is where the OFFER went (Zeek turns that one-packet
    connection around, client first); we give a client an address only from an ACK. Facts the
    client sent from 0.0.0.0 (tshark shows that source) have no ``ip``: the unspecified address
    is not the device's, and would merge every unconfigured client into one device."""
    log = zeek(DHCP, "dhcp.log")
    offered = {r["client_addr"] for r in log if not unset(r["client_addr"])}
    (offer,) = rows(net, "operations", DHCP, protocol="dhcp", operation="offer")
    assert offered == {offer["dst_ip"]}
    addresses = {r["value"] for r in rows(net, "identities", DHCP, attribute="ip_address")}
    assert not offered & addresses
    hostnames = {r["host_name"] for r in log if not unset(r["host_name"])}
    senders = {
        layers["ip"]["ip.src"] for layers in tshark_json(tshark, DHCP, "dhcp.option.hostname")
    }
    for r in rows(net, "identities", DHCP, attribute="hostname"):
        assert r["value"] in hostnames and senders == {"0.0.0.0"} and r["ip"] is None
        assert r["mac"] in {m["mac"] for m in log}


# =============================================================================== DNS

DNS = "dns_recursive_queries_edns_ecs.pcap"
NameKey = tuple[str, str, str, str | None, str]  # device ip, name, action, record type, peer


@dataclass
class Expected:
    count: int = 0
    first_frame: int = 0
    addresses: tuple[str, ...] = ()

    def add(self, frame: int, addresses: Iterable[str]) -> None:
        self.count += 1
        self.first_frame = self.first_frame or frame
        self.addresses += tuple(a for a in addresses if a not in self.addresses)


def _rtype(summary: str) -> str:
    """The record type tshark names in a record's summary (``name: type AAAA, class IN``)."""
    return summary.split(": type ", 1)[1].split(",", 1)[0]


@dataclass
class DnsMessage:
    frame: int  # the first fragment's frame when tshark reassembled the datagram
    shown: int  # the frame tshark shows it in (the one that completed the datagram)
    src: str
    dst: str
    tcp: bool
    dns: Row

    @property
    def response(self) -> bool:
        return self.dns["dns.flags_tree"]["dns.flags.response"] == "1"


def dns_messages(tshark: str, capture: str) -> list[DnsMessage]:
    out = []
    for layers in tshark_json(tshark, capture, "dns"):
        pre = "ip" if "ip" in layers else "ipv6"
        ip = layers[pre]
        shown = int(layers["frame"]["frame.number"])
        fragments = (ip.get("ip.fragments_tree") or {}).get("ip.fragment")
        frame = min(int(f) for f in each(fragments)) if fragments else shown
        for dns in each(layers["dns"]):
            out.append(
                DnsMessage(frame, shown, ip[f"{pre}.src"], ip[f"{pre}.dst"], "tcp" in layers, dns)
            )
    return out


def expected_dns_names(messages: Iterable[DnsMessage]) -> dict[NameKey, Expected]:
    """What ``names`` must hold for these messages (standard queries and responses): each
    question a name the sender asked; each A/AAAA answer set per owner, each PTR target, and the
    asked name at the end of a CNAME chain (with its final addresses) a name the receiver
    resolved. The values are tshark's."""
    out: dict[NameKey, Expected] = defaultdict(Expected)
    for m in messages:
        flags = m.dns["dns.flags_tree"]
        if flags["dns.flags.opcode"] != "0":
            continue
        questions = [
            (q["dns.qry.name"].lower(), _rtype(s)) for s, q in entries(m.dns.get("Queries"))
        ]
        if flags["dns.flags.response"] == "0":
            for name, rtype in questions:
                out[(m.src, name, "asked", rtype, m.dst)].add(m.frame, ())
            continue
        owners: dict[tuple[str, str], list[str]] = {}
        cnames: dict[str, str] = {}
        facts: list[tuple[str, str, tuple[str, ...]]] = []
        for summary, rr in entries(m.dns.get("Answers")):
            rtype, owner = _rtype(summary), rr["dns.resp.name"].lower()
            if rtype in ("A", "AAAA"):
                owners.setdefault((owner, rtype), []).append(
                    rr["dns.a" if rtype == "A" else "dns.aaaa"]
                )
            elif rtype == "CNAME":
                cnames.setdefault(owner, rr["dns.cname"].lower())
            elif rtype == "PTR":
                facts.append((rr["dns.ptr.domain_name"].lower(), "PTR", ()))
        facts += [(owner, rtype, tuple(a)) for (owner, rtype), a in owners.items()]
        for name, _ in questions:
            end = name
            while end in cnames:
                end = cnames[end]
            if end != name:
                facts.append((name, "CNAME", ()))
                facts += [
                    (name, t, tuple(owners[(end, t)])) for t in ("A", "AAAA") if (end, t) in owners
                ]
        for name, rtype, addresses in facts:
            out[(m.dst, name, "resolved", rtype, m.src)].add(m.frame, addresses)
    return out


def our_dns_names(net: Ingested, capture: str) -> dict[NameKey, Expected]:
    return {
        (r["ip"], r["name"], r["action"], r["record_type"], r["peer_ip"]):
            Expected(r["count"], r["first_frame"], tuple(r["addresses"] or ()))
        for r in rows(net, "names", capture, protocol="dns", inferred=False)
    }  # fmt: skip


def responses_without_query_over_tcp(messages: list[DnsMessage]) -> list[DnsMessage]:
    """DNS-over-TCP responses whose connection shows no query (captured mid-session)."""
    asked = {(m.src, m.dst) for m in messages if m.tcp and not m.response}
    return [m for m in messages if m.tcp and m.response and (m.dst, m.src) not in asked]


def test_dns_names_match_tshark(net: Ingested, tshark: str) -> None:
    """Every name asked and resolved, with its peer, record type, addresses, message count and
    first frame, equals tshark's decode (Zeek's baseline here has no dns.log). A reassembled
    datagram's frame is its first fragment's: the engine reads that one (R-NET-FRAG-FIRST).
    Left out here: the TCP responses whose query is not in the capture (the next test)."""
    messages = dns_messages(tshark, DNS)
    orphans = responses_without_query_over_tcp(messages)
    expected = expected_dns_names(m for m in messages if m not in orphans)
    touched = set(expected_dns_names(orphans))
    ours = {k: v for k, v in our_dns_names(net, DNS).items() if k not in touched}
    expected = {k: v for k, v in expected.items() if k not in touched}
    assert ours == expected
    # 89 frames: 85 messages, 4 first fragments (their messages are shown with the second)
    assert len(expected) == 59 and len(messages) == 85


def test_dns_tcp_responses_without_their_query(net: Ingested, tshark: str) -> None:
    messages = dns_messages(tshark, DNS)
    orphans = responses_without_query_over_tcp(messages)
    assert len(orphans) == 7
    flows = {(m.src, m.dst) for m in orphans}
    coverage = [
        c
        for c in rows(net, "coverage", DNS, transport="tcp")
        if (c["src_ip"], c["dst_ip"]) in flows
    ]
    assert len(coverage) == 7 and {c["protocol"] for c in coverage} == {"dns"}
    expected = expected_dns_names(messages)
    touched = set(expected_dns_names(orphans))
    ours = our_dns_names(net, DNS)
    assert {k: ours.get(k) for k in touched} == {k: expected[k] for k in touched}


def test_dns_client_subnet_messages_match_zeek(net: Ingested, tshark: str) -> None:
    """Zeek's output lists the EDNS Client Subnet options it saw. tshark finds the same ten
    (family, source prefix, scope, address), and the questions of the messages that carry them
    are in ``names``: asked by the querier, and resolved where the answer has an A record. The
    option itself has no column (operations keep no per-PDU detail)."""
    printed = Counter(zeek_text(DNS, "output"))
    found: Counter[str] = Counter()
    carriers = []
    for m in dns_messages(tshark, DNS):
        for opt in find(m.dns.get("Additional records"), "dns.opt"):
            if "dns.opt.client.family" in opt:
                v4 = opt["dns.opt.client.family"] == "1"
                address = opt["dns.opt.client.addr4" if v4 else "dns.opt.client.addr6"]
                found[
                    f"[family={'v4' if v4 else 'v6'}, "
                    f"source_prefix_len={opt['dns.opt.client.netmask']}, "
                    f"scope_prefix_len={opt['dns.opt.client.scope']}, address={address}]"
                ] += 1
                carriers.append(m)
    assert found == printed and sum(printed.values()) == 10
    ours = our_dns_names(net, DNS)
    expected = expected_dns_names(carriers)
    assert len(expected) == 8  # 7 queries asked, 1 answer resolved (frames 58-59)
    for key, want in expected.items():
        assert key in ours and ours[key].count >= want.count, key


def test_dns_fragmented_responses_are_read_in_part(net: Ingested, tshark: str) -> None:
    """R-NET-FRAG-FIRST: four responses come in two fragments; we read the first. Where the
    query was seen the flow is DNS and the response counts one error (its records run past the
    fragment); where it was not, the cut message does not look like DNS and the flow is
    'unknown'. tshark reassembles all four."""
    fragmented = [m for m in dns_messages(tshark, DNS) if m.frame != m.shown]
    assert len(fragmented) == 4
    queries = {(m.src, m.dst) for m in dns_messages(tshark, DNS) if not m.response}
    for m in fragmented:
        (cov,) = [c for c in rows(net, "coverage", DNS, transport="udp")
                  if {c["src_ip"], c["dst_ip"]} == {m.src, m.dst}
                  and m.frame in range(*_frame_span(net, DNS, c["flow_id"]))]  # fmt: skip
        if (m.dst, m.src) in queries:
            assert (cov["protocol"], cov["errors"], cov["pdus"]) == ("dns", 1, 2)
        else:
            assert (cov["protocol"], cov["method"], cov["pdus"]) == (None, "unknown", 0)


def _frame_span(net: Ingested, capture: str, flow_id: int) -> tuple[int, int]:
    (flow,) = rows(net, "flows", capture, flow_id=flow_id)
    return flow["first_frame"], flow["last_frame"] + 1


# =============================================================================== SSH

SSH = "ssh_multiple_sessions.pcap"


def test_ssh_sessions_match_zeek(net: Ingested, tshark: str) -> None:
    """One session per connection of ssh.log, with conn.log's endpoints, packets, bytes and
    duration (after the documented differences in how each counts)."""
    log = zeek(SSH, "ssh.log")
    conns = {r["uid"]: r for r in zeek(SSH, "conn.log")}
    sessions = {s["client_port"]: s for s in rows(net, "sessions", SSH)}
    assert len(sessions) == len(log) == 22
    for r in log:
        session = sessions[int(r["id.orig_p"])]
        assert (session["protocol"], session["kind"], session["transport"]) == (
            "ssh",
            "remote_access",
            "tcp",
        )
        check_session(tshark, SSH, session, conns[r["uid"]])


def ssh_software(banner: str) -> str:
    """softwareversion of an SSH identification string (RFC 4253 4.2)."""
    return banner.split("-", 2)[2].split(" ", 1)[0]


def test_ssh_software_matches_zeek(net: Ingested) -> None:
    """The client and server strings of ssh.log are software identities of the right ends;
    a comment naming Ubuntu gives the os fact."""
    log = zeek(SSH, "ssh.log")
    expected = {(r[h], ssh_software(r[side])) for r in log
                for h, side in (("id.orig_h", "client"), ("id.resp_h", "server"))}  # fmt: skip
    ids = rows(net, "identities", SSH, protocol="ssh")
    assert {(r["ip"], r["value"]) for r in ids if r["attribute"] == "software"} == expected
    ubuntu = {r[h] for r in log for h, side in (("id.orig_h", "client"), ("id.resp_h", "server"))
              if "ubuntu" in r[side].partition(" ")[2].lower()}  # fmt: skip
    assert {r["ip"] for r in ids if r["attribute"] == "os" and r["value"] == "Ubuntu"} == ubuntu
    assert {r["attribute"] for r in ids} == {"software", "os"}


# =============================================================================== RDP

RDP_NATIVE = "rdp_native_rdp_encryption.pcap"
RDP_TLS = "rdp_over_tls.pcap"
#: Zeek's names of RDP client builds (base/protocols/rdp/consts.zeek, ``builds``)
ZEEK_RDP_BUILDS = {"RDP 5.1": 2600, "RDP 5.2": 3790, "RDP 6.0": 6000, "RDP 6.1": 6001,
                   "RDP 6.2": 6002, "RDP 7.0": 7600, "RDP 7.1": 7601, "RDP 8.0": 9200,
                   "RDP 8.1": 9600}  # fmt: skip


@pytest.mark.parametrize("capture", [RDP_NATIVE, RDP_TLS])
def test_rdp_matches_zeek_rdp_log(net: Ingested, capture: str) -> None:
    """Per rdp.log connection: a session with its endpoints; the cookie in the Connection
    Request; the security protocol chosen or the failure; client name and build as identities
    of the client; the encryption method of the server's security data."""
    log = zeek(capture, "rdp.log")
    sessions = rows(net, "sessions", capture, protocol="rdp")
    assert sorted(map(ends, sessions)) == sorted(map(zeek_ends, log))
    ids = rows(net, "identities", capture, protocol="rdp")
    for r in log:
        port = int(r["id.orig_p"])
        flow = {s["client_port"]: s["flow_id"] for s in sessions}[port]
        ops = {
            o["operation"]: o
            for o in rows(net, "operations", capture, protocol="rdp", flow_id=flow)
        }
        assert ops["connection_request"]["target"] == f"mstshash={unescape(r['cookie'])}"
        if r["result"] in ("Success", "encrypted"):
            assert ops["connection_confirm"]["target"] == r["security_protocol"].lower()
        else:
            assert ops["negotiation_failure"]["target"] == r["result"].lower()
            assert ops["negotiation_failure"]["exceptions"] == 1
        mine = {(i["attribute"], i["value"]) for i in ids if i["flow_id"] == flow}
        assert all(i["ip"] == r["id.orig_h"] for i in ids if i["flow_id"] == flow)
        expected = set()
        if not unset(r["client_name"]):
            expected.add(("hostname", r["client_name"]))
        if not unset(r["client_build"]):
            expected.add(("software", f"RDP client build {ZEEK_RDP_BUILDS[r['client_build']]}"))
        assert mine == expected
        if unset(r["encryption_method"]):
            assert "mcs_connect_response" not in ops
        else:
            assert ops["mcs_connect_response"]["target"] == r["encryption_method"]


def test_rdp_over_tls_names_match_zeek_ssl_log(net: Ingested) -> None:
    expected = set()
    for r in zeek(RDP_TLS, "ssl.log"):
        expected.add((r["id.orig_h"], r["server_name"].lower(), "connected", r["id.resp_h"]))
        cn = dict(part.split("=", 1) for part in r["subject"].split(","))["CN"]
        expected.add((r["id.resp_h"], cn.lower(), "certified", r["id.orig_h"]))
    ours = {(n["ip"], n["name"], n["action"], n["peer_ip"]) for n in rows(net, "names", RDP_TLS)}
    assert ours == expected


# =============================================================================== VNC (RFB)

VNC = "vnc_rfb_mac_to_linux.pcap"
ZEEK_RFB_AUTH = {"VNC": "vnc_auth"}  # Zeek's name of the security type in the capture


def test_vnc_matches_zeek_rfb_log(net: Ingested) -> None:
    """Per rfb.log connection: a session; the two protocol versions; the security type; the
    security result (Zeek's ``auth``); the shared flag; the desktop name as the server's
    product_name identity. Width and height are not stored."""
    log = zeek(VNC, "rfb.log")
    sessions = {s["client_port"]: s for s in rows(net, "sessions", VNC, protocol="vnc")}
    assert sorted(sessions) == sorted(int(r["id.orig_p"]) for r in log)
    for r in log:
        s = sessions[int(r["id.orig_p"])]
        assert (s["client_ip"], s["server_ip"], s["server_port"]) == (
            r["id.orig_h"], r["id.resp_h"], int(r["id.resp_p"]))  # fmt: skip
        ops = rows(net, "operations", VNC, flow_id=s["flow_id"])
        by = {(o["operation"], o["direction"]): o for o in ops}
        assert by[("protocol_version", "request")]["target"] == (
            f"{r['client_major_version']}.{r['client_minor_version']}")  # fmt: skip
        assert by[("protocol_version", "response")]["target"] == (
            f"{r['server_major_version']}.{r['server_minor_version']}")  # fmt: skip
        assert (
            by[("security_types", "response")]["target"]
            == ZEEK_RFB_AUTH[r["authentication_method"]]
        )
        result = by.get(("security_result", "response"))
        if unset(r["auth"]):
            assert result is None
        else:
            assert result["target"] == ("ok" if r["auth"] == "T" else "failed")
            assert result["exceptions"] == (r["auth"] == "F")
        init = by.get(("client_init", "request"))
        assert (init and init["target"]) == (
            None if unset(r["share_flag"]) else "shared" if r["share_flag"] == "T" else "exclusive"
        )
        names = {i["value"] for i in rows(net, "identities", VNC, flow_id=s["flow_id"],
                                          attribute="product_name", ip=r["id.resp_h"])}  # fmt: skip
        assert names == (set() if unset(r["desktop_name"]) else {r["desktop_name"]})


# =============================================================================== TLS

TLS = "tls_sni_with_extensions.pcap"


def test_tls_matches_zeek_ssl_and_x509_logs(net: Ingested) -> None:
    """SNI -> a 'connected' name of the client; version and cipher -> the ServerHello; the leaf
    certificate's subject, issuer and expiry -> the Certificate operation; its CN and DNS SANs
    -> 'certified' names of the server, its O -> a vendor fact; Zeek's sni_matches_cert holds
    for our names too. The rest of the chain (Zeek's second x509 row) is not decoded."""
    (ssl,) = zeek(TLS, "ssl.log")
    certs = {r["fingerprint"]: r for r in zeek(TLS, "x509.log")}
    leaf = certs[ssl["cert_chain_fps"].split(",")[0]]
    client, server = ssl["id.orig_h"], ssl["id.resp_h"]
    names = {(n["ip"], n["name"], n["action"], n["peer_ip"]) for n in rows(net, "names", TLS)}
    assert {n["protocol"] for n in rows(net, "names", TLS)} == {"tls"}
    subject = dict(p.split("=", 1) for p in leaf["certificate.subject"].split(","))
    certified = {subject["CN"].lower(), *leaf["san.dns"].lower().split(",")}
    assert names == {(client, ssl["server_name"], "connected", server)} | {
        (server, n, "certified", client) for n in certified}  # fmt: skip
    assert any(fnmatch(ssl["server_name"], n) for n in certified) == (
        ssl["sni_matches_cert"] == "T"
    )
    ops = {o["operation"]: o for o in rows(net, "operations", TLS, protocol="tls")}
    assert ops["client_hello"]["target"] == ssl["server_name"]
    assert ops["server_hello"]["target"] == f"{ssl['version']} {ssl['cipher']}"
    expires = datetime.fromtimestamp(float(leaf["certificate.not_valid_after"]), UTC).isoformat()
    assert ops["certificate"]["target"] == (
        f"{leaf['certificate.subject']} issued by {leaf['certificate.issuer']}, "
        f"valid until {expires}"
    )
    assert ops["certificate"]["src_ip"] == server
    vendors = {(i["ip"], i["value"]) for i in rows(net, "identities", TLS, attribute="vendor")}
    assert vendors == {(server, subject["O"])}


# =============================================================================== MQTT

MQTT = "mqtt_connect_subscribe_publish.pcap"


def test_mqtt_client_ids_and_messages_match_zeek(net: Ingested) -> None:
    connects = zeek(MQTT, "mqtt_connect.log")
    ids = rows(net, "identities", MQTT, attribute="client_id")
    assert sorted((i["ip"], i["value"]) for i in ids) == sorted(
        (r["id.orig_h"], r["client_id"]) for r in connects)  # fmt: skip
    ports = {s["src_port"] if s["direction"] == "request" else s["dst_port"]
             for s in rows(net, "operations", MQTT, protocol="mqtt")}  # fmt: skip
    assert ports == {int(r["id.orig_p"]) for r in connects}
    publishes = Counter((int(r["id.orig_p"]), r["from_client"] == "T", r["topic"])
                        for r in zeek(MQTT, "mqtt_publish.log"))  # fmt: skip
    ops = rows(net, "operations", MQTT, operation="publish")
    assert pdus(ops, lambda o: (o["src_port"] if o["direction"] == "request" else o["dst_port"],
                                o["direction"] == "request", o["target"])) == publishes  # fmt: skip
    subscribes = Counter(r["topics"] for r in zeek(MQTT, "mqtt_subscribe.log"))
    assert (
        pdus(rows(net, "operations", MQTT, operation="subscribe"), lambda o: o["target"])
        == subscribes
    )


# =============================================================================== LLDP and CDP

LLDP = "lldp_single_frame.pcap"
CDP = "cdp_v1_single_frame.pcap"


def single(layers: list[Row], proto: str) -> Row:
    (frame,) = layers
    return frame[proto]


def find(tree: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere in a tshark JSON tree."""
    found: list[Any] = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                found += each(v)
            else:
                found += find(v, key)
    elif isinstance(tree, list):
        for v in tree:
            found += find(v, key)
    return found


def identity_facts(net: Ingested, capture: str, protocol: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in rows(net, "identities", capture, protocol=protocol):
        out[r["attribute"]].add(r["value"])
    return dict(out)


def test_lldp_identities_match_tshark_and_zeek(net: Ingested, tshark: str) -> None:
    """Zeek does not parse LLDP: its one unknown_protocols line has EtherType 0x88cc and the
    first ten bytes, the Chassis ID TLV (type 1, length 7, subtype 4 = MAC). tshark gives the
    rest. Every fact is about the chassis MAC, and nothing else is claimed."""
    (line,) = zeek(LLDP, "unknown_protocols.log")
    head = bytes.fromhex(line["first_bytes"])
    assert (line["protocol_id"], head[0] >> 1, head[1], head[2]) == ("0x88cc", 1, 7, 4)
    chassis = ":".join(f"{b:02x}" for b in head[3:9])
    lldp = single(tshark_json(tshark, LLDP, "lldp"), "lldp")
    enabled = {k.rsplit(".", 1)[1] for v in find(lldp, "lldp.tlv.enable_system_cap_tree")
               for k, bit in v.items() if bit == "1"}  # fmt: skip
    assert find(lldp, "lldp.chassis.id.mac") == [chassis]
    facts = identity_facts(net, LLDP, "lldp")
    assert facts == {
        "mac_address": {chassis},
        "hostname": set(find(lldp, "lldp.tlv.system.name")),
        "system_description": set(find(lldp, "lldp.tlv.system.desc")),
        "management_address": set(find(lldp, "lldp.mgn.addr.ip4")),
        "capabilities": {",".join(sorted(enabled))},
        "role": {"switch"} if "bridge" in enabled else set(),
    }
    assert {r["mac"] for r in rows(net, "identities", LLDP)} == {chassis}
    assert {(r["mac"], r["role"]) for r in rows(net, "roles", LLDP)} == {(chassis, "switch")}
    (cov,) = rows(net, "coverage", LLDP)
    assert (cov["transport"], cov["protocol"], cov["method"]) == ("ethernet", "lldp", "content")


def test_cdp_identities_match_tshark_and_zeek(net: Ingested, tshark: str) -> None:
    """Zeek does not parse CDP: its unknown_protocols line (SNAP, protocol 0xc2000 = Cisco OUI
    and PID 0x2000) starts with version 1, TTL, checksum and the Device ID TLV, which holds the
    host name. tshark gives the rest; of the software text, the line naming the version."""
    (line,) = zeek(CDP, "unknown_protocols.log")
    head = bytes.fromhex(line["first_bytes"])
    assert (line["protocol_id"], head[0], int.from_bytes(head[4:6], "big")) == ("0xc2000", 1, 1)
    device_id = head[8 : int.from_bytes(head[6:8], "big") + 4].decode()
    cdp = single(tshark_json(tshark, CDP, "cdp"), "cdp")
    assert find(cdp, "cdp.deviceid") == [device_id]
    (version,) = [t for t in find(cdp, "cdp.software_version") if "Version" in t]
    capabilities = {k.rsplit(".", 1)[1] for v in find(cdp, "cdp.capabilities_tree")
                    for k, bit in v.items() if bit == "1"}  # fmt: skip
    facts = identity_facts(net, CDP, "cdp")
    assert facts.pop("os") == {"Cisco IOS"} and "IOS" in version  # inferred from the text, 0.9
    assert facts == {
        "hostname": {device_id},
        "platform": set(find(cdp, "cdp.platform")),
        "ip_address": set(find(cdp, "cdp.nrgyz.ip_address")),
        "software": {version.strip()},
        "capabilities": {",".join(sorted(capabilities))},
        "role": {"router"} if "router" in capabilities else set(),
    }
    (frame,) = tshark_json(tshark, CDP, "cdp")
    sender = frame["eth"]["eth.src"]
    assert {r["mac"] for r in rows(net, "identities", CDP)} == {sender}
    assert {(r["mac"], r["role"]) for r in rows(net, "roles", CDP)} == {(sender, "router")}


# =============================================================================== SNMP

SNMP_V1 = "snmp_v1_get.pcap"
SNMP_V2C = "snmp_v2c_walk_short.pcap"
SYS_DESCR, SYS_OBJECT_ID, SYS_NAME = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0"


@dataclass
class SnmpEvent:
    name: str
    orig_p: int
    is_orig: bool
    varbinds: list[tuple[str, str]]


def snmp_events(capture: str) -> list[SnmpEvent]:
    """The events of Zeek's snmp-test script output (out1)."""
    events: list[SnmpEvent] = []
    oid = ""
    for line in zeek_text(capture, "out1"):
        text = line.strip()
        if not line.startswith(" "):
            events.append(SnmpEvent(text, 0, False, []))
        elif text.startswith("[orig_h="):
            events[-1].orig_p = int(re.search(r"orig_p=(\d+)/udp", text)[1])  # type: ignore[index]
        elif text.startswith("is_orig:"):
            events[-1].is_orig = text.endswith("T")
        elif text.startswith("oid:"):
            oid = text.split(": ", 1)[1]
        elif text.startswith("value ("):
            events[-1].varbinds.append((oid, text.split("): ", 1)[1]))
    return events


def test_snmp_v1_matches_zeek_events(net: Ingested) -> None:
    """PDU types per exchange (Zeek's events per originator port) equal our operations; the
    agent's sysName and sysObjectID, and how many responses carried them, are its hostname and
    platform. Zeek also shows sysLocation ("Chandra's cube"), which has no attribute."""
    events = snmp_events(SNMP_V1)
    ops = rows(net, "operations", SNMP_V1, protocol="snmp")
    assert pdus(ops, lambda o: (o["src_port"] if o["direction"] == "request" else o["dst_port"],
                                o["operation"])) == Counter(
        (e.orig_p, e.name.removeprefix("snmp_")) for e in events)  # fmt: skip
    assert all((o["direction"] == "request") == (o["dst_port"] == 161) for o in ops)
    answers = [dict(e.varbinds) for e in events if not e.is_orig]
    ids = {r["attribute"]: r for r in rows(net, "identities", SNMP_V1, protocol="snmp")}
    for attribute, oid in (("hostname", SYS_NAME), ("platform", SYS_OBJECT_ID)):
        values = [a[oid] for a in answers if oid in a]
        assert (ids[attribute]["value"], ids[attribute]["count"]) == (values[0], len(values))
        assert set(values) == {values[0]}
    assert set(ids) == {"hostname", "platform"}
    assert any("1.3.6.1.2.1.1.6.0" in a for a in answers)  # sysLocation: not an identity


def test_snmp_v2c_walk_matches_tshark(net: Ingested, tshark: str) -> None:
    """Zeek's baseline for the walk only prints the IpAddress values (not stored); tshark gives
    the PDU types and the system group, which must be our operations and identities."""
    frames = tshark_json(tshark, SNMP_V2C, "snmp")
    kinds: Counter[str] = Counter()
    system: dict[str, list[str]] = defaultdict(list)
    for layers in frames:
        ((element, body),) = layers["snmp"]["snmp.data_tree"].items()
        kinds[element.removeprefix("snmp.").removesuffix("_element")] += 1
        for _, vb in entries(body["snmp.variable_bindings_tree"]):
            if vb["snmp.name"] in (SYS_DESCR, SYS_NAME) and "snmp.value.octets_tree" in vb:
                system[vb["snmp.name"]].append(vb["snmp.value.octets_tree"]["snmp.var-bind_str"])
            elif vb["snmp.name"] == SYS_OBJECT_ID and "snmp.value.oid" in vb:
                system[SYS_OBJECT_ID].append(vb["snmp.value.oid"])
    ops = rows(net, "operations", SNMP_V2C, protocol="snmp")
    ours = pdus(ops, lambda o: o["operation"])
    assert ours == Counter({k.replace("get_response", "response"): n for k, n in kinds.items()})
    ids = {r["attribute"]: (r["value"], r["count"]) for r in rows(net, "identities", SNMP_V2C)}
    assert ids == {name: (v[0], len(v)) for name, v in (
        ("system_description", system[SYS_DESCR]), ("platform", system[SYS_OBJECT_ID]),
        ("hostname", system[SYS_NAME]))}  # fmt: skip
    addresses = zeek_text(SNMP_V2C, "stdout")
    assert len(addresses) == 30  # printed by Zeek's test script, no column of ours


# =============================================================================== OpenVPN

OPENVPN = {"openvpn_udp.pcap": ("udp.port==1198,openvpn",), "openvpn_tcp.pcap": ()}
OPENVPN_DATA = {6, 9}


@pytest.mark.parametrize("capture", sorted(OPENVPN))
def test_openvpn_session_matches_zeek_conn_log(net: Ingested, tshark: str, capture: str) -> None:
    (conn,) = zeek(capture, "conn.log.filtered")
    (session,) = rows(net, "sessions", capture)
    assert (session["protocol"], session["kind"], session["transport"]) == (
        "openvpn",
        "tunnel",
        conn["proto"],
    )
    check_session(tshark, capture, session, conn)
    # Zeek's ssl.log of the TLS inside the control channel has no server name: nor do we
    (ssl,) = zeek(capture, "ssl.log")
    assert unset(ssl["server_name"]) and rows(net, "names", capture) == []


def zeek_session_id(text: str) -> str:
    return unescape(text).encode("latin-1").hex()


@pytest.mark.parametrize("capture", sorted(OPENVPN))
def test_openvpn_opcodes_match_zeek(net: Ingested, tshark: str, capture: str) -> None:
    """Control-channel packets per opcode equal Zeek's events, with Zeek's session ids as
    targets. Data packets: we stop once data went both ways (the rest is the tunnel's traffic);
    Zeek's count of data packets equals tshark's, ours the data packets up to that point."""
    printed = [line for line in zeek_text(capture, "openvpn.out") if line.startswith("[opcode=")]
    zeek_ops = Counter(int(line[len("[opcode=") :].split(",", 1)[0]) for line in printed)
    sids = {
        zeek_session_id(m)
        for line in printed
        for m in re.findall(r"(?<!remote_)session_id=(.*?), ", line)
    }
    ops = rows(net, "operations", capture, protocol="openvpn")
    ours = pdus(ops, lambda o: o["code"])
    assert {k: n for k, n in ours.items() if k not in OPENVPN_DATA} == {
        k: n for k, n in zeek_ops.items() if k not in OPENVPN_DATA}  # fmt: skip
    assert {o["target"] for o in ops if o["code"] not in OPENVPN_DATA} == {
        f"session {s}" for s in sids
    }
    (session,) = rows(net, "sessions", capture)
    order = []
    for layers in tshark_json(
        tshark, capture, "openvpn", *[a for d in OPENVPN[capture] for a in ("-d", d)]
    ):
        src = layers["ip"]["ip.src"]
        order += [(src, int(c, 16)) for c in find(layers["openvpn"], "openvpn.opcode")]
    data = [(src, code) for src, code in order if code in OPENVPN_DATA]
    assert Counter(c for _, c in data) == Counter(
        {k: n for k, n in zeek_ops.items() if k in OPENVPN_DATA}
    )
    seen: set[str] = set()
    until: Counter[tuple[bool, int]] = Counter()
    for src, code in data:
        seen.add(src)
        until[(src == session["client_ip"], code)] += 1
        if len(seen) == 2:
            break
    assert pdus([o for o in ops if o["code"] in OPENVPN_DATA],
                lambda o: (o["direction"] == "request", o["code"])) == until  # fmt: skip


# =============================================================================== IPsec

IKEV1 = "ipsec_ikev1_main_mode.pcap"
IKEV2 = "ipsec_ikev2_client_nat_t_fragmented.pcap"
IKE_EXCHANGES = {2: "identity_protection", 32: "quick", 34: "ike_sa_init", 35: "ike_auth"}


@pytest.mark.parametrize("capture", [IKEV1, IKEV2])
def test_ike_sessions_match_zeek_conn_log(net: Ingested, tshark: str, capture: str) -> None:
    conns = zeek(capture, "conn.log.filtered")
    sessions = {s["client_port"]: s for s in rows(net, "sessions", capture)}
    assert sorted(sessions) == sorted(int(c["id.orig_p"]) for c in conns)
    for conn in conns:
        session = sessions[int(conn["id.orig_p"])]
        assert (session["protocol"], session["kind"]) == ("ike", "tunnel")
        check_session(tshark, capture, session, conn)


@pytest.mark.parametrize("capture", [IKEV1, IKEV2])
def test_ike_messages_and_vendor_ids_match_zeek_ipsec_log(net: Ingested, capture: str) -> None:
    """Messages per exchange type and direction equal ipsec.log; each vendor id Zeek names (an
    unknown one as its hex) is a software fact of the side that sent it."""
    log = zeek(capture, "ipsec.log")
    ops = rows(net, "operations", capture, protocol="ike")
    assert pdus(ops, lambda o: (o["src_port"], o["operation"], o["direction"])) == Counter(
        (int(r["id.orig_p"]) if r["is_orig"] == "T" else int(r["id.resp_p"]),
         IKE_EXCHANGES[int(r["exchange_type"])], "request" if r["is_orig"] == "T" else "response")
        for r in log)  # fmt: skip
    expected = {
        (r["id.orig_h"] if r["is_orig"] == "T" else r["id.resp_h"], v.removeprefix("UNKNOWN:"))
        for r in log
        if not unset(r["vendor_ids"])
        for v in r["vendor_ids"].split(",")
    }
    ids = rows(net, "identities", capture, protocol="ike")
    assert {(i["ip"], i["value"]) for i in ids if i["attribute"] == "software"} == expected
    unknown = {
        v.removeprefix("UNKNOWN:")
        for r in log
        for v in r["vendor_ids"].split(",")
        if v.startswith("UNKNOWN:")
    }
    assert {i["value"] for i in ids if i["confidence"] == 0.5} == unknown


def test_ike_auth_fragments_are_read_in_part(net: Ingested) -> None:
    """R-NET-FRAG-FIRST: the three IKE_AUTH datagrams on UDP 4500 are 3,468-byte messages (Zeek's
    ``length``) in three fragments; we read the first fragment of each, so each message counts
    one error and the note gives Zeek's length."""
    auth = [r for r in zeek(IKEV2, "ipsec.log") if r["exchange_type"] == "35"]
    (op,) = rows(net, "operations", IKEV2, operation="ike_auth")
    assert (op["pdus"], op["errors"]) == (len(auth), len(auth))
    (cov,) = rows(net, "coverage", IKEV2, flow_id=op["flow_id"])
    (length,) = {r["length"] for r in auth}
    assert cov["errors"] == len(auth) and any(f"of {length} bytes" in n for n in cov["notes"])


# =============================================================================== WireGuard

WIREGUARD = "wireguard_handshake_and_data.pcap"


def test_wireguard_matches_zeek(net: Ingested, tshark: str) -> None:
    """Session against conn.log; one handshake initiation and response (wireguard.log), with
    the sender and receiver indexes Zeek printed; of the transport data, the first message each
    way, addressed to the receiver indexes Zeek printed (Zeek printed every message: 170)."""
    (conn,) = zeek(WIREGUARD, "conn.log.filtered")
    (session,) = rows(net, "sessions", WIREGUARD)
    assert (session["protocol"], session["kind"]) == ("wireguard", "tunnel")
    check_session(tshark, WIREGUARD, session, conn)
    (log,) = zeek(WIREGUARD, "wireguard.log")
    ops = rows(net, "operations", WIREGUARD, protocol="wireguard")
    by = {o["operation"]: o for o in ops if o["operation"] != "transport_data"}
    assert (by["handshake_initiation"]["pdus"], by["handshake_response"]["pdus"]) == (
        int(log["initiations"]), int(log["responses"]))  # fmt: skip
    printed = [line.split(", ") for line in zeek_text(WIREGUARD, "stdout")]
    (init,) = [p for p in printed if p[0] == "Handshake initiation"]
    (resp,) = [p for p in printed if p[0] == "Handshake response"]
    assert by["handshake_initiation"]["target"] == f"sender=0x{int(init[1]):08x}"
    assert by["handshake_response"]["target"] == (
        f"sender=0x{int(resp[1]):08x} receiver=0x{int(resp[2]):08x}")  # fmt: skip
    receivers = Counter(int(p[1]) for p in printed if p[0] == "packet_data")
    data = [o for o in ops if o["operation"] == "transport_data"]
    assert sorted((o["target"], o["pdus"]) for o in data) == sorted(
        (f"receiver=0x{r:08x}", 1) for r in receivers)  # fmt: skip
    assert len(tshark_json(tshark, WIREGUARD, "wg.type == 4")) == receivers.total() == 170


# =============================================================================== GTP

GTP = "gtpv1_cellular_gn_http_ip_fragmented.pcap"


def test_gtp_tunnel_and_inner_flow_match_zeek(net: Ingested, tshark: str) -> None:
    """tunnel.log's GTPv1 tunnel is one ``gtp`` tunnel session (conn.log: packets, bytes,
    duration as documented); the connection Zeek found inside it is a flow with
    ``tunnel = 'gtp'`` and its endpoints."""
    tunnels = zeek(GTP, "tunnel.log")
    conns = {r["uid"]: r for r in zeek(GTP, "conn.log")}
    (uid,) = {t["uid"] for t in tunnels if t["tunnel_type"] == "Tunnel::GTPv1"}
    (session,) = rows(net, "sessions", GTP)
    assert (session["protocol"], session["kind"], session["tunnel"]) == ("gtp", "tunnel", None)
    check_session(tshark, GTP, session, conns[uid])
    assert session["contacts"] is None  # the engine decapsulated its frames
    (inner,) = [c for c in conns.values() if c["tunnel_parents"] == uid]
    (flow,) = rows(net, "flows", GTP, tunnel="gtp")
    assert (flow["src_ip"], flow["src_port"], flow["dst_ip"], flow["dst_port"]) == zeek_ends(inner)
    client, server = conn_directions(tshark, GTP, conns[uid])
    assert flow["src_packets"] == int(inner["orig_pkts"]) + client.extra_frames()
    assert flow["dst_packets"] == int(inner["resp_pkts"]) + server.extra_frames()


def test_gtp_http_request_is_lost_with_its_second_fragment(net: Ingested, tshark: str) -> None:
    """R-NET-FRAG-FIRST: Zeek reassembles the outer fragments and logs the GET (host, user
    agent). The request's first segment travelled in a fragmented datagram; we read its first
    fragment only, so the inner TCP stream has a hole in each such segment (one per first
    fragment, as long as the payload of a second fragment), the request head cannot be decoded
    and neither the host name nor the user agent is in the tables. The response (206) is."""
    (http,) = zeek(GTP, "http.log")
    assert rows(net, "names", GTP) == []
    assert {i["attribute"] for i in rows(net, "identities", GTP)} == {"software"}  # the server's
    ops = rows(net, "operations", GTP, protocol="http")
    assert [(o["direction"], o["code"]) for o in ops] == [("response", int(http["status_code"]))]
    frames = tshark_frames(tshark, GTP)
    firsts = [f for f in frames if f.more and f.offset == 0]
    seconds = {f.ip_len - f.hdr_len for f in frames if not f.more and f.offset > 0}
    (tail,) = seconds
    (cov,) = rows(net, "coverage", GTP, protocol="http")
    assert (cov["gaps"], cov["gap_bytes"]) == (len(firsts), len(firsts) * tail)
    (software,) = rows(net, "identities", GTP, attribute="software")
    (response,) = ops
    header = tshark_payload(tshark, GTP, response["example_frames"][0])
    assert f"\r\nServer: {software['value']}\r\n".encode() in header
    assert software["ip"] == http["id.resp_h"]


def tshark_payload(tshark: str, capture: str, frame: int) -> bytes:
    """The innermost TCP payload of one frame, as tshark shows it."""
    out = _tshark(tshark, capture, "-Y", f"frame.number == {frame}", "-T", "fields",
                  "-E", "occurrence=l", "-e", "tcp.payload")  # fmt: skip
    return bytes.fromhex(out.strip().replace(":", ""))


# =============================================================================== HTTP, Telnet

VLAN_MPLS = "telnet_http_over_vlan_mpls.pcap"


def test_http_names_and_user_agents_match_zeek_http_log(net: Ingested) -> None:
    """Each http.log request with a Host is a 'connected' name of the client, with the server as
    peer; a request without one (HTTP/0.9) gives none; user agents are identities of the
    client; the methods and status codes are our operations."""
    log = zeek(VLAN_MPLS, "http.log")
    names = {
        (n["ip"], n["name"], n["action"], n["protocol"], n["peer_ip"])
        for n in rows(net, "names", VLAN_MPLS)
    }
    assert names == {(r["id.orig_h"], r["host"], "connected", "http", r["id.resp_h"])
                     for r in log if not unset(r["host"])}  # fmt: skip
    agents = {
        (i["ip"], i["value"]) for i in rows(net, "identities", VLAN_MPLS, attribute="user_agent")
    }
    assert agents == {(r["id.orig_h"], r["user_agent"]) for r in log if not unset(r["user_agent"])}
    ops = rows(net, "operations", VLAN_MPLS, protocol="http")
    requests = [o for o in ops if o["direction"] == "request"]
    assert pdus(requests, lambda o: (o["src_ip"], o["operation"].upper())) == Counter(
        (r["id.orig_h"], r["method"]) for r in log)  # fmt: skip
    # Zeek writes status 0 for the HTTP/0.9 answer, which has no status line: no response row
    responses = [o for o in ops if o["direction"] == "response"]
    statuses = [(r["id.orig_h"], int(r["status_code"])) for r in log if r["status_code"] != "0"]
    assert pdus(responses, lambda o: (o["dst_ip"], o["code"])) == Counter(statuses)


def test_telnet_session_matches_zeek_conn_log(net: Ingested, tshark: str) -> None:
    """The client-only telnet connection (MPLS label 29) is a session; Zeek in bare mode has no
    Telnet analyzer (service '-'), but its conn.log row is the same connection."""
    (conn,) = [c for c in zeek(VLAN_MPLS, "conn.log") if c["id.resp_p"] == "23"]
    assert unset(conn["service"])
    (session,) = rows(net, "sessions", VLAN_MPLS)
    assert (session["protocol"], session["kind"]) == ("telnet", "remote_access")
    check_session(tshark, VLAN_MPLS, session, conn)


# =============================================================================== all of them


def test_every_remote_access_or_tunnel_connection_zeek_logged_is_a_session(net: Ingested) -> None:
    """Across the captures, the connections Zeek attributes to SSH, RDP, VNC, OpenVPN, IPsec,
    WireGuard and GTP (and the port-23 one) are exactly our sessions."""
    logs = {"ssh.log", "rdp.log", "rfb.log", "tunnel.log"}
    services = ("ssh", "spicy_openvpn", "spicy_ipsec", "spicy_wireguard", "gtpv1")
    expected: set[tuple[str, str, int, str, int]] = set()
    for path in network_captures():
        folder = baseline_dir(path.name)
        for log in folder.iterdir():
            if log.name in logs:
                found = zeek(path.name, log.name)
            elif log.name.startswith("conn.log"):
                found = [
                    c
                    for c in zeek(path.name, log.name)
                    if c["service"].startswith(services) or c["id.resp_p"] == "23"
                ]
            else:
                continue
            expected |= {(path.name, *zeek_ends(r)) for r in found}
    ours = {(s["capture"], *ends(s)) for s in net.table("sessions")}
    assert ours == expected and len(ours) == 37
