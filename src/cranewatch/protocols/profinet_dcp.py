"""PROFINET DCP: what PROFINET devices say about themselves, and who renames or re-addresses them.

The Discovery and basic Configuration Protocol runs directly on Ethernet (EtherType 0x8892,
frame ids 0xFEFC-0xFEFF). An engineering station or IO controller sends Identify requests, and
every device answers with its NameOfStation, the vendor's type string, vendor and device id,
its role and IP parameters; Set requests give a device a new name or IP address, or reset it to
factory settings. Those answers feed "what is in our cranes", and an unexpected Set is an
operation on a crane controller's network identity.

Wire format from IEC 61158-6-10 (PROFINET IO application layer protocol), section "DCP"
(DCP-PDU syntax: FrameID, ServiceID, ServiceType, Xid, ResponseDelay, DCPDataLength and the
Option/Suboption blocks with BlockInfo or BlockQualifier), as also documented by the PROFINET
specification "Application Layer protocol for decentralized periphery" (PI order no. 2.722).

The analyzer takes the bytes after the EtherType (and after any VLAN tag) of one frame, as
:class:`~cranewatch.protocols._base.DatagramAnalyzer` says. It is hand-written because no
maintained pure-Python DCP parser fits the per-frame contract: scapy's PROFINET layers are far
too slow for millions of frames, and client libraries (e.g. pnio_dcp) only parse the answers to
their own requests. Other PROFINET RT frames on the same EtherType (cyclic IO data, alarms,
PTCP) are recognised and passed over without facts or errors.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "profinet_dcp"
ETHERTYPE_PROFINET = 0x8892

FRAME_HELLO = 0xFEFC
FRAME_GET_SET = 0xFEFD
FRAME_IDENTIFY_REQUEST = 0xFEFE
FRAME_IDENTIFY_RESPONSE = 0xFEFF

#: ServiceID -> (operation name, allowed frame ids)
SERVICES: dict[int, tuple[str, tuple[int, ...]]] = {
    3: ("get", (FRAME_GET_SET,)),
    4: ("set", (FRAME_GET_SET,)),
    5: ("identify", (FRAME_IDENTIFY_REQUEST, FRAME_IDENTIFY_RESPONSE)),
    6: ("hello", (FRAME_HELLO,)),
}
SERVICE_TYPE_REQUEST = 0
SERVICE_TYPE_RESPONSE = 1
SERVICE_TYPE_NOT_SUPPORTED = 5  # response: request not supported

#: (Option, Suboption) -> block name as the specification names it
BLOCK_NAMES: dict[tuple[int, int], str] = {
    (1, 1): "MACAddress",
    (1, 2): "IPParameter",
    (1, 3): "FullIPSuite",
    (2, 1): "DeviceVendorValue",
    (2, 2): "NameOfStation",
    (2, 3): "DeviceID",
    (2, 4): "DeviceRole",
    (2, 5): "DeviceOptions",
    (2, 6): "AliasName",
    (2, 7): "DeviceInstance",
    (2, 8): "OEMDeviceID",
    (2, 9): "StandardGateway",
    (5, 1): "Start",
    (5, 2): "Stop",
    (5, 3): "Signal",
    (5, 4): "Response",
    (5, 5): "ResetFactorySettings",
    (5, 6): "ResetToFactory",
    (6, 1): "DeviceInitiative",
    (0xFF, 0xFF): "AllSelector",
}
#: Set requests of these blocks change how the device is found or addressed, or wipe it.
CONTROL_BLOCKS = {(1, 2), (1, 3), (2, 2), (5, 5), (5, 6)}

DEVICE_ROLES = ((0x01, "IO-Device"), (0x02, "IO-Controller"), (0x04, "IO-Multidevice"),
                (0x08, "PN-Supervisor"))  # fmt: skip
BLOCK_ERRORS = {
    0: "no_error",
    1: "option_not_supported",
    2: "suboption_not_supported",
    3: "suboption_not_set",
    4: "resource_error",
    5: "set_not_possible",
    6: "in_operation",
}
MAX_BLOCKS = 64  # a DCP PDU fits in one Ethernet frame; more blocks than this is garbage
MAX_TARGET = 200


def block_name(option: int, suboption: int) -> str:
    name = BLOCK_NAMES.get((option, suboption))
    if name is not None:
        return name
    if option == 3:
        return f"DHCP({suboption})"
    if 0x80 <= option <= 0xFE:
        return f"ManufacturerSpecific({option:#04x}/{suboption:#04x})"
    return f"Unknown({option:#04x}/{suboption:#04x})"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").rstrip("\x00").strip()


def _ip(data: bytes) -> str:
    return str(ipaddress.IPv4Address(data[:4]))


def _hex16(value: int) -> str:
    return f"0x{value:04X}"


def _header(payload: bytes) -> tuple[int, int, int, int, int] | None:
    """(frame id, service id, service type, xid, data length) when the header is plausible."""
    if len(payload) < 12:
        return None
    frame_id = int.from_bytes(payload[0:2], "big")
    service_id, service_type = payload[2], payload[3]
    spec = SERVICES.get(service_id)
    if spec is None or frame_id not in spec[1]:
        return None
    if service_type not in (
        SERVICE_TYPE_REQUEST,
        SERVICE_TYPE_RESPONSE,
        SERVICE_TYPE_NOT_SUPPORTED,
    ):
        return None
    if (frame_id == FRAME_IDENTIFY_REQUEST) != (service_id == 5 and service_type == 0):
        return None
    xid = int.from_bytes(payload[4:8], "big")
    length = int.from_bytes(payload[10:12], "big")
    if length > len(payload) - 12:
        return None
    return frame_id, service_id, service_type, xid, length


def _blocks(data: bytes, with_info: bool) -> tuple[list[tuple[int, int, int, bytes]], str | None]:
    """Option/Suboption blocks: (option, suboption, BlockInfo or BlockQualifier, value)."""
    out: list[tuple[int, int, int, bytes]] = []
    pos = 0
    while pos + 4 <= len(data) and len(out) < MAX_BLOCKS:
        option, suboption = data[pos], data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        body = data[pos + 4 : pos + 4 + length]
        if len(body) < length:
            return (
                out,
                f"block {block_name(option, suboption)} claims {length} bytes, has {len(body)}",
            )
        info = 0
        if with_info and (option, suboption) != (0xFF, 0xFF) and length >= 2:
            info, body = int.from_bytes(body[:2], "big"), body[2:]
        out.append((option, suboption, info, body))
        pos += 4 + length + (length & 1)  # blocks are padded to an even length
    if len(out) >= MAX_BLOCKS:
        return out, "too many blocks"
    if pos < len(data) and any(data[pos:]):
        return out, f"{len(data) - pos} trailing bytes"
    return out, None


def _roles(value: int) -> str:
    names = [name for bit, name in DEVICE_ROLES if value & bit]
    return ",".join(names) if names else f"0x{value:02X}"


class ProfinetDcpAnalyzer:
    """DCP frames -> one operation each, plus the identity facts in answers and Hello."""

    name = NAME
    description = "PROFINET DCP (Identify, Get, Set, Hello) on EtherType 0x8892"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = ()
    ethertypes: tuple[int, ...] = (ETHERTYPE_PROFINET,)
    # the PROFINET frame ids of DCP; cyclic real-time frames share the EtherType and are
    # screened out before detect (see the dispatcher)
    frame_ids: tuple[tuple[int, int], ...] = ((FRAME_HELLO, FRAME_IDENTIFY_RESPONSE),)

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        head = _header(payload)
        if head is None:
            return 0.0
        frame_id, service_id, service_type, _, length = head
        data = payload[12 : 12 + length]
        if frame_id == FRAME_IDENTIFY_REQUEST or (service_id == 3 and service_type == 0):
            ok = length >= 2 if service_id == 3 else length >= 4
        else:
            _, error = _blocks(data, with_info=not (service_id == 4 and service_type == 0))
            ok = error is None
        return 0.95 if ok else 0.4

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed DCP frame: {exc}")

    def _parse(self, payload: bytes) -> ParseResult:
        if len(payload) < 2:
            return ParseResult(error="frame shorter than a FrameID")
        frame_id = int.from_bytes(payload[0:2], "big")
        if not FRAME_HELLO <= frame_id <= FRAME_IDENTIFY_RESPONSE:
            return ParseResult()  # cyclic RT data, alarms, PTCP: PROFINET, but not DCP
        head = _header(payload)
        if head is None:
            return ParseResult(error=f"not a valid DCP header (frame id {frame_id:#06x})")
        frame_id, service_id, service_type, xid, length = head
        data = payload[12 : 12 + length]
        service = SERVICES[service_id][0]
        if service_id == 6:
            direction: Literal["request", "response", "unsolicited"] = "unsolicited"
        else:
            direction = "request" if service_type == SERVICE_TYPE_REQUEST else "response"
        detail: dict[str, Any] = {"frame_id": frame_id, "xid": xid, "service_type": service_type}
        result = ParseResult()
        flags = {"is_read": service == "get", "is_write": service == "set",
                 "is_control": False, "is_diagnostic": service in ("identify", "hello")}  # fmt: skip
        exception: int | None = SERVICE_TYPE_NOT_SUPPORTED if service_type == 5 else None
        target: str | None = None

        if service == "get" and direction == "request":
            pairs = [(data[i], data[i + 1]) for i in range(0, len(data) - 1, 2)][:MAX_BLOCKS]
            target = ",".join(block_name(o, s) for o, s in pairs) or None
        elif service == "identify" and direction == "request":
            blocks, error = _blocks(data, with_info=False)
            result.error = error
            target = ",".join(_filter_text(o, s, v) for o, s, _, v in blocks) or None
        elif service == "set" and direction == "request":
            blocks, error = _blocks(data, with_info=True)
            result.error = error
            parts = []
            for option, suboption, qualifier, value in blocks:
                if (option, suboption) in CONTROL_BLOCKS:
                    flags["is_control"] = True
                parts.append(_set_text(option, suboption, qualifier, value))
                result.identities += _set_identity(option, suboption, value)
            target = ";".join(p for p in parts if p) or None
        else:  # identify/get/set responses and hello carry blocks with BlockInfo
            blocks, error = _blocks(data, with_info=True)
            result.error = error
            names = []
            for option, suboption, info, value in blocks:
                names.append(block_name(option, suboption))
                if (option, suboption) == (5, 4) and len(value) >= 1:
                    # Control/Response: BlockInfo already took Option+Suboption of the answered
                    # block; the remaining byte is its BlockError.
                    answered = (info >> 8, info & 0xFF)
                    names[-1] = f"Response({block_name(*answered)})"
                    if answered in CONTROL_BLOCKS:
                        flags["is_control"] = True
                    if value[0] and exception is None:
                        exception = value[0]
                result.identities += _identity(option, suboption, info, value)
                _detail(detail, option, suboption, value)
            target = ",".join(names) or None
        result.operations.append(
            Operation(
                protocol=NAME,
                code=service_id,
                name=service,
                direction=direction,
                target=target[:MAX_TARGET] if target else None,
                exception=exception,
                detail=detail,
                **flags,
            )
        )
        return result


def _filter_text(option: int, suboption: int, value: bytes) -> str:
    """An Identify request's filter block as text, e.g. ``NameOfStation=plc-1``."""
    name = block_name(option, suboption)
    if (option, suboption) in ((2, 2), (2, 1), (2, 6)):
        return f"{name}={_text(value)}"
    if (option, suboption) == (2, 3) and len(value) >= 4:
        return f"{name}={_hex16(int.from_bytes(value[:2], 'big'))}/" \
               f"{_hex16(int.from_bytes(value[2:4], 'big'))}"  # fmt: skip
    if (option, suboption) == (1, 2) and len(value) >= 4:
        return f"{name}={_ip(value)}"
    return "all" if (option, suboption) == (0xFF, 0xFF) else name


