"""SNMP analyzer: inline messages of v1, v2c and v3 (every PDU type, traps, USM user and engine
id, encrypted scoped PDUs), the real captures against tshark and Zeek, detection over every
datagram of every capture, lying lengths and fuzzing."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._checks import check_datagram
from tests.protocols.network._oracle import datagram_claims, tshark_fields, tshark_frames

from cranewatch.protocols import _ber
from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer
from cranewatch.protocols.snmp import ANALYZER, oid_text, read_message, varbinds

CAPTURES = ("snmp_v1_get.pcap", "snmp_v2c_walk_short.pcap")


# -- a tiny BER writer for the inline messages -------------------------------------------------
def ber(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + length + content


def seq(*parts: bytes) -> bytes:
    return ber(0x30, b"".join(parts))


def integer(value: int) -> bytes:
    return ber(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def octets(value: bytes) -> bytes:
    return ber(0x04, value)


def oid(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return ber(0x06, bytes(out))


NULL = b"\x05\x00"


def pdu(tag: int, *bindings: tuple[str, bytes], request_id: int = 7, status: int = 0,
        index: int = 0) -> bytes:  # fmt: skip
    vbs = seq(*(seq(oid(o), v) for o, v in bindings))
    return ber(0xA0 | tag, integer(request_id) + integer(status) + integer(index) + vbs)


def v1(body: bytes, version: int = 0, community: bytes = b"s3cret-c0mmunity") -> bytes:
    return seq(integer(version), octets(community), body)


def v3(body: bytes, flags: int = 0x04, engine: bytes = bytes.fromhex("800000090300aabbccddeeff"),
       user: bytes = b"craneops") -> bytes:  # fmt: skip
    usm = seq(octets(engine), integer(3), integer(1234), octets(user),
              octets(b"\x11" * 12 if flags & 1 else b""), octets(b"\x22" * 8 if flags & 2 else b""))  # fmt: skip
    header = seq(integer(99), integer(65507), octets(bytes([flags])), integer(3))
    return seq(integer(3), header, octets(usm), body)


def scoped(body: bytes) -> bytes:
    return seq(octets(bytes.fromhex("800000090300aabbccddeeff")), octets(b""), body)


SYS_DESCR, SYS_OBJECT_ID, SYS_NAME = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0"


def parse(payload: bytes, from_client: bool = True, error: str | None = None):
    result = ANALYZER.parse(payload, from_client, {})
    assert result.error == error, result.error
    assert len(result.operations) == 1
    assert ANALYZER.detect(payload, from_client, 161) >= 0.9
    facts = {(i.attribute, i.value, i.about, i.source) for i in result.identities}
    return result.operations[0], facts


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "snmp" and ANALYZER.ports == (161, 162) and ANALYZER.ethertypes == ()


@pytest.mark.parametrize(
    ("tag", "name", "direction", "read", "write"),
    [
        (0, "get_request", "request", True, False),
        (1, "get_next_request", "request", True, False),
        (2, "response", "response", False, False),
        (3, "set_request", "request", False, True),
        (5, "get_bulk_request", "request", True, False),
        (6, "inform_request", "request", False, False),
        (7, "snmpv2_trap", "unsolicited", False, False),
        (8, "report", "response", False, False),
    ],
)
def test_pdu_types_v2c(tag: int, name: str, direction: str, read: bool, write: bool) -> None:
    message = v1(pdu(tag, (SYS_NAME, NULL), ("1.3.6.1.2.1.1.6.0", NULL)), version=1)
    op, _ = parse(message, from_client=direction == "request")
    assert (op.code, op.name, op.direction, op.is_read, op.is_write) == (tag, name, direction,
                                                                           read, write)  # fmt: skip
    assert op.target == f"{SYS_NAME} (+1 more)"
    assert op.detail["version"] == "2c" and op.detail["community_present"] is True
    assert op.detail["request_id"] == 7 and op.detail["bindings"] == 2
    assert "s3cret" not in repr(op) and "community" not in repr(op.detail).replace(
        "community_present", ""
    )


def test_response_identities_and_error_status() -> None:
    body = pdu(2, (SYS_DESCR, octets(b"RUT955 LTE router")), (SYS_NAME, octets(b"gw-7")),
               (SYS_OBJECT_ID, oid("1.3.6.1.4.1.48690.1")), ("1.3.6.1.2.1.1.3.0", b"\x43\x01\x05"))  # fmt: skip
    op, facts = parse(v1(body), from_client=False)
    assert op.detail["version"] == "1" and op.exception is None
    assert facts == {
        ("system_description", "RUT955 LTE router", "sender", "snmp sysDescr"),
        ("hostname", "gw-7", "sender", "snmp sysName"),
        ("platform", "1.3.6.1.4.1.48690.1", "sender", "snmp sysObjectID"),
    }
    failed, _ = parse(v1(pdu(2, (SYS_NAME, NULL), status=2, index=1)), from_client=False)
    assert failed.exception == 2 and failed.detail["error_index"] == 1


def test_requests_carry_no_identities_and_empty_community() -> None:
    op, facts = parse(v1(pdu(3, (SYS_NAME, octets(b"renamed"))), community=b""))
    assert op.is_write and facts == set() and op.detail["community_present"] is False


def test_get_bulk_repetitions() -> None:
    op, _ = parse(v1(pdu(5, ("1.3.6.1.2.1.2.2", NULL), status=0, index=25), version=1))
    assert op.detail["non_repeaters"] == 0 and op.detail["max_repetitions"] == 25
    assert "error_status" not in op.detail


def test_v1_trap_agent_address() -> None:
    trap = ber(0xA4, oid("1.3.6.1.4.1.9.1.1") + ber(0x40, bytes([10, 0, 0, 9])) + integer(6)
               + integer(42) + ber(0x43, b"\x10") + seq(seq(oid(SYS_NAME), octets(b"plc-gw"))))  # fmt: skip
    op, facts = parse(v1(trap), from_client=True)
    assert (op.code, op.name, op.direction) == (4, "trap", "unsolicited")
    assert op.detail["agent_addr"] == "10.0.0.9" and op.detail["enterprise"] == "1.3.6.1.4.1.9.1.1"
    assert (op.detail["generic_trap"], op.detail["specific_trap"]) == (6, 42)
    assert ("ip_address", "10.0.0.9", "sender", "snmp trap agent-addr") in facts
    assert ("hostname", "plc-gw", "sender", "snmp sysName") in facts


ENGINE = "800000090300aabbccddeeff"


def test_v3_authenticated_get_and_response() -> None:
    op, facts = parse(v3(scoped(pdu(0, (SYS_DESCR, NULL))), flags=0x05))
    assert (op.name, op.detail["version"], op.detail["user"]) == ("get_request", "3", "craneops")
    assert op.detail["authenticated"] and not op.detail["encrypted"]
    assert op.detail["security_model"] == "usm" and "community_present" not in op.detail
    assert facts == {("device_id", ENGINE, "receiver", "snmpv3 authoritative engine id")}
    op, facts = parse(v3(scoped(pdu(2, (SYS_DESCR, octets(b"IE-3400")))), flags=0x01), False)
    assert facts == {
        ("device_id", ENGINE, "sender", "snmpv3 authoritative engine id"),
        ("system_description", "IE-3400", "sender", "snmp sysDescr"),
    }
    assert "\\x11" not in repr(op.detail) and "11111111" not in repr(op.detail)


def test_v3_discovery_and_report() -> None:
    op, facts = parse(v3(scoped(pdu(0)), flags=0x04, engine=b"", user=b""))
    assert op.detail["user"] == "" and "engine_id" not in op.detail and facts == set()
    report = v3(scoped(pdu(8, ("1.3.6.1.6.3.15.1.1.4.0", b"\x41\x01\x01"))), flags=0x00)
    op, facts = parse(report, from_client=False)
    assert (op.code, op.name, op.direction) == (8, "report", "response")
    assert ("device_id", ENGINE, "sender", "snmpv3 authoritative engine id") in facts


def test_v3_encrypted_pdu() -> None:
    message = v3(octets(b"\xde\xad\xbe\xef" * 8), flags=0x07)
    op, facts = parse(message, error="encrypted")
    assert (op.code, op.name, op.direction) == (-1, "encrypted_pdu", "request")
    assert op.detail["encrypted"] and op.detail["user"] == "craneops"
    assert facts == {("device_id", ENGINE, "receiver", "snmpv3 authoritative engine id")}
    answer, _ = parse(v3(octets(b"\x00" * 16), flags=0x03), from_client=False, error="encrypted")
    assert answer.direction == "response"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not a BER SEQUENCE"),
        (b"\x30\x84\xff\xff\xff\xff" + b"\x02\x01\x00", "not a BER SEQUENCE"),  # maximal length
        (b"\x30\x00", "without version"),  # zero length
        (v1(pdu(0, (SYS_NAME, NULL)))[:-3], "not a BER SEQUENCE"),  # cut short
        (seq(integer(2), octets(b"x"), pdu(0)), "unknown SNMP version"),
        (seq(integer(0), integer(5), pdu(0)), "community"),
        (seq(integer(3), seq(integer(1)), octets(b""), seq()), "msgGlobalData"),
        (v1(ber(0xAF, integer(1) + integer(0) + integer(0) + seq())), "unknown PDU tag"),
    ],
)
def test_malformed_gives_errors(payload: bytes, reason: str) -> None:
    result = ANALYZER.parse(payload, True, {})
    assert result.error and reason in result.error, result.error
    assert ANALYZER.detect(payload, True, 161) < 0.5


def test_binding_whose_length_lies() -> None:
    good = v1(pdu(2, (SYS_NAME, octets(b"ok")), (SYS_DESCR, octets(b"x"))))
    bad = bytearray(good)
    pos = bytes(bad).rindex(b"\x04\x01x")
    bad[pos + 1] = 0x7F  # the last value claims 127 bytes
    result = ANALYZER.parse(bytes(bad), False, {})
    # the outer lengths now hold less than the value claims: still one PDU, with an error
    assert result.error and len(result.operations) == 1
    assert result.operations[0].detail["bindings"] == 1


def test_oid_text_bounds() -> None:
    assert oid_text(b"\x2b\x06\x01") == "1.3.6.1"
    assert oid_text(b"\x2b\x86") is None  # last arc continues past the end
    assert oid_text(b"\x2b" + b"\xff" * 11 + b"\x01") is None  # arc longer than 10 bytes
    assert oid_text(b"") is None


# -- real captures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> dict[str, list[O.Unit]]:
    return {c: sorted(O.run_datagrams(ANALYZER, O.CAPTURES / c), key=lambda u: u.first_frame)
            for c in CAPTURES}  # fmt: skip


def test_captures_parse_without_errors(units: dict[str, list[O.Unit]]) -> None:
    assert [len(units[c]) for c in CAPTURES] == [58, 400]
    for found in units.values():
        assert all(u.result.error is None for u in found)
        for u in found:
            assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)
            assert all("public" not in repr(op) for op in u.result.operations)


def _tshark(tshark: str, capture: str, *fields: str) -> list[list[str]]:
    return tshark_fields(tshark, capture, "snmp", "frame.number", *fields,
                         options=("-n", "-E", "occurrence=f"))  # fmt: skip


@pytest.mark.needs_tshark
@pytest.mark.parametrize("capture", CAPTURES)
def test_agrees_with_tshark(tshark: str, capture: str, units: dict[str, list[O.Unit]]) -> None:
    rows = _tshark(tshark, capture, "snmp.version", "snmp.data", "snmp.name", "snmp.request_id")
    ours = units[capture]
    assert [int(r[0]) for r in rows] == [u.first_frame for u in ours]
    versions = {"0": "1", "1": "2c", "3": "3"}
    for row, u in zip(rows, ours, strict=True):
        op = u.result.operations[0]
        assert (op.detail["version"], str(op.code)) == (versions[row[1]], row[2])
        assert op.target is not None and op.target.split(" ")[0] == row[3]
        assert str(op.detail["request_id"]) == row[4]
    counts = Counter(r[2] for r in rows)
    assert counts == Counter(str(u.result.operations[0].code) for u in ours)


@pytest.mark.needs_tshark
def test_sys_descr_agrees_with_tshark(tshark: str, units: dict[str, list[O.Unit]]) -> None:
    capture = "snmp_v2c_walk_short.pcap"
    rows = _tshark(tshark, capture, "snmp.name", "snmp.value.octets", "snmp.data")
    (descr,) = [bytes.fromhex(r[2]).decode() for r in rows if r[1] == SYS_DESCR and r[3] == "2"]
    facts = {(i.attribute, i.value) for u in units[capture] for i in u.result.identities}
    assert ("system_description", descr) in facts
    assert descr.startswith("Linux ubuntu-512mb-sfo2-01 4.4.0-31-generic")
    assert ("hostname", "ubuntu-512mb-sfo2-01") in facts
    assert ("platform", "1.3.6.1.4.1.8072.3.2.10") in facts


def _zeek_events() -> list[tuple[str, bool, int, list[str], str]]:
    """(event, is_orig, request_id, oids, community) of each event of Zeek's snmp_v1_get/out1."""
    text = (O.ZEEK / "snmp" / "snmp_v1_get" / "out1").read_text()
    events = []
    for block in re.split(r"\n(?=snmp_)", text.split("\n", 1)[1]):
        kind = block.split("\n", 1)[0].strip()
        orig = re.search(r"is_orig: (\w)", block)
        request = re.search(r"request_id: (\d+)", block)
        community = re.search(r"\[community=(.*)\]", block)
        assert orig and request and community
        events.append((kind, orig.group(1) == "T", int(request.group(1)),
                       re.findall(r"oid: ([\d.]+)", block), community.group(1)))  # fmt: skip
    return events


