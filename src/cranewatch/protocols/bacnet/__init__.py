"""BACnet analyzer: BACnet/IP (and BACnet/Ethernet) services, their targets, and device identity.

BACnet runs the building services of a port's E-houses, workshops and terminal buildings
(HVAC, lighting, access, fire panels) and sometimes crane auxiliaries. For cranewatch it tells
what was done (ReadProperty, WriteProperty, ReinitializeDevice and
DeviceCommunicationControl, which restart a controller or silence it, file transfers with
AtomicRead/WriteFile, COV subscriptions, ...) and who is there (I-Am gives the device instance
and vendor id; ReadProperty answers on the device object give vendor name, model, firmware,
software version and serial number).

:data:`ANALYZER` is a ``DatagramAnalyzer`` (see :mod:`cranewatch.protocols._base`). It takes a
BACnet/IP datagram (UDP 47808 by default: BVLC, Annex J), or the data of an IEEE 802.3 frame
that starts with the LLC header 0x82 0x82 0x03 (BACnet/Ethernet, clause 7), and reports one
``bacnet`` operation per APDU, network layer message or BVLC-only function. BACnet has four
code spaces, and ``code`` is the value in its own space: the confirmed or unconfirmed service
choice for APDUs, the message type for network layer messages, the function for BVLC-only
messages; ``detail["pdu_type"]`` says which, and the operation names never collide. Reject,
Abort and Segment-ACK carry no service choice: they take the service of the request with the
same invoke id when it was seen in the flow, else code -1 and the PDU type as name.

The wire format follows ANSI/ASHRAE Standard 135-2020 (see :mod:`._wire` and
:mod:`._services` for the clauses). It is parsed by hand because no maintained pure-Python
parser fits the per-datagram contract and its speed: scapy has no BACnet layer and is far too
slow anyway, and bacpypes3 and BAC0 are BACnet stacks that decode what their own
application sends and receives, not arbitrary traffic between third parties.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from cranewatch.protocols._base import Direction, IdentityFact, Operation, ParseResult
from cranewatch.protocols.bacnet import _codes as C
from cranewatch.protocols.bacnet import _services as S
from cranewatch.protocols.bacnet import _wire as W

__all__ = ["ANALYZER", "BacnetAnalyzer"]

BACNET_PORTS = tuple(range(47808, 47824))  # 0xBAC0 .. 0xBACF
MAX_TRANSACTIONS = 256  # invoke ids remembered per flow
MAX_SEGMENTED = 16  # segmented messages being reassembled per flow
MAX_SEGMENTED_BYTES = 1 << 20
ROUTED_CONFIDENCE = 0.5  # identity relayed by a router or BBMD for a device elsewhere


class BacnetAnalyzer:
    """BACnet/IP datagrams and BACnet/Ethernet (LLC) frames."""

    name = "bacnet"
    description = "BACnet/IP and BACnet/Ethernet: BVLC, network messages, services, identity"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = BACNET_PORTS
    ethertypes: tuple[int, ...] = ()  # BACnet/Ethernet is LLC (SAP 0x82), not an EtherType
    llc_saps: tuple[int, ...] = (0x82,)  # 802.3 frames whose LLC DSAP is BACnet's

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if payload[:3] == W.LLC_HEADER:
            return 0.9 if payload[3:4] == b"\x01" else 0.2
        if len(payload) < 4 or payload[0] not in (W.BVLC_TYPE_IP, W.BVLC_TYPE_IPV6):
            return 0.0
        if payload[1] > 0x0C:
            return 0.0
        score = _bvlc_score(payload)
        if int.from_bytes(payload[2:4], "big") != len(payload):
            score *= 0.5  # the BVLC length should be the datagram's
        if score and port in BACNET_PORTS:
            score = min(1.0, score + 0.08)
        return score

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        result = ParseResult()
        try:
            _parse(payload, from_client, state, result)
        except W.WireError as exc:
            result.error = str(exc)
        return result


def _bvlc_score(payload: bytes) -> float:
    if payload[0] == W.BVLC_TYPE_IPV6:
        return 0.6
    function, size = payload[1], len(payload)
    offset = C.BVLC_NPDU_OFFSET.get(function)
    if offset is None:
        fixed = {0x00: 6, 0x02: 4, 0x05: 6, 0x06: 4, 0x08: 10}
        if function in fixed:
            return 0.75 if size == fixed[function] else 0.2
        return 0.7 if (size - 4) % 10 == 0 else 0.2
    try:
        npdu = W.parse_npdu(payload, offset)
        if npdu.network_message is None:
            W.parse_apdu(payload, npdu.apdu)
    except W.WireError:
        return 0.2
    return 0.9


def _parse(payload: bytes, from_client: bool, state: dict[str, Any], result: ParseResult) -> None:
    detail: dict[str, Any] = {}
    if payload[:3] == W.LLC_HEADER:
        offset = 3
        detail["link"] = "ethernet"
    else:
        bvlc = W.parse_bvlc(payload)
        if bvlc.npdu is None:
            name = C.BVLC_FUNCTIONS[bvlc.function]
            detail.update(pdu_type="bvlc", **bvlc.detail)
            result.operations.append(_operation(bvlc.function, name, _bvlc_direction(name), None,
                                                None, detail))  # fmt: skip
            return
        offset = bvlc.npdu
        detail.update(bvlc.detail)
    npdu = W.parse_npdu(payload, offset)
    if npdu.dnet is not None:
        detail["dnet"] = npdu.dnet
    if npdu.snet is not None:
        detail.update(snet=npdu.snet, sadr=npdu.sadr.hex())
    if npdu.network_message is not None:
        code = npdu.network_message
        name = C.NETWORK_MESSAGES.get(code, f"network_message_0x{code:02x}")
        if npdu.vendor_id is not None:
            detail["vendor_id"] = npdu.vendor_id
        detail["pdu_type"] = "network"
        direction: Direction = "request" if code in (0x00, 0x06, 0x08, 0x09, 0x12) else (
            "response" if code == 0x07 else "unsolicited")  # fmt: skip
        result.operations.append(_operation(code, name, direction, None, None, detail))
        return
    _apdu(payload, npdu, from_client, state, result, detail)


def _apdu(payload: bytes, npdu: W.Npdu, from_client: bool, state: dict[str, Any],
          result: ParseResult, detail: dict[str, Any]) -> None:  # fmt: skip
    apdu = W.parse_apdu(payload, npdu.apdu)
    kind = apdu.pdu_type
    detail["pdu_type"] = C.PDU_TYPES[kind]
    if apdu.invoke_id is not None:
        detail["invoke_id"] = apdu.invoke_id
    if apdu.segmented:
        detail["segment"] = apdu.sequence
    transactions: OrderedDict[tuple[bool, int], tuple[int, str | None]] = state.setdefault(
        "bacnet_tx", OrderedDict()
    )
    # who asked: the sender of a request, abort or segment-ack from the client side, else the peer
    requester = (
        from_client if kind == 0 or (kind in (4, 7) and not apdu.server) else not from_client
    )
    key = (requester, apdu.invoke_id if apdu.invoke_id is not None else -1)
    exception, target = None, None
    if kind == 1:
        code = apdu.service if apdu.service is not None else -1
        name = C.UNCONFIRMED_SERVICES.get(code, f"unconfirmed_service_{code}")
    elif apdu.service is not None:
        code = apdu.service
        name = C.CONFIRMED_SERVICES.get(code, f"confirmed_service_{code}")
        if kind != 0 and key in transactions and transactions[key][0] == code:
            target = transactions[key][1]
    else:  # segment-ack, reject, abort: the service of the transaction, if it was seen
        code, target = transactions.get(key, (-1, None))
        name = C.CONFIRMED_SERVICES.get(code, C.PDU_TYPES[kind]) if code >= 0 else C.PDU_TYPES[kind]
        if kind in (6, 7) and apdu.reason is not None:
            table = C.REJECT_REASONS if kind == 6 else C.ABORT_REASONS
            detail["reason"] = C.name_of(table, apdu.reason, "reason")
            exception = apdu.reason
    if kind == 1:
        direction: Direction = "unsolicited" if name in C.UNSOLICITED else "request"
    elif kind == 0:
        direction = "request"
    elif kind in (4, 7):
        direction = "response" if apdu.server else "request"
    else:
        direction = "response"
    decoded = _decode(payload, apdu, key, state, result)
    if decoded is not None:
        if decoded.error:
            result.error = f"{C.PDU_TYPES[kind]} parameters: {decoded.error}"
        detail.update(decoded.detail)
        exception = decoded.exception if decoded.exception is not None else exception
        target = decoded.target or target
        relayed = npdu.snet is not None or "forwarded_from" in detail
        confidence = ROUTED_CONFIDENCE if relayed else 1.0
        for attribute, value, conf, about in dict.fromkeys(decoded.facts):
            result.identities.append(IdentityFact("bacnet", attribute, value, min(conf, confidence),
                                                  "sender" if about == "sender" else "receiver"))  # fmt: skip
    if kind == 0 and apdu.service is not None:
        transactions[key] = (code, target)
        transactions.move_to_end(key)
        while len(transactions) > MAX_TRANSACTIONS:
            transactions.popitem(last=False)
    result.operations.append(_operation(code, name, direction, target, exception, detail))


def _decode(payload: bytes, apdu: W.Apdu, key: tuple[bool, int], state: dict[str, Any],
            result: ParseResult) -> S.Decoded | None:  # fmt: skip
    """Service parameters of an unsegmented APDU, or of a segmented one once its last segment
    arrived (segments are joined per transaction, in order)."""
    try:
        if not apdu.segmented:
            return S.decode(apdu, payload)
        pending: OrderedDict[tuple[bool, int, int], tuple[int, bytearray]] = state.setdefault(
            "bacnet_segments", OrderedDict()
        )
        seg_key = (*key, apdu.pdu_type)
        body = payload[apdu.body :]
        if apdu.sequence == 0:
            pending[seg_key] = (1, bytearray(body))
            while len(pending) > MAX_SEGMENTED:
                pending.popitem(last=False)
        elif seg_key in pending:
            expected, joined = pending[seg_key]
            if expected != apdu.sequence or len(joined) + len(body) > MAX_SEGMENTED_BYTES:
                del pending[seg_key]  # a lost or reordered segment: give up on this message
                return None
            joined += body
            pending[seg_key] = ((expected + 1) & 0xFF, joined)
        if apdu.more_follows or seg_key not in pending:
            return None
        _, joined = pending.pop(seg_key)
        whole = W.Apdu(apdu.pdu_type, apdu.invoke_id, apdu.service, False, False, None, False,
                       None, 0)  # fmt: skip
        return S.decode(whole, bytes(joined))
    except W.WireError as exc:
        result.error = f"{C.PDU_TYPES[apdu.pdu_type]} parameters: {exc}"
        return None


def _bvlc_direction(name: str) -> Direction:
    return "response" if name.endswith(("_ack", "result")) else "request"


def _operation(code: int, name: str, direction: Direction, target: str | None,
               exception: int | None, detail: dict[str, Any]) -> Operation:  # fmt: skip
    return Operation(
        "bacnet", code, name, direction, target=target, is_read=name in C.READ,
        is_write=name in C.WRITE, is_control=name in C.CONTROL, is_diagnostic=name in C.DIAGNOSTIC,
        exception=exception, detail=detail,
    )  # fmt: skip


ANALYZER = BacnetAnalyzer()
