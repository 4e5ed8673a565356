"""MQTT: which clients talk to which broker, and which topics they publish and subscribe to.

Cellular modems and IoT gateways on cranes often report over MQTT, and a broker outside the
port that publishes to a crane-side client is a command channel. Every MQTT control packet of a
reassembled TCP stream becomes one operation: CONNECT (client identifier, protocol level,
whether a user name and password were sent; the identifier becomes an identity fact), CONNACK
with its return or reason code, PUBLISH with its topic, SUBSCRIBE and UNSUBSCRIBE with their
topic filters, the acknowledgements, PINGREQ/PINGRESP, DISCONNECT and (MQTT 5) AUTH.

Specifications: MQTT Version 3.1.1 (OASIS Standard, 29 October 2014) sections 2.2 (fixed
header, Remaining Length) and 3 (control packets); MQTT Version 5.0 (OASIS Standard, 7 March
2019) sections 2.2.2 (properties) and 3; and MQTT V3.1 (IBM/Eurotech 2010, protocol name
``MQIsdp``, level 3), which differs from 3.1.1 only in the CONNECT names and return codes.

Hand-written because the maintained Python MQTT libraries are clients (paho-mqtt, gmqtt,
aiomqtt) or brokers (amqtt) that parse only their own side of a connection, and scapy's MQTT
layer is far too slow for whole captures. Payloads are never stored, passwords never read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "mqtt"
PORTS = (1883, 8883)

PACKET_TYPES = {1: "connect", 2: "connack", 3: "publish", 4: "puback", 5: "pubrec",
                6: "pubrel", 7: "pubcomp", 8: "subscribe", 9: "suback", 10: "unsubscribe",
                11: "unsuback", 12: "pingreq", 13: "pingresp", 14: "disconnect",
                15: "auth"}  # fmt: skip
#: packet types whose fixed-header flags must be exactly 0b0010 (all others but PUBLISH: 0)
FLAGS_0010 = {6, 8, 10}
PROTOCOL_NAMES = {b"MQTT": (4, 5), b"MQIsdp": (3,)}
LEVEL_NAMES = {3: "3.1", 4: "3.1.1", 5: "5.0"}
CONNACK_V3 = {0: "accepted", 1: "unacceptable_protocol_version", 2: "identifier_rejected",
              3: "server_unavailable", 4: "bad_user_name_or_password",
              5: "not_authorized"}  # fmt: skip
MAX_REMAINING = 268_435_455
MAX_TOPICS = 32  # topic filters listed in one target
MAX_TARGET = 300

# MQTT 5 property identifiers (section 2.2.2.2) -> value type
_BYTE, _U16, _U32, _VARINT, _STRING, _BINARY, _PAIR = range(7)
PROPERTIES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _STRING, 0x08: _STRING, 0x09: _BINARY, 0x0B: _VARINT,
    0x11: _U32, 0x12: _STRING, 0x13: _U16, 0x15: _STRING, 0x16: _BINARY, 0x17: _BYTE,
    0x18: _U32, 0x19: _BYTE, 0x1A: _STRING, 0x1C: _STRING, 0x1F: _STRING, 0x21: _U16,
    0x22: _U16, 0x23: _U16, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
PROP_ASSIGNED_CLIENT_ID, PROP_TOPIC_ALIAS, PROP_REASON_STRING = 0x12, 0x23, 0x1F


class Malformed(Exception):
    """The packet does not hold what its type says it should."""


def _flags_valid(first: int) -> bool:
    kind, flags = first >> 4, first & 0x0F
    if kind == 0:
        return False
    if kind == 3:
        return (flags >> 1) & 0x03 != 3  # QoS 3 is malformed
    return flags == (0b0010 if kind in FLAGS_0010 else 0)


def _varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(value, bytes used) of a Variable Byte Integer; None when incomplete; -1 value if >4."""
    value = shift = 0
    for used in range(1, 5):
        if pos + used > len(buf):
            return None
        byte = buf[pos + used - 1]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, used
        shift += 7
    return -1, 4


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise Malformed(f"needs {n} bytes at {self.pos}, has {self.left()}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        return self.binary().decode("utf-8", errors="replace")

    def varint(self) -> int:
        got = _varint(self.data, self.pos)
        if got is None or got[0] < 0:
            raise Malformed("bad variable byte integer")
        self.pos += got[1]
        return got[0]

    def properties(self) -> dict[int, Any]:
        """MQTT 5 properties: the ones this analyzer uses are returned, the rest skipped."""
        length = self.varint()
        end = self.pos + length
        if end > len(self.data):
            raise Malformed("property length beyond the packet")
        found: dict[int, Any] = {}
        while self.pos < end:
            ident = self.varint()
            kind = PROPERTIES.get(ident)
            if kind is None:
                raise Malformed(f"unknown property {ident:#04x}")
            if kind == _BYTE:
                value: Any = self.u8()
            elif kind == _U16:
                value = self.u16()
            elif kind == _U32:
                value = int.from_bytes(self.take(4), "big")
            elif kind == _VARINT:
                value = self.varint()
            elif kind == _STRING:
                value = self.string()
            elif kind == _BINARY:
                value = self.binary()
            else:
                value = (self.string(), self.string())
            found.setdefault(ident, value)
        if self.pos != end:
            raise Malformed("properties overrun their length")
        return found


@dataclass(slots=True)
class _Packet:
    """One packet being decoded: its reader, session facts, and what it yields."""

    flags: int  # the low nibble of the fixed header
    r: _Reader
    from_client: bool
    state: dict[str, Any]
    result: ParseResult
    level: int = 4  # protocol level learnt from CONNECT (3.1.1 when the capture missed it)
    detail: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    exception: int | None = None


class MqttAnalyzer:
    """MQTT 3.1, 3.1.1 and 5.0 control packets -> operations, CONNECT -> client_id."""

    name = NAME
    description = "MQTT 3.1/3.1.1/5.0 control packets (connect, publish, subscribe, ...)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        if _connect_level(client) is not None:
            score = 0.95
            if server[:1] == b"\x20" and self.pdu_length(server, 0) > 0:
                score = 0.98
            return score
        # Capture started mid-session: a chain of well-formed packets, ports as a hint.
        if server_port in PORTS and self._chain(client) and self._chain(server):
            return 0.5
        return 0.0

    def _chain(self, data: bytes) -> bool:
        """At least one whole packet, and every packet boundary in ``data`` well-formed."""
        pos = count = 0
        while pos < len(data) and count < 8:
            n = self.pdu_length(data, pos)
            if n < 0:
                return False
            if n == 0 or pos + n > len(data):
                break
            pos, count = pos + n, count + 1
        return count > 0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        if offset >= len(buf):
            return 0
        if not _flags_valid(buf[offset]):
            return -1
        got = _varint(buf, offset + 1)
        if got is None:
            return 0
        value, used = got
        if value < 0 or (used > 1 and value < 128 ** (used - 1)):  # overlong encodings
            return -1
        return 1 + used + value

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if len(pdu) < 2 or not _flags_valid(pdu[0]):
            return ParseResult(error="not an MQTT fixed header")
        got = _varint(pdu, 1)
        if got is None or got[0] < 0 or 1 + got[1] + got[0] != len(pdu):
            return ParseResult(error="Remaining Length does not match the packet")
        kind = pdu[0] >> 4
        r = _Reader(pdu, 1 + got[1])
        p = _Packet(pdu[0] & 0x0F, r, from_client, state, ParseResult(), state.get("level", 4))
        try:
            _BODY[kind](p)
            if r.left():
                p.result.error = f"{r.left()} bytes after the {PACKET_TYPES[kind]} packet"
        except Malformed as exc:
            p.result.error = f"malformed {PACKET_TYPES[kind]}: {exc}"
        operation = Operation(
            protocol=NAME,
            code=kind,
            name=PACKET_TYPES[kind],
            direction=_direction(kind, from_client),
            target=p.target[:MAX_TARGET] if p.target else None,
            is_read=kind in (8, 10),
            is_write=kind == 3,
            exception=p.exception,
            detail=p.detail or None,
        )
        p.result.operations.insert(0, operation)
        return p.result


def _direction(kind: int, from_client: bool) -> Literal["request", "response", "unsolicited"]:
    if kind in (2, 4, 5, 7, 9, 11, 13):
        return "response"
    if kind == 3 and not from_client:
        return "unsolicited"  # the broker delivers a message the client subscribed to
    if kind in (14, 15) and not from_client:
        return "unsolicited"
    return "request"


def _connect_level(data: bytes) -> int | None:
    """Protocol level of a CONNECT packet at the start of ``data``, or None."""
    if len(data) < 10 or data[0] != 0x10:
        return None
    got = _varint(data, 1)
    if got is None or got[0] < 10:
        return None
    pos = 1 + got[1]
    name_len = int.from_bytes(data[pos : pos + 2], "big")
    name = data[pos + 2 : pos + 2 + name_len]
    levels = PROTOCOL_NAMES.get(name)
    level_pos = pos + 2 + name_len
    if levels is None or level_pos >= len(data) or data[level_pos] not in levels:
        return None
    return data[level_pos]


def _connect(p: _Packet) -> None:
    r = p.r
    name, level, connect_flags, keep_alive = r.binary(), r.u8(), r.u8(), r.u16()
    if name not in PROTOCOL_NAMES or level not in PROTOCOL_NAMES[name]:
        raise Malformed(f"protocol {name!r} level {level}")
    p.state["level"] = p.level = level
    p.detail.update(protocol_name=name.decode(), protocol_version=LEVEL_NAMES[level],
                    clean_session=bool(connect_flags & 0x02), keep_alive=keep_alive,
                    username_present=bool(connect_flags & 0x80),
                    password_present=bool(connect_flags & 0x40))  # fmt: skip
    if level == 5:
        r.properties()
    client_id = p.detail["client_id"] = r.string()
    if client_id:
        p.result.identities.append(IdentityFact(NAME, "client_id", client_id))
        p.target = f"client_id={client_id}"
    if connect_flags & 0x04:  # Will flag
        if level == 5:
            r.properties()
        p.detail["will_topic"] = r.string()
        r.binary()  # will payload
    if connect_flags & 0x80:
        p.detail["username"] = r.string()
    if connect_flags & 0x40:
        r.binary()  # the password is skipped, never kept


def _connack(p: _Packet) -> None:
    ack_flags, code = p.r.u8(), p.r.u8()
    p.detail.update(session_present=bool(ack_flags & 0x01), return_code=code)
    if p.level == 5:
        assigned = (p.r.properties() if p.r.left() else {}).get(PROP_ASSIGNED_CLIENT_ID)
        if assigned:
            fact = IdentityFact(NAME, "client_id", assigned, 1.0, "receiver")
            p.result.identities.append(fact)
        if code >= 0x80:
            p.exception = code
    elif code:
        p.exception = code
        p.detail["connect_status"] = CONNACK_V3.get(code, str(code))


def _publish(p: _Packet) -> None:
    qos = (p.flags >> 1) & 0x03
    p.target = p.r.string()
    p.detail.update(qos=qos, retain=bool(p.flags & 0x01), dup=bool(p.flags & 0x08))
    if qos:
        p.detail["packet_id"] = p.r.u16()
    if p.level == 5:
        alias = p.r.properties().get(PROP_TOPIC_ALIAS)
        if alias is not None:
            p.detail["topic_alias"] = alias
            p.target = p.target or f"alias:{alias}"
    p.detail["payload_len"] = p.r.left()
    p.r.take(p.r.left())  # the payload is never kept


def _ack(p: _Packet) -> None:
    """PUBACK, PUBREC, PUBREL, PUBCOMP: packet id, and in MQTT 5 a reason code."""
    p.detail["packet_id"] = p.r.u16()
    if p.level == 5 and p.r.left():
        code = p.r.u8()
        if code >= 0x80:
            p.exception = code
        if p.r.left():
            p.r.properties()


def _topics(p: _Packet, with_options: bool) -> None:
    """SUBSCRIBE (topic filter + options) and UNSUBSCRIBE (topic filters)."""
    p.detail["packet_id"] = p.r.u16()
    if p.level == 5:
        p.r.properties()
    topics: list[str] = []
    qos: list[int] = []
    while p.r.left():
        topic = p.r.string()
        if with_options:
            qos.append(p.r.u8() & 0x03)
        if len(topics) < MAX_TOPICS:
            topics.append(topic)
    if not topics:
        raise Malformed("no topic filter")
    if with_options:
        p.detail["qos_levels"] = qos[:MAX_TOPICS]
    p.target = ",".join(topics)


def _suback(p: _Packet) -> None:
    """SUBACK and UNSUBACK: packet id, return/reason codes (UNSUBACK has none before 5.0)."""
    p.detail["packet_id"] = p.r.u16()
    if p.level == 5 and p.r.left():
        p.r.properties()
    codes = list(p.r.take(p.r.left()))
    p.detail["return_codes"] = codes[:MAX_TOPICS]
    p.exception = next((c for c in codes if c >= 0x80), None)


def _empty(p: _Packet) -> None:
    """PINGREQ and PINGRESP have no variable header."""


def _disconnect(p: _Packet) -> None:
    """DISCONNECT and AUTH: MQTT 5 adds a reason code and properties."""
    if p.level == 5 and p.r.left():
        code = p.detail["reason_code"] = p.r.u8()
        if code >= 0x80:
            p.exception = code
        if p.r.left():
            reason = p.r.properties().get(PROP_REASON_STRING)
            if reason:
                p.detail["reason_string"] = reason


_BODY: dict[int, Callable[[_Packet], None]] = {
    1: _connect, 2: _connack, 3: _publish, 4: _ack, 5: _ack, 6: _ack, 7: _ack,
    8: lambda p: _topics(p, True), 9: _suback, 10: lambda p: _topics(p, False), 11: _suback,
    12: _empty, 13: _empty, 14: _disconnect, 15: _disconnect,
}  # fmt: skip

ANALYZER = MqttAnalyzer()