def test_agrees_with_zeek_v1_events(units: dict[str, list[O.Unit]]) -> None:
    zeek = _zeek_events()
    assert len(zeek) == 58 and {e[4] for e in zeek} == {"public"}
    ours = []
    for u in units["snmp_v1_get.pcap"]:
        op = u.result.operations[0]
        msg, _ = read_message(u.pdu)
        assert msg is not None and msg.pdu is not None
        bindings, _ = varbinds(u.pdu, msg.pdu)
        ours.append((f"snmp_{op.name}", u.direction == 0, op.detail["request_id"],
                     [b[0] for b in bindings], op.detail["community_present"]))  # fmt: skip
    assert [e[:4] for e in ours] == [e[:4] for e in zeek]
    assert all(e[4] for e in ours)  # a community was present (its value is never kept)
    sys_object = {(i.attribute, i.value) for u in units["snmp_v1_get.pcap"]
                  for i in u.result.identities}  # fmt: skip
    assert ("platform", "1.3.6.1.4.1.2001.1.1.1.297.93.1.27.2.2.1") in sys_object
    assert ("hostname", "B6300") in sys_object


def test_agrees_with_zeek_v2c_ip_addresses(units: dict[str, list[O.Unit]]) -> None:
    """Zeek's snmpwalk test prints the IpAddress values of the responses, in order."""
    zeek = [line for line in (O.ZEEK / "snmp" / "snmp_v2c_walk_short" / "stdout")
            .read_text().splitlines() if line and not line.startswith("#")]  # fmt: skip
    ours = []
    for u in units["snmp_v2c_walk_short.pcap"]:
        msg, _ = read_message(u.pdu)
        assert msg is not None and msg.pdu is not None
        if msg.pdu.is_(_ber.CONTEXT, 2):
            ours += [value for _, kind, value in varbinds(u.pdu, msg.pdu)[0]
                     if kind == "ipaddress"]  # fmt: skip
    assert len(zeek) == 30 and ours == zeek


# -- detection over every datagram of every capture ----------------------------------------
@pytest.mark.needs_tshark
def test_detection_by_content_over_all_captures(tshark: str) -> None:
    expected = tshark_frames(tshark, "snmp")
    assert sum(len(v) for v in expected.values()) == 458
    assert datagram_claims(ANALYZER, layer2=True) == expected


# -- fuzzing ---------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    check_datagram(ANALYZER, data, False, 161)


@fuzz_settings(300)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x30" + bytes([min(len(data), 0x7F)]) + data)


SEEDS = [v3(scoped(pdu(2, (SYS_DESCR, octets(b"x")))), flags=0x01),
         v3(octets(b"\x00" * 16), flags=0x07),
         v1(ber(0xA4, oid("1.3.6.1.4.1.9") + ber(0x40, b"\x0a\x00\x00\x01") + integer(6)
                + integer(1) + ber(0x43, b"\x01") + seq()))]  # fmt: skip


@fuzz_settings(300)
@given(st.data())
def test_fuzz_mutated_real_packets(units: dict[str, list[O.Unit]], data: st.DataObject) -> None:
    seeds = O.real_pdus([u for found in units.values() for u in found]) + SEEDS
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))
