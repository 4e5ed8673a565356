"""EtherNet/IP and CIP analyzers: encapsulation commands, CIP services, identity, implicit I/O.

EtherNet/IP carries CIP, the object protocol of Rockwell/Allen-Bradley, Omron and many drive
and I/O vendors, on TCP and UDP port 44818, and cyclic I/O on UDP port 2222. For cranewatch it
answers both questions of issue 3: what the devices are (ListIdentity and the Identity
object's attributes give vendor id, device type, product code, revision, serial number and
product name) and what was done to them (CIP Set_Attribute, Reset, Start/Stop, Logix tag
writes, File object downloads, Forward Open of I/O connections, ...).

Two analyzers share this module, on the contract of :mod:`cranewatch.protocols._base`:

- :data:`ANALYZER` (a ``StreamAnalyzer``) frames a TCP stream into encapsulation PDUs and
  reports one ``enip`` operation per command, plus one ``cip`` operation per CIP service,
  counting every service nested in a Multiple Service Packet or an Unconnected Send;
- :data:`DATAGRAM_ANALYZER` (a ``DatagramAnalyzer``) does the same for UDP 44818 datagrams
  (ListIdentity broadcasts) and recognises class 0/1 implicit I/O (UDP 2222) as ``enip``
  operations named ``io_data`` (code 0x00B1, the Connected Data item that carries them).

:data:`ANALYZERS` lists both, as ``_base`` asks of a protocol carried over TCP and UDP.

The wire format follows *The CIP Networks Library* (ODVA) Volume 2, chapter 2 (encapsulation,
common packet format) and Volume 1 (CIP messages, EPATHs, Connection Manager, Identity object;
see :mod:`._cip`). It is parsed by hand because no maintained pure-Python parser fits the
per-PDU contract and its speed: scapy's ENIP layer is far too slow for captures of millions of
packets, and pycomm3/cpppo implement a client or a simulator, decoding only the replies to the
requests they sent themselves. Vendor ids are reported as numbers: mapping them to names (the
ODVA vendor list) is left to an enrichment step with a maintained dataset.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from cranewatch.protocols._base import Direction, IdentityFact, Operation, ParseResult
from cranewatch.protocols.enip import _cip
from cranewatch.protocols.enip import _codes as C
from cranewatch.protocols.enip import _wire as W

__all__ = [
    "ANALYZER",
    "ANALYZERS",
    "DATAGRAM_ANALYZER",
    "EnipDatagramAnalyzer",
    "EnipStreamAnalyzer",
]

ENIP_PORT = 44818
IO_PORT = 2222
MAX_PENDING = 64  # outstanding requests remembered per flow for request/response matching


class EnipStreamAnalyzer:
    """EtherNet/IP over TCP (port 44818): encapsulation PDUs and the CIP they carry."""

    name = "enip"
    description = "EtherNet/IP encapsulation and CIP explicit messaging (services, identity)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (ENIP_PORT,)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        c, s = _encap_score(client), _encap_score(server)
        if client and c == 0.0 and server and s == 0.0:
            return 0.0
        score = max(c, s)
        if c and s and client[:2] == server[:2]:
            score = min(1.0, score + 0.15)  # the server answered with the same command
        elif (client and not c) or (server and not s):
            score *= 0.3  # one side contradicts
        if score and server_port == ENIP_PORT:
            score = min(1.0, score + 0.05)
        return score

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return W.frame_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return _parse_encapsulated(pdu, from_client, state)


class EnipDatagramAnalyzer:
    """EtherNet/IP over UDP: encapsulation datagrams (44818) and implicit I/O (2222)."""

    name = "enip"
    description = "EtherNet/IP on UDP: ListIdentity discovery and CIP class 0/1 implicit I/O"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (ENIP_PORT, IO_PORT)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if W.looks_like_io(payload):
            return 0.95 if port == IO_PORT else 0.85
        header = W.parse_header(payload)
        if header is None or W.HEADER_LEN + header.length != len(payload):
            return 0.0
        score = _encap_score(payload)
        if score and port == ENIP_PORT:
            score = min(1.0, score + 0.1)
        return score

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        header = W.parse_header(payload)
        if header is not None and header.command in C.COMMANDS and header.options == 0:
            return _parse_encapsulated(payload, from_client, state)
        try:
            io = W.parse_io(payload)
        except W.WireError as exc:
            return ParseResult(error=f"neither encapsulation nor I/O: {exc}")
        detail: dict[str, Any] = {"connection_id": io.connection_id, "data_length": len(io.data)}
        if io.sequence is not None:
            detail["sequence"] = io.sequence
        op = Operation("enip", C.ITEM_CONNECTED_DATA, "io_data", "unsolicited",
                       target=f"connection 0x{io.connection_id:08x}", detail=detail)  # fmt: skip
        return ParseResult(operations=[op])


def _encap_score(buf: bytes) -> float:
    """How much the first bytes of one direction look like an encapsulation PDU."""
    header = W.parse_header(buf)
    if header is None or header.command not in C.COMMANDS or header.options != 0:
        return 0.0
    if header.length > W.MAX_DATA_LEN:
        return 0.0
    data = buf[W.HEADER_LEN : W.HEADER_LEN + header.length]
    complete = len(data) == header.length
    cmd = header.command
    if cmd == 0x0065:  # RegisterSession: protocol version 1, no options
        return 0.85 if header.length == 4 and data[:4] == b"\x01\x00\x00\x00" else 0.2
    if cmd == 0x0066 or cmd == 0x0000:
        return 0.5 if header.length == 0 or cmd == 0 else 0.2
    if not complete:
        return 0.6
    try:
        if cmd in C.DISCOVERY_COMMANDS:
            if header.length and not all(i.type_id in C.KNOWN_ITEMS for i in W.parse_cpf(data)):
                return 0.2
            return 0.8
        if cmd in (0x006F, 0x0070):
            items = W.parse_cpf(data, 6)
            if data[:4] != b"\0\0\0\0" or not items:
                return 0.2
            return 0.85 if all(i.type_id in C.KNOWN_ITEMS for i in items) else 0.2
    except W.WireError:
        return 0.1
    return 0.5


def _direction(cmd: int, length: int, from_client: bool) -> Direction:
    if cmd in C.DISCOVERY_COMMANDS:  # a request has no data, whoever sends it
        return "request" if length == 0 else "response"
    return "request" if from_client else "response"


def _parse_encapsulated(pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
    result = ParseResult()
    header = W.parse_header(pdu)
    if header is None:
        result.error = f"encapsulation header truncated ({len(pdu)} of 24 bytes)"
        return result
    cmd = header.command
    name = C.COMMANDS.get(cmd, f"command_0x{cmd:04x}")
    data = pdu[W.HEADER_LEN : W.HEADER_LEN + header.length]
    direction = _direction(cmd, header.length, from_client)
    detail: dict[str, Any] = {"session": header.session}
    if header.status:
        detail["status"] = header.status
    target = None
    try:
        if len(data) < header.length:
            raise W.WireError(f"data truncated ({len(data)} of {header.length} bytes)")
        if header.length == 0:
            pass  # a request without data, or an error reply
        elif cmd in (0x006F, 0x0070):
            target = _send_data(header, data, direction, state, result, detail)
        elif cmd == 0x0063 and direction == "response":
            _list_identity(data, result, detail)
        elif cmd == 0x0004 and direction == "response":
            for item in W.parse_cpf(data):
                if item.type_id == C.ITEM_LIST_SERVICES:
                    detail.update(W.parse_list_services_item(item.data))
        elif cmd == 0x0065 and len(data) >= 4:
            detail["protocol_version"] = int.from_bytes(data[:2], "little")
    except W.WireError as exc:
        result.error = f"{name}: {exc}"
    op = Operation(
        "enip", cmd, name, direction, target=target, is_diagnostic=cmd in C.DISCOVERY_COMMANDS,
        exception=header.status if header.status and direction == "response" else None,
        detail=detail,
    )  # fmt: skip
    result.operations.insert(0, op)
    return result


def _list_identity(data: bytes, result: ParseResult, detail: dict[str, Any]) -> None:
    for item in W.parse_cpf(data):
        if item.type_id != C.ITEM_IDENTITY:
            continue
        ident = W.parse_identity_item(item.data)
        detail.update(device_status=ident.status, device_state=ident.state)
        facts = _cip.identity_facts(ident.vendor_id, ident.device_type, ident.product_code,
                                    ident.revision, ident.serial, ident.product_name)  # fmt: skip
        facts.append(("ip_address", ident.ip, 1.0, "sender"))
        result.identities.extend(_facts("enip", facts))


def _send_data(
    header: W.Header,
    data: bytes,
    direction: Direction,
    state: dict[str, Any],
    result: ParseResult,
    detail: dict[str, Any],
) -> str | None:
    """SendRRData / SendUnitData: find the CIP message in the CPF and decode it."""
    items = W.parse_cpf(data, 6)
    target = None
    key: tuple[str, object] = ("rr", header.context)
    cip = None
    for item in items:
        if item.type_id == C.ITEM_CONNECTED_ADDRESS and len(item.data) == 4:
            conn = int.from_bytes(item.data, "little")
            detail["connection_id"] = conn
            target = f"connection 0x{conn:08x}"
        elif item.type_id == C.ITEM_CONNECTED_DATA and len(item.data) >= 2:
            seq = int.from_bytes(item.data[:2], "little")
            detail["sequence"] = seq
            key, cip = ("ud", seq), item.data[2:]
        elif item.type_id == C.ITEM_UNCONNECTED_DATA:
            cip = item.data
    if cip:
        _cip_message(cip, key, state, result)
    return target


def _cip_message(data: bytes, key: tuple[str, object], state: dict[str, Any],
                 result: ParseResult) -> None:  # fmt: skip
    pending: OrderedDict[tuple[str, object], list[_cip.ReqInfo]] = state.setdefault(
        "enip_pending", OrderedDict()
    )
    last: dict[int, _cip.ReqInfo] = state.setdefault("enip_last", {})
    req = None
    if data[0] & 0x80:
        service = data[0] & 0x7F
        candidates = pending.pop(key, [])
        req = next((c for c in candidates if c.service == service), last.get(service))
    try:
        msg = _cip.parse_message(data, req)
    except W.WireError as exc:
        result.error = f"cip: {exc}"
        msg = _cip.Message(data[0] & 0x7F, bool(data[0] & 0x80),
                           _cip.service_name(data[0] & 0x7F, None, False)[0])  # fmt: skip
    if msg.info is not None:
        candidates = [msg.info] + [n for n in msg.info.nested if n is not None]
        pending[key] = candidates
        while len(pending) > MAX_PENDING:
            pending.popitem(last=False)
        for info in candidates:
            last[info.service] = info
    for m in msg.walk():
        result.operations.append(_operation(m))
        result.identities.extend(_facts("cip", m.facts))
        if m.error and not result.error:
            result.error = m.error


def _operation(m: _cip.Message) -> Operation:
    detail = dict(m.detail)
    if m.path is not None:
        for key, value in (("class", m.path.class_id), ("instance", m.path.instance_id),
                           ("attribute", m.path.attribute_id)):  # fmt: skip
            if value is not None:
                detail[key] = value
    if m.ext_status:
        detail["extended_status"] = list(m.ext_status)
    if m.status:
        detail["status"] = C.GENERAL_STATUS.get(m.status, f"0x{m.status:02x}")
    failed = m.response and m.status not in (None, 0, C.STATUS_PARTIAL_TRANSFER)
    return Operation(
        "cip", m.service, m.name, "response" if m.response else "request", target=m.target,
        is_read=m.name in C.READ_SERVICES, is_write=m.name in C.WRITE_SERVICES,
        is_control=m.name in C.CONTROL_SERVICES, is_diagnostic=m.name in C.DIAGNOSTIC_SERVICES,
        exception=m.status if failed else None, detail=detail or None,
    )  # fmt: skip


def _facts(protocol: str, facts: list[_cip.Fact]) -> list[IdentityFact]:
    return [
        IdentityFact(protocol, attr, value, conf, "sender" if about == "sender" else "receiver")
        for attr, value, conf, about in facts
    ]


ANALYZER = EnipStreamAnalyzer()
DATAGRAM_ANALYZER = EnipDatagramAnalyzer()
ANALYZERS = (ANALYZER, DATAGRAM_ANALYZER)
