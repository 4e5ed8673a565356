"""One IKE message: the payload chain walk, and the operation and facts it yields.

:func:`parse_ike` walks the generic payload headers (RFC 2408 3.2, RFC 7296 3.2) from the
header's first payload type, each length checked against the message; ``_Message`` turns each
payload into the operation's detail (proposals, vendor ids, notify types, identities,
certificates, NAT detection, fragments) and into facts: vendor ids as ``software`` (and
Windows versions as ``os``), identification payloads as ``hostname``/``client_id``/
``ip_address`` of the sender (an IKEv2 IDr sent by the initiator names the receiver; IKEv1
phase 2 IDs are traffic selectors, not who the peer is), FQDNs and certificate names as names.

Encrypted messages (IKEv2 SK payload 46 and SKF fragments 53, IKEv1 with the encryption flag)
give their header as an operation and ``error="encrypted"``. A datagram shorter than the IKE
length (the dispatcher sees only the first fragment of an IP-fragmented datagram) gives its
header and an error saying so. The direction comes from the IKEv2 Response flag; IKEv1 has
none, so the flow state remembers which side opened each exchange.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import Direction, IdentityFact, NameFact, Operation, ParseResult
from cranewatch.protocols.ike._header import (
    HEADER,
    NAME,
    V1_EXCHANGES,
    V1_PAYLOADS,
    V2_EXCHANGES,
    V2_PAYLOADS,
    V2_SK,
    V2_SKF,
    _flags,
    _Header,
    header_plausible,
)
from cranewatch.protocols.ike._payloads import (
    DH_GROUPS,
    DPD_NOTIFY,
    ID_ATTRIBUTES,
    MAX_LIST,
    MAX_TEXT,
    NAT_D_NOTIFY,
    NOTIFY,
    _certificate,
    _identification,
    _name,
    _proposals,
)
from cranewatch.protocols.ike._vendor_ids import (
    UNKNOWN_VID_CONFIDENCE,
    VID_CONFIDENCE,
    WINDOWS_VERSIONS,
    vendor_id_name,
)

MAX_PAYLOADS = 64


class _Message:
    """What one IKE message yielded while its payloads are walked."""

    def __init__(self, head: _Header, from_client: bool) -> None:
        self.head = head
        self.v1 = head.major == 1
        self.result = ParseResult()
        self.detail: dict[str, Any] = {}
        self.payloads: list[str] = []
        self.exception: int | None = None
        self.encrypted = False
        self.from_client = from_client

    def identity(self, attribute: str, value: str, confidence: float, source: str,
                 about: Literal["sender", "receiver"] = "sender") -> None:  # fmt: skip
        self.result.identities.append(
            IdentityFact(NAME, attribute, value[:MAX_TEXT], confidence, about, source)
        )

    def payload(self, ptype: int, body: bytes) -> None:
        v1 = self.v1
        if (v1 and ptype == 1) or (not v1 and ptype == 33):  # SA
            if v1 and len(body) < 8:
                return
            proposals, error = _proposals(body[8:] if v1 else body, v1)
            self.detail.setdefault("proposals", []).extend(proposals)
            if error and not self.result.error:
                self.result.error = error
        elif (v1 and ptype == 13) or (not v1 and ptype == 43):  # Vendor ID
            self.vendor_id(body)
        elif (v1 and ptype in (20, 130)) or (not v1 and ptype == 41 and len(body) >= 4):
            if v1:
                self.detail["nat_detection"] = True
            else:
                self.notify(int.from_bytes(body[2:4], "big"))
        elif v1 and ptype == 11 and len(body) >= 8:
            self.notify(int.from_bytes(body[6:8], "big"))
        elif not v1 and ptype == 34 and len(body) >= 2:
            self.detail["ke_dh_group"] = _name(DH_GROUPS, int.from_bytes(body[0:2], "big"))
        elif (v1 and ptype == 5) or (not v1 and ptype in (35, 36)):
            self.identification(ptype, body)
        elif (v1 and ptype == 6) or (not v1 and ptype == 37):
            self.certificate(body)
        elif v1 and ptype == 132 and len(body) >= 4:  # Cisco IKEv1 fragment
            self.detail["fragment"] = {"id": int.from_bytes(body[0:2], "big"),
                                       "number": body[2], "last": bool(body[3] & 1)}  # fmt: skip
        elif not v1 and ptype == V2_SKF and len(body) >= 4:
            self.detail["fragment"] = {"number": int.from_bytes(body[0:2], "big"),
                                       "total": int.from_bytes(body[2:4], "big")}  # fmt: skip

    def vendor_id(self, data: bytes) -> None:
        found = vendor_id_name(data)
        names: list[str] = self.detail.setdefault("vendor_ids", [])
        if found is None:
            hexed = data[:64].hex()
            if len(names) < MAX_LIST:
                names.append(f"UNKNOWN:{hexed}")
            self.identity("software", hexed, UNKNOWN_VID_CONFIDENCE, "ike vendor id")
            return
        name, kind = found
        if len(names) < MAX_LIST:
            names.append(name)
        self.identity("software", name, VID_CONFIDENCE[kind], "ike vendor id")
        if kind == "windows":
            version = int.from_bytes(data[16:20], "big") if len(data) == 20 else None
            os_name = WINDOWS_VERSIONS[version][1] if version in WINDOWS_VERSIONS else "Windows"
            self.identity("os", os_name, 0.8, "ike vendor id (microsoft)")

    def notify(self, kind: int) -> None:
        notes: list[str] = self.detail.setdefault("notify", [])
        if len(notes) < MAX_LIST:
            notes.append(NOTIFY.get(kind, str(kind)))
        if kind in NAT_D_NOTIFY:
            self.detail["nat_detection"] = True
        elif kind in DPD_NOTIFY:
            self.detail["dead_peer_detection"] = True
        elif 0 < kind < 16384 and self.exception is None:  # error notify types
            self.exception = kind

    def identification(self, ptype: int, body: bytes) -> None:
        if len(body) < 4:
            return
        kind, value = _identification(body[0], body[4:])
        ident: dict[str, Any] = {"type": kind}
        if self.v1 and (body[1] or body[2] or body[3]):
            ident["protocol"], ident["port"] = body[1], int.from_bytes(body[2:4], "big")
        if value is not None:
            ident["value"] = value
        self.detail.setdefault("identification", []).append(ident)
        # IKEv1 phase 2 IDs (message id != 0) are traffic selectors, not who the peer is;
        # an IKEv2 IDr from the initiator names the responder it wants to reach
        attribute = ID_ATTRIBUTES.get(kind)
        if value is None or attribute is None or (self.v1 and self.head.message_id != 0):
            return
        about: Literal["sender", "receiver"] = "receiver" if ptype == 36 and \
            self.head.flags & 0x08 else "sender"  # fmt: skip
        confidence = 1.0 if about == "sender" and kind != "key_id" else 0.7
        self.identity(attribute, value, confidence, f"ike identification ({kind})", about)
        if kind == "fqdn" and about == "sender":
            self.result.names.append(NameFact(NAME, value, "announced"))

    def certificate(self, body: bytes) -> None:
        if len(body) < 2 or body[0] != 4:  # X.509 Certificate - Signature
            return
        info, names = _certificate(body[1:])
        certs = self.detail.setdefault("certificates", [])
        if len(certs) < 4:
            certs.append(info)
        for name in names:
            self.result.names.append(NameFact(NAME, name, "certified"))


def _direction(head: _Header, from_client: bool, state: dict[str, Any]) -> Direction:
    """IKEv2: the Response flag. IKEv1 has none: the side that opened the exchange (the one
    that sent the responder SPI as zero in phase 1, or first used a phase 2 message id) sends
    requests, the other answers; informational exchanges are one-way notifications."""
    if head.major == 2:
        return "response" if head.flags & 0x20 else "request"
    if head.exchange == 5:
        return "unsolicited"
    opened: dict[tuple[bytes, int], bool] = state.setdefault("ike_v1_opened", {})
    key = (head.ispi, head.message_id)
    if key not in opened:
        if len(opened) >= 256:
            opened.clear()
        if head.message_id == 0 and any(head.rspi):
            # phase 1 joined late: the initiator is whoever uses this SPI as its own; assume
            # the flow's initiator
            opened[key] = True
        else:
            opened[key] = from_client
    return "request" if opened[key] == from_client else "response"


def parse_ike(data: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
    """One IKE message (after any non-ESP marker)."""
    head = header_plausible(data)
    if head is None:
        if len(data) < HEADER:
            return ParseResult(error=f"IKE message of {len(data)} bytes, header needs {HEADER}")
        return ParseResult(error="not a valid IKE header")
    v1 = head.major == 1
    exchanges = V1_EXCHANGES if v1 else V2_EXCHANGES
    exchange = exchanges[head.exchange]
    msg = _Message(head, from_client)
    end = min(head.length, len(data))
    truncated = head.length > len(data)
    payload_names = V1_PAYLOADS if v1 else V2_PAYLOADS
    error: str | None = None
    if v1 and head.flags & 0x01:
        msg.encrypted = True
        if head.next_payload:
            msg.payloads.append(_name(payload_names, head.next_payload))
    else:
        ptype, pos = head.next_payload, HEADER
        while ptype and len(msg.payloads) < MAX_PAYLOADS:
            msg.payloads.append(_name(payload_names, ptype))
            if pos + 4 > end:
                error = f"{msg.payloads[-1]} payload header cut off at byte {pos}"
                break
            following, length = data[pos], int.from_bytes(data[pos + 2 : pos + 4], "big")
            if length < 4:
                error = f"{msg.payloads[-1]} payload length {length} < 4"
                break
            if pos + length > end:
                error = f"{msg.payloads[-1]} payload claims {length} bytes, has {end - pos}"
                if not v1 and ptype in (V2_SK, V2_SKF):
                    msg.encrypted = True
                    msg.payload(ptype, data[pos + 4 : end])
                break
            msg.payload(ptype, data[pos + 4 : pos + length])
            if not v1 and ptype in (V2_SK, V2_SKF):
                msg.encrypted = True  # the inner payloads are encrypted: SK is last
                break
            ptype, pos = following, pos + length
        else:
            if ptype:
                error = "too many payloads"
    if truncated:
        error = (f"truncated IKE message: {len(data)} of {head.length} bytes "
                 "(first fragment of an IP-fragmented datagram?)")  # fmt: skip
    elif error is None and msg.result.error:
        error = msg.result.error
    elif error is None and msg.encrypted:
        error = "encrypted"
    ispi, rspi = head.ispi.hex(), head.rspi.hex()
    version = f"{head.major}.{head.minor}"
    detail: dict[str, Any] = {"version": version, "initiator_spi": ispi, "responder_spi": rspi,
                              "exchange": exchange, "message_id": head.message_id,
                              "length": head.length, "flags": _flags(head),
                              "payloads": msg.payloads}  # fmt: skip
    if msg.encrypted:
        detail["encrypted"] = True
    detail.update(msg.detail)
    msg.result.operations.append(
        Operation(
            protocol=NAME,
            code=head.exchange,
            name=exchange,
            direction=_direction(head, from_client, state),
            target=f"ikev{head.major} {exchange} spi={ispi}/{rspi}",
            exception=msg.exception,
            detail=detail,
        )
    )
    msg.result.error = error
    return msg.result
