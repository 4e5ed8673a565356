"""SNMP: who manages which device, with which version and credentials, and what devices say.

SNMP (UDP 161 for agents, 162 for traps and informs) is how switches, routers, UPSs and
cellular gateways are monitored and configured. For cranewatch it matters twice: a modem or
router that answers SNMP tells its ``sysDescr`` (vendor, model, firmware), ``sysName`` and
``sysObjectID`` to anybody who asks, so a walk seen on the crane LAN inventories it; and SNMP
``set`` requests are writes to network gear, while v1/v2c communities are clear-text
credentials (their presence is reported, never their value) and v3 names its user.

Specifications followed: RFC 1157 (SNMPv1 message and Trap-PDU), RFC 3416 (SNMPv2 PDUs:
GetBulkRequest, InformRequest, SNMPv2-Trap, Report, and the noSuchObject / noSuchInstance /
endOfMibView exceptions), RFC 1901 (community-based SNMPv2c), RFC 3412 (SNMPv3 message:
msgGlobalData with msgFlags, ScopedPDU or encryptedPDU) and RFC 3414 (USM security parameters:
msgAuthoritativeEngineID, msgUserName, authentication and privacy parameters), RFC 2578 (the
SMIv2 application types). Encoding: ASN.1 BER (ITU-T X.690), read with the bounded reader in
:mod:`cranewatch.protocols._ber`.

One operation per message: code = the PDU's context tag (0 get_request, 1 get_next_request,
2 response, 3 set_request, 4 trap, 5 get_bulk_request, 6 inform_request, 7 snmpv2_trap,
8 report), target = the first OID (``+N more``), ``is_read`` for the get requests,
``is_write`` for set; detail: version, whether a community was present, request id, error
status/index, number of bindings and, for v3, the user name, the security flags and the
engine id. An SNMPv3 message with the privacy flag set gives an ``encrypted_pdu`` operation
(code -1) and ``error="encrypted"``. Identities: from a response, report or trap, ``sysDescr``
-> ``system_description``, ``sysName`` -> ``hostname``, ``sysObjectID`` -> ``platform`` (the OID
text); a v1 trap's agent-addr -> ``ip_address``; a v3 authoritative engine id -> ``device_id``
(hex; about the sender of responses, reports and traps, about the receiver of requests).

Hand-written: pysnmp/pyasn1 decode full messages through a schema and are far too slow per
datagram (and raise on every malformed one); scapy's SNMP layer likewise; dpkt's SNMP is
v1-only. The bounded BER reader already used by MMS and GOOSE is all that is needed.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _ber
from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "snmp"
PORT_AGENT, PORT_TRAP = 161, 162

PDU_NAMES = {
    0: "get_request",
    1: "get_next_request",
    2: "response",
    3: "set_request",
    4: "trap",
    5: "get_bulk_request",
    6: "inform_request",
    7: "snmpv2_trap",
    8: "report",
}
READS = {0, 1, 5}
REQUESTS = {0, 1, 3, 5, 6}
RESPONSES = {2, 8}
TRAPS = {4, 7}
VERSIONS = {0: "1", 1: "2c", 3: "3"}

OID_SYS_DESCR = "1.3.6.1.2.1.1.1.0"
OID_SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
OID_SYS_NAME = "1.3.6.1.2.1.1.5.0"
#: varbind OID -> (identity attribute, source)
SYSTEM_OIDS = {
    OID_SYS_DESCR: ("system_description", "snmp sysDescr"),
    OID_SYS_NAME: ("hostname", "snmp sysName"),
    OID_SYS_OBJECT_ID: ("platform", "snmp sysObjectID"),
}

FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE = 0x01, 0x02, 0x04
SECURITY_MODELS = {1: "v1", 2: "v2c", 3: "usm", 4: "tsm"}

#: varbind value tags: (class, number) -> type name
T_INTEGER, T_OCTETS, T_NULL, T_OID = 2, 4, 5, 6
APP_IPADDRESS, APP_COUNTER32, APP_GAUGE32, APP_TIMETICKS, APP_OPAQUE, APP_COUNTER64 = (
    0,
    1,
    2,
    3,
    4,
    6,
)

MAX_BINDINGS = 256
MAX_OID_ARCS = 128
MAX_TEXT = 255
MAX_TARGET = 200


def oid_text(raw: bytes) -> str | None:
    """An OBJECT IDENTIFIER's value bytes as dotted text (None when malformed)."""
    if not raw or len(raw) > 4 * MAX_OID_ARCS:
        return None
    arcs: list[int] = []
    value = 0
    nbytes = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        nbytes += 1
        if nbytes > 10:
            return None
        if not byte & 0x80:
            arcs.append(value)
            value = nbytes = 0
    if nbytes:
        return None  # the last arc continues past the end
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:MAX_OID_ARCS])