def _set_text(option: int, suboption: int, qualifier: int, value: bytes) -> str:
    """A Set request block as text; Start/Stop transaction markers are left out."""
    name = block_name(option, suboption)
    keep = " permanent" if qualifier & 1 else " temporary"
    if (option, suboption) == (2, 2):
        return f"{name}={_text(value)}{keep}"
    if (option, suboption) in ((1, 2), (1, 3)) and len(value) >= 12:
        return f"{name}={_ip(value)}/{_ip(value[4:8])} gw {_ip(value[8:12])}{keep}"
    if (option, suboption) in ((5, 1), (5, 2)):
        return ""
    return name


def _set_identity(option: int, suboption: int, value: bytes) -> list[IdentityFact]:
    """A Set request assigns the receiver a name or address: reported with less confidence."""
    if (option, suboption) == (2, 2) and _text(value):
        return [IdentityFact(NAME, "station_name", _text(value), 0.6, "receiver")]
    if (option, suboption) in ((1, 2), (1, 3)) and len(value) >= 4 and any(value[:4]):
        return [IdentityFact(NAME, "ip_address", _ip(value), 0.6, "receiver")]
    return []


def _identity(option: int, suboption: int, info: int, value: bytes) -> list[IdentityFact]:
    """Identity facts of one block of an answer or Hello (about the sender)."""
    key = (option, suboption)
    facts: list[tuple[str, str]] = []
    if key == (2, 2) and _text(value):
        facts.append(("station_name", _text(value)))
    elif key == (2, 1) and _text(value):
        facts.append(("vendor", _text(value)))
    elif key == (2, 3) and len(value) >= 4:
        facts.append(("vendor_id", _hex16(int.from_bytes(value[0:2], "big"))))
        facts.append(("device_id", _hex16(int.from_bytes(value[2:4], "big"))))
    elif key == (2, 4) and len(value) >= 1:
        facts.append(("device_role", _roles(value[0])))
    elif key in ((1, 2), (1, 3)) and len(value) >= 4 and (info & 0x03) and any(value[:4]):
        facts.append(("ip_address", _ip(value)))
    elif key == (1, 1) and len(value) >= 6:
        facts.append(("mac_address", ":".join(f"{b:02x}" for b in value[:6])))
    return [IdentityFact(NAME, attribute, text) for attribute, text in facts]


def _detail(detail: dict[str, Any], option: int, suboption: int, value: bytes) -> None:
    key = (option, suboption)
    if key in ((1, 2), (1, 3)) and len(value) >= 12:
        detail["subnet_mask"] = _ip(value[4:8])
        detail["gateway"] = _ip(value[8:12])
    elif key == (2, 6):
        detail["alias_name"] = _text(value)
    elif key == (2, 7) and len(value) >= 2:
        detail["device_instance"] = value[0] << 8 | value[1]
    elif key == (2, 8) and len(value) >= 4:
        detail["oem_vendor_id"] = _hex16(int.from_bytes(value[0:2], "big"))
        detail["oem_device_id"] = _hex16(int.from_bytes(value[2:4], "big"))


ANALYZER = ProfinetDcpAnalyzer()
