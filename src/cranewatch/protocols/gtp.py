"""GTP: the cellular core's tunnels, and the subscriber and equipment ids its signalling names.

A cellular modem on a crane is a subscriber of a mobile network. Where the capture point sees
the operator side (a private APN, a campus 4G/5G core, a lab eNodeB) or a router that carries
GTP itself, GTP-C signalling names the modem: its IMSI (SIM), MSISDN (phone number), IMEI(SV)
(the hardware) and the APN it connects to. Those are the strongest identities a hidden modem can
leave. GTP-U carries the modem's user traffic; the packet engine decapsulates it (datagrams with
an inner IP packet become flows of their own, marked as tunnelled), so on UDP 2152 this analyzer
only sees GTP-U signalling: Echo, Error Indication, End Marker, Supported Extension Headers
Notification, and G-PDUs whose payload is not IP.

Every message becomes one operation, code = the message type, target = the TEID. GTPv1-C
(create/update/delete PDP context, SGSN context, ...) and GTPv2-C (create/modify/delete
session, bearers, echo, ...) information elements are walked with a bound: IMSI, MSISDN,
IMEI(SV) / MEI and APN become identity facts about the sender (the SGSN/MME/S-GW that sends the
subscriber's ids on its behalf), with sources such as "gtpv1-c create pdp context request
IMSI"; the Cause IE of a response gives the exception when it is a rejection (v1 >= 192,
v2 >= 64). G-PDUs are reported for the first three of a flow and only counted after that.

Specifications: 3GPP TS 29.060 (GTPv1-C, sections 6 header, 7.1 message types, 7.7
information elements and their fixed lengths), TS 29.274 (GTPv2-C, sections 5 header, 6.1
message types, 8 information elements), TS 29.281 (GTP-U header and extension headers), TS
23.003 (IMSI/MSISDN/IMEI structure, APN label encoding) and TS 29.002 (TBCD strings).

Hand-written: there is no maintained pure-Python GTP parser; scapy's contrib GTP layers are
far too slow per packet and dpkt has no GTP module. The header and the TLV/TV walk are small.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "gtp"
PORT_C, PORT_U = 2123, 2152
MAX_IES = 96
MAX_TEXT = 255
G_PDU_OPERATIONS = 3

Direction = Literal["request", "response", "unsolicited"]

V1_MESSAGES = {
    1: "echo_request", 2: "echo_response", 3: "version_not_supported",
    4: "node_alive_request", 5: "node_alive_response", 6: "redirection_request",
    7: "redirection_response", 16: "create_pdp_context_request",
    17: "create_pdp_context_response", 18: "update_pdp_context_request",
    19: "update_pdp_context_response", 20: "delete_pdp_context_request",
    21: "delete_pdp_context_response", 22: "initiate_pdp_context_activation_request",
    23: "initiate_pdp_context_activation_response", 26: "error_indication",
    27: "pdu_notification_request", 28: "pdu_notification_response",
    29: "pdu_notification_reject_request", 30: "pdu_notification_reject_response",
    31: "supported_extension_headers_notification",
    32: "send_routeing_information_for_gprs_request",
    33: "send_routeing_information_for_gprs_response", 34: "failure_report_request",
    35: "failure_report_response", 36: "note_ms_gprs_present_request",
    37: "note_ms_gprs_present_response", 48: "identification_request",
    49: "identification_response", 50: "sgsn_context_request", 51: "sgsn_context_response",
    52: "sgsn_context_acknowledge", 53: "forward_relocation_request",
    54: "forward_relocation_response", 55: "forward_relocation_complete",
    56: "relocation_cancel_request", 57: "relocation_cancel_response",
    58: "forward_srns_context", 59: "forward_relocation_complete_acknowledge",
    60: "forward_srns_context_acknowledge", 61: "ue_registration_query_request",
    62: "ue_registration_query_response", 70: "ran_information_relay",
    240: "data_record_transfer_request", 241: "data_record_transfer_response",
    254: "end_marker", 255: "g_pdu",
}  # fmt: skip
V2_MESSAGES = {
    1: "echo_request", 2: "echo_response", 3: "version_not_supported_indication",
    32: "create_session_request", 33: "create_session_response",
    34: "modify_bearer_request", 35: "modify_bearer_response",
    36: "delete_session_request", 37: "delete_session_response",
    38: "change_notification_request", 39: "change_notification_response",
    40: "remote_ue_report_notification", 41: "remote_ue_report_acknowledge",
    64: "modify_bearer_command", 65: "modify_bearer_failure_indication",
    66: "delete_bearer_command", 67: "delete_bearer_failure_indication",
    68: "bearer_resource_command", 69: "bearer_resource_failure_indication",
    70: "downlink_data_notification_failure_indication", 71: "trace_session_activation",
    72: "trace_session_deactivation", 73: "stop_paging_indication",
    95: "create_bearer_request", 96: "create_bearer_response",
    97: "update_bearer_request", 98: "update_bearer_response",
    99: "delete_bearer_request", 100: "delete_bearer_response",
    101: "delete_pdn_connection_set_request", 102: "delete_pdn_connection_set_response",
    103: "pgw_downlink_triggering_notification", 104: "pgw_downlink_triggering_acknowledge",
    128: "identification_request", 129: "identification_response",
    130: "context_request", 131: "context_response", 132: "context_acknowledge",
    133: "forward_relocation_request", 134: "forward_relocation_response",
    135: "forward_relocation_complete_notification",
    136: "forward_relocation_complete_acknowledge",
    137: "forward_access_context_notification", 138: "forward_access_context_acknowledge",
    139: "relocation_cancel_request", 140: "relocation_cancel_response",
    141: "configuration_transfer_tunnel", 149: "detach_notification",
    150: "detach_acknowledge", 151: "cs_paging_indication", 152: "ran_information_relay",
    153: "alert_mme_notification", 154: "alert_mme_acknowledge",
    155: "ue_activity_notification", 156: "ue_activity_acknowledge",
    157: "isr_status_indication", 158: "ue_registration_query_request",
    159: "ue_registration_query_response", 160: "create_forwarding_tunnel_request",
    161: "create_forwarding_tunnel_response", 162: "suspend_notification",
    163: "suspend_acknowledge", 164: "resume_notification", 165: "resume_acknowledge",
    166: "create_indirect_data_forwarding_tunnel_request",
    167: "create_indirect_data_forwarding_tunnel_response",
    168: "delete_indirect_data_forwarding_tunnel_request",
    169: "delete_indirect_data_forwarding_tunnel_response",
    170: "release_access_bearers_request", 171: "release_access_bearers_response",
    176: "downlink_data_notification", 177: "downlink_data_notification_acknowledge",
    179: "pgw_restart_notification", 180: "pgw_restart_notification_acknowledge",
    200: "update_pdn_connection_set_request", 201: "update_pdn_connection_set_response",
    211: "modify_access_bearers_request", 212: "modify_access_bearers_response",
    231: "mbms_session_start_request", 232: "mbms_session_start_response",
    233: "mbms_session_update_request", 234: "mbms_session_update_response",
    235: "mbms_session_stop_request", 236: "mbms_session_stop_response",
}  # fmt: skip
#: GTPv1 TV information elements (type < 128) and their fixed value lengths (29.060 7.7)
V1_TV_LENGTHS = {1: 1, 2: 8, 3: 6, 4: 4, 5: 4, 8: 1, 9: 28, 11: 1, 12: 3, 13: 1, 14: 1, 15: 1,
                 16: 4, 17: 4, 18: 5, 19: 1, 20: 1, 21: 1, 22: 9, 23: 1, 24: 1, 25: 2, 26: 2,
                 27: 2, 28: 2, 29: 1, 127: 4}  # fmt: skip
V1_CAUSE, V1_IMSI, V1_APN, V1_MSISDN, V1_IMEI, V1_RAT = 1, 2, 131, 134, 154, 151
V2_IMSI, V2_CAUSE, V2_APN, V2_MEI, V2_MSISDN, V2_RAT = 1, 2, 71, 75, 76, 82


def _u16(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 2], "big")


def tbcd(value: bytes) -> str:
    """Digits of a TBCD string (TS 29.002): low nibble first, 0xF fills the last octet."""
    digits: list[str] = []
    for byte in value[:16]:
        for nibble in (byte & 0x0F, byte >> 4):
            if nibble == 0x0F:
                return "".join(digits)
            digits.append("0123456789*#abc"[nibble])
    return "".join(digits)


def apn(value: bytes) -> str:
    """An APN in DNS label encoding (TS 23.003 9.1), e.g. ``internet.mnc001.mcc262.gprs``."""
    labels: list[str] = []
    pos = 0
    while pos < len(value) and len(labels) < 32:
        n = value[pos]
        label = value[pos + 1 : pos + 1 + n]
        if n == 0 or len(label) < n:
            break
        labels.append(label.decode("ascii", errors="replace"))
        pos += 1 + n
    if pos != len(value):  # not label-encoded: some equipment sends plain text
        return value.decode("ascii", errors="replace").strip("\x00")[:MAX_TEXT]
    return ".".join(labels)[:MAX_TEXT]


def _direction(name: str) -> Direction:
    if name.endswith("_request") or name.endswith("_command"):
        return "request"
    if name.endswith(("_response", "_acknowledge")):
        return "response"
    return "unsolicited"


def _v1_header(payload: bytes) -> tuple[int, int, int, int] | None:
    """(message type, TEID, sequence or -1, offset of the IEs) of a GTPv1 message."""
    if len(payload) < 8:
        return None
    flags = payload[0]
    if flags >> 5 != 1 or not flags & 0x10 or flags & 0x08:
        return None  # version 1, PT = GTP (not GTP'), spare bit zero
    kind, length = payload[1], _u16(payload, 2)
    if 8 + length != len(payload):
        return None
    teid = int.from_bytes(payload[4:8], "big")
    pos, seq = 8, -1
    if flags & 0x07:
        if len(payload) < 12:
            return None
        if flags & 0x02:
            seq = _u16(payload, 8)
        next_ext = payload[11]
        pos = 12
        for _ in range(8):
            if next_ext == 0:
                break
            if pos >= len(payload) or payload[pos] == 0:
                return None
            end = pos + 4 * payload[pos]
            if end > len(payload):
                return None
            next_ext, pos = payload[end - 1], end
        else:
            return None
    return kind, teid, seq, pos


def _v1_ies(body: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        if len(out) >= MAX_IES:
            return out, "too many information elements"
        kind = body[pos]
        if kind < 128:
            size = V1_TV_LENGTHS.get(kind)
            if size is None:
                return out, f"unknown fixed-length IE {kind}"
            start = pos + 1
        else:
            if pos + 3 > len(body):
                return out, "truncated IE header"
            size, start = _u16(body, pos + 1), pos + 3
        if start + size > len(body):
            return out, f"IE {kind} claims {size} bytes"
        out.append((kind, body[start : start + size]))
        pos = start + size
    return out, None


def _v2_header(payload: bytes) -> tuple[int, int | None, int, int, int] | None:
    """(message type, TEID or None, sequence, offset of the IEs, end) of a GTPv2-C message."""
    if len(payload) < 8:
        return None
    flags = payload[0]
    if flags >> 5 != 2 or flags & 0x03:
        return None
    kind, length = payload[1], _u16(payload, 2)
    end = 4 + length
    piggyback = bool(flags & 0x10)
    if end > len(payload) or (end != len(payload) and not piggyback):
        return None
    if flags & 0x08:
        if length < 12:
            return None
        teid: int | None = int.from_bytes(payload[4:8], "big")
        seq, pos = int.from_bytes(payload[8:11], "big"), 12
    else:
        if length < 8:
            return None
        teid, seq, pos = None, int.from_bytes(payload[4:7], "big"), 8
    return kind, teid, seq, pos, end


def _v2_ies(body: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        if len(out) >= MAX_IES:
            return out, "too many information elements"
        if pos + 4 > len(body):
            return out, "truncated IE header"
        kind, size = body[pos], _u16(body, pos + 1)
        if pos + 4 + size > len(body):
            return out, f"IE {kind} claims {size} bytes"
        out.append((kind, body[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return out, None


class GtpAnalyzer:
    """GTPv1-C, GTPv2-C and GTP-U signalling -> operations; IMSI/MSISDN/IMEI/APN -> identities."""

    name = NAME
    description = "GTPv1-C/GTPv2-C/GTP-U signalling: PDP contexts, sessions, subscriber ids"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT_C, PORT_U)
    ethertypes: tuple[int, ...] = ()
    session_kind = "tunnel"

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        on_port = port in (PORT_C, PORT_U)
        version = payload[0] >> 5 if payload else 0
        if version == 1:
            head = _v1_header(payload)
            if head is None or head[0] not in V1_MESSAGES:
                return 0.0
            kind, _, _, pos = head
            if kind == 255:
                inner = payload[pos : pos + 1]
                ip_inside = bool(inner) and inner[0] >> 4 in (4, 6)
                return (0.9 if on_port else 0.6) if ip_inside else (0.6 if on_port else 0.3)
            ies, error = _v1_ies(payload[pos:])
        elif version == 2:
            head2 = _v2_header(payload)
            if head2 is None or head2[0] not in V2_MESSAGES:
                return 0.0
            ies, error = _v2_ies(payload[head2[3] : head2[4]])
        else:
            return 0.0
        if error is not None:
            return 0.0
        if on_port:
            return 0.9
        return 0.6 if ies else 0.3

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            version = payload[0] >> 5 if payload else 0
            if version == 1:
                return _parse_v1(payload, state)
            if version == 2:
                return _parse_v2(payload)
            return ParseResult(error=f"GTP version {version} is not decoded")
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed GTP message: {exc}")


def _parse_v1(payload: bytes, state: dict[str, Any]) -> ParseResult:
    head = _v1_header(payload)
    if head is None:
        return ParseResult(error="GTPv1 header inconsistent (flags, length or extensions)")
    kind, teid, seq, pos = head
    name = V1_MESSAGES.get(kind, f"message_type_{kind}")
    target = f"teid=0x{teid:08x}"
    detail: dict[str, Any] = {"version": 1, "teid": teid}
    if seq >= 0:
        detail["sequence"] = seq
    if kind == 255:
        count = state["g_pdus"] = state.get("g_pdus", 0) + 1
        if count > G_PDU_OPERATIONS:
            return ParseResult()
        detail.update(g_pdus=count, payload_len=len(payload) - pos)
        return ParseResult(operations=[Operation(NAME, kind, name, "unsolicited", target,
                                                 detail=detail)])  # fmt: skip
    ies, error = _v1_ies(payload[pos:])
    result = ParseResult(error=error)
    exception = None
    source = f"gtpv1-c {name.replace('_', ' ')}"
    for ie, value in ies:
        if ie == V1_CAUSE and value:
            detail["cause"] = value[0]
            if value[0] >= 192:
                exception = value[0]
        elif ie == V1_IMSI and tbcd(value):
            _fact(result, "imsi", tbcd(value), f"{source} IMSI")
        elif ie == V1_MSISDN and len(value) > 1 and tbcd(value[1:]):
            _fact(result, "msisdn", tbcd(value[1:]), f"{source} MSISDN")
        elif ie == V1_IMEI and tbcd(value):
            _fact(result, "imei", tbcd(value), f"{source} IMEI(SV)")
        elif ie == V1_APN and apn(value):
            _fact(result, "apn", apn(value), f"{source} APN")
        elif ie == V1_RAT and value:
            detail["rat_type"] = value[0]
    detail["ies"] = ",".join(str(ie) for ie, _ in ies)
    result.operations.append(Operation(NAME, kind, name, _direction(name), target,
                                       exception=exception, detail=detail))  # fmt: skip
    return result


def _parse_v2(payload: bytes) -> ParseResult:
    head = _v2_header(payload)
    if head is None:
        return ParseResult(error="GTPv2-C header inconsistent (flags or length)")
    kind, teid, seq, pos, end = head
    name = V2_MESSAGES.get(kind, f"message_type_{kind}")
    detail: dict[str, Any] = {"version": 2, "sequence": seq}
    if teid is not None:
        detail["teid"] = teid
    if end < len(payload):
        detail["piggybacked_bytes"] = len(payload) - end
    ies, error = _v2_ies(payload[pos:end])
    result = ParseResult(error=error)
    exception = None
    source = f"gtpv2-c {name.replace('_', ' ')}"
    for ie, value in ies:
        if ie == V2_CAUSE and value:
            detail["cause"] = value[0]
            if value[0] >= 64:
                exception = value[0]
        elif ie == V2_IMSI and tbcd(value):
            _fact(result, "imsi", tbcd(value), f"{source} IMSI")
        elif ie == V2_MSISDN and tbcd(value):
            _fact(result, "msisdn", tbcd(value), f"{source} MSISDN")
        elif ie == V2_MEI and tbcd(value):
            _fact(result, "imei", tbcd(value), f"{source} MEI")
        elif ie == V2_APN and apn(value):
            _fact(result, "apn", apn(value), f"{source} APN")
        elif ie == V2_RAT and value:
            detail["rat_type"] = value[0]
    detail["ies"] = ",".join(str(ie) for ie, _ in ies)
    target = f"teid=0x{teid:08x}" if teid is not None else None
    result.operations.append(Operation(NAME, kind, name, _direction(name), target,
                                       exception=exception, detail=detail))  # fmt: skip
    return result


def _fact(result: ParseResult, attribute: str, value: str, source: str) -> None:
    result.identities.append(IdentityFact(NAME, attribute, value[:MAX_TEXT], 1.0, "sender", source))


ANALYZER = GtpAnalyzer()