def _printable(raw: bytes) -> str:
    text = raw[:MAX_TEXT].decode("utf-8", errors="replace")
    return "".join(ch for ch in text if ch.isprintable() or ch in "\r\n\t").strip()


def value_text(buf: bytes, tlv: _ber.Tlv) -> tuple[str, str]:
    """(type name, readable value) of a varbind value."""
    raw = buf[tlv.start : tlv.end]
    if tlv.cls == _ber.UNIVERSAL:
        if tlv.number == T_INTEGER:
            number = _ber.integer(buf, tlv)
            return "integer", "" if number is None else str(number)
        if tlv.number == T_OCTETS:
            return "octets", _printable(raw)
        if tlv.number == T_NULL:
            return "null", ""
        if tlv.number == T_OID:
            return "oid", oid_text(raw) or ""
    elif tlv.cls == _ber.APPLICATION:
        if tlv.number == APP_IPADDRESS:
            return "ipaddress", ".".join(str(b) for b in raw) if len(raw) == 4 else raw.hex()
        if tlv.number in (APP_COUNTER32, APP_GAUGE32, APP_TIMETICKS, APP_COUNTER64):
            names = {1: "counter32", 2: "gauge32", 3: "timeticks", 6: "counter64"}
            return names[tlv.number], str(int.from_bytes(raw[:9], "big"))
        if tlv.number == APP_OPAQUE:
            return "opaque", raw[:64].hex()
    elif tlv.cls == _ber.CONTEXT and not tlv.constructed:
        names = {0: "no_such_object", 1: "no_such_instance", 2: "end_of_mib_view"}
        return names.get(tlv.number, f"context_{tlv.number}"), ""
    return f"tag_{tlv.cls}_{tlv.number}", raw[:64].hex()


def varbinds(buf: bytes, pdu: _ber.Tlv) -> tuple[list[tuple[str, str, str]], bool]:
    """(oid, value type, value) of the bindings of a PDU; True when the list was cut short."""
    items = list(_ber.children(buf, pdu))
    if not items or not items[-1].is_(_ber.UNIVERSAL, 16, True):
        return [], True
    out: list[tuple[str, str, str]] = []
    broken = False
    end = items[-1].start
    for binding in _ber.children(buf, items[-1]):
        end = binding.end
        if len(out) >= MAX_BINDINGS:
            return out, False  # the rest is not looked at
        parts = list(_ber.children(buf, binding)) if binding.constructed else []
        oid = None
        if len(parts) == 2 and parts[0].is_(_ber.UNIVERSAL, T_OID, False):
            oid = oid_text(buf[parts[0].start : parts[0].end])
        if oid is None:
            broken = True
            continue
        kind, text = value_text(buf, parts[1])
        out.append((oid, kind, text))
    if end != items[-1].end:
        broken = True  # a binding's length lies: children() stopped there
    return out, broken


class Message:
    """The header fields of one SNMP message, and where its PDU is."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.community_present = False
        self.user: str | None = None
        self.engine_id: str | None = None
        self.flags = 0
        self.security_model: int | None = None
        self.pdu: _ber.Tlv | None = None
        self.encrypted = False
        self.context_name: str | None = None


def read_message(buf: bytes) -> tuple[Message | None, str | None]:
    """The message header and PDU position, or an error."""
    top = _ber.read_tlv(buf, 0)
    if top is None or not top.is_(_ber.UNIVERSAL, 16, True):
        return None, "not a BER SEQUENCE (or its length lies)"
    parts = list(_ber.children(buf, top))
    if len(parts) < 3 or not parts[0].is_(_ber.UNIVERSAL, T_INTEGER, False):
        return None, "SNMP message without version"
    msg = Message()
    msg.version = _ber.integer(buf, parts[0])
    if msg.version in (0, 1):
        if not parts[1].is_(_ber.UNIVERSAL, T_OCTETS, False):
            return msg, "community is not an OCTET STRING"
        msg.community_present = parts[1].end > parts[1].start
        if parts[2].cls != _ber.CONTEXT or not parts[2].constructed:
            return msg, "no PDU after the community"
        msg.pdu = parts[2]
        return msg, None
    if msg.version != 3:
        return msg, f"unknown SNMP version {msg.version}"
    return msg, _read_v3(buf, parts, msg)


def _read_v3(buf: bytes, parts: list[_ber.Tlv], msg: Message) -> str | None:
    if len(parts) < 4:
        return "SNMPv3 message cut short"
    header = list(_ber.children(buf, parts[1])) if parts[1].constructed else []
    if len(header) < 4 or not header[2].is_(_ber.UNIVERSAL, T_OCTETS, False):
        return "SNMPv3 msgGlobalData malformed"
    flags = buf[header[2].start : header[2].end]
    msg.flags = flags[0] if flags else 0
    msg.security_model = _ber.integer(buf, header[3])
    params = parts[2]
    if params.is_(_ber.UNIVERSAL, T_OCTETS, False) and msg.security_model == 3:
        usm = _ber.read_tlv(buf, params.start, params.end)
        if usm is not None and usm.is_(_ber.UNIVERSAL, 16, True):
            fields = list(_ber.children(buf, usm))
            if len(fields) >= 4:
                engine = buf[fields[0].start : fields[0].end]
                if engine:
                    msg.engine_id = engine[:64].hex()
                msg.user = _printable(buf[fields[3].start : fields[3].end])
    data = parts[3]
    if msg.flags & FLAG_PRIV or data.is_(_ber.UNIVERSAL, T_OCTETS, False):
        msg.encrypted = True
        return None
    if not data.is_(_ber.UNIVERSAL, 16, True):
        return "SNMPv3 msgData is neither a ScopedPDU nor encrypted"
    scoped = list(_ber.children(buf, data))
    if len(scoped) < 3 or scoped[2].cls != _ber.CONTEXT or not scoped[2].constructed:
        return "SNMPv3 ScopedPDU without a PDU"
    msg.context_name = _printable(buf[scoped[1].start : scoped[1].end])
    msg.pdu = scoped[2]
    return None


def _first_ints(buf: bytes, pdu: _ber.Tlv, n: int) -> list[int | None]:
    out: list[int | None] = []
    for tlv in _ber.children(buf, pdu):
        if len(out) >= n:
            break
        out.append(_ber.integer(buf, tlv) if tlv.is_(_ber.UNIVERSAL, T_INTEGER, False) else None)
    return out + [None] * (n - len(out))


class SnmpAnalyzer:
    """SNMP datagrams -> one operation per message, plus what agents say about themselves."""

    name = NAME
    description = "SNMP v1/v2c/v3 (RFC 1157, 3416, 3412, 3414) on UDP 161/162"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT_AGENT, PORT_TRAP)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if not payload or payload[0] != 0x30:
            return 0.0
        msg, error = read_message(payload)
        if msg is None:
            return 0.0
        if msg.version not in (0, 1, 3):
            return 0.1
        if error is not None:
            return 0.3
        if msg.encrypted:
            return 0.9 if msg.security_model == 3 else 0.6
        assert msg.pdu is not None
        if msg.pdu.number not in PDU_NAMES:
            return 0.3
        _, broken = varbinds(payload, msg.pdu)
        if broken:
            return 0.5
        return 0.95

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload, from_client)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed SNMP message: {exc}")

    def _parse(self, buf: bytes, from_client: bool) -> ParseResult:
        msg, error = read_message(buf)
        if msg is None:
            return ParseResult(error=error)
        detail: dict[str, Any] = {"version": VERSIONS.get(msg.version or 0, str(msg.version))}
        if msg.version in (0, 1):
            detail["community_present"] = msg.community_present
        if msg.version == 3:
            detail["security_model"] = SECURITY_MODELS.get(msg.security_model or 0,
                                                           str(msg.security_model))  # fmt: skip
            detail["authenticated"] = bool(msg.flags & FLAG_AUTH)
            detail["encrypted"] = bool(msg.flags & FLAG_PRIV)
            if msg.user is not None:
                detail["user"] = msg.user
            if msg.engine_id is not None:
                detail["engine_id"] = msg.engine_id
            if msg.context_name:
                detail["context_name"] = msg.context_name
        result = ParseResult(error=error)
        if msg.encrypted:
            reportable = bool(msg.flags & FLAG_REPORTABLE)
            direction: Literal["request", "response", "unsolicited"] = (
                "request" if reportable else "response" if not from_client else "unsolicited"
            )
            result.error = "encrypted"
            result.operations.append(
                Operation(NAME, -1, "encrypted_pdu", direction, None, detail=detail)
            )
            result.identities += _engine_fact(msg, about_sender=not reportable)
            return result
        if msg.pdu is None:
            return result
        code = msg.pdu.number
        name = PDU_NAMES.get(code)
        if name is None:
            result.error = f"unknown PDU tag {code}"
            return result
        if code in REQUESTS:
            direction = "request"
        elif code in RESPONSES:
            direction = "response"
        else:
            direction = "unsolicited"
        bindings, broken = varbinds(buf, msg.pdu)
        if broken and result.error is None:
            result.error = "variable bindings malformed or cut short"
        exception: int | None = None
        if code == 4:
            _trap_v1(buf, msg.pdu, detail, result)
        else:
            request_id, status, index = _first_ints(buf, msg.pdu, 3)
            detail["request_id"] = request_id
            if code == 5:
                detail["non_repeaters"], detail["max_repetitions"] = status, index
            else:
                detail["error_status"], detail["error_index"] = status, index
                if code in RESPONSES and status:
                    exception = status
        detail["bindings"] = len(bindings)
        target = None
        if bindings:
            target = bindings[0][0]
            if len(bindings) > 1:
                target += f" (+{len(bindings) - 1} more)"
        if code in RESPONSES or code in TRAPS:
            for oid, kind, value in bindings:
                spec = SYSTEM_OIDS.get(oid)
                if spec is not None and value and kind in ("octets", "oid"):
                    result.identities.append(
                        IdentityFact(NAME, spec[0], value[:MAX_TEXT], 1.0, "sender", spec[1])
                    )
        if msg.version == 3:
            result.identities += _engine_fact(msg, about_sender=code in RESPONSES | TRAPS)
        result.operations.append(
            Operation(
                protocol=NAME,
                code=code,
                name=name,
                direction=direction,
                target=target[:MAX_TARGET] if target else None,
                is_read=code in READS,
                is_write=code == 3,
                exception=exception,
                detail=detail,
            )
        )
        return result


def _engine_fact(msg: Message, about_sender: bool) -> list[IdentityFact]:
    if not msg.engine_id:
        return []
    return [
        IdentityFact(
            NAME,
            "device_id",
            msg.engine_id,
            1.0 if about_sender else 0.9,
            "sender" if about_sender else "receiver",
            "snmpv3 authoritative engine id",
        )
    ]


def _trap_v1(buf: bytes, pdu: _ber.Tlv, detail: dict[str, Any], result: ParseResult) -> None:
    """SNMPv1 Trap-PDU: enterprise, agent-addr, generic-trap, specific-trap, time-stamp."""
    fields = list(_ber.children(buf, pdu))
    if len(fields) < 5:
        result.error = result.error or "SNMPv1 Trap-PDU cut short"
        return
    if fields[0].is_(_ber.UNIVERSAL, T_OID, False):
        detail["enterprise"] = oid_text(buf[fields[0].start : fields[0].end])
    agent = buf[fields[1].start : fields[1].end]
    if fields[1].is_(_ber.APPLICATION, APP_IPADDRESS, False) and len(agent) == 4 and any(agent):
        address = ".".join(str(b) for b in agent)
        detail["agent_addr"] = address
        result.identities.append(
            IdentityFact(NAME, "ip_address", address, 0.9, "sender", "snmp trap agent-addr")
        )
    detail["generic_trap"] = _ber.integer(buf, fields[2])
    detail["specific_trap"] = _ber.integer(buf, fields[3])


ANALYZER = SnmpAnalyzer()
