"""LLDP: what switches, routers, phones, access points and PROFINET devices say about themselves.

The Link Layer Discovery Protocol (EtherType 0x88CC, sent to 01:80:c2:00:00:0e) is a one-way
advertisement: every LLDP agent tells its link neighbour its chassis and port, its system name
and description, what it can do (bridge, router, WLAN access point, telephone, ...) and a
management address. For cranewatch that is an inventory of the network gear on a crane that
nobody has to log into, and the first hint of a device that does not belong: a cellular router
announcing ``router`` and ``wlan_access_point`` capabilities, or a system description naming a
modem vendor, on a port where only a PLC should be. PROFINET devices send LLDP too (with their
NameOfStation as chassis id and a PROFIBUS-organisation TLV with the chassis MAC).

Specifications followed: IEEE 802.1AB-2016 (LLDP), clause 8 (TLV format, mandatory Chassis ID,
Port ID, TTL; optional Port Description, System Name, System Description, System
Capabilities, Management Address) and annexes D/E (the IEEE 802.1 and 802.3
organizationally specific TLVs); ANSI/TIA-1057 (LLDP-MED) section 10.2 for the inventory TLVs
(hardware, firmware and software revision, serial number, manufacturer, model, asset id);
IEC 61158-6-10 for the PROFINET (OUI 00-0E-CF) chassis MAC TLV.

One operation per LLDPDU (``lldpdu``, code 0, unsolicited, target ``chassis <id> port <id>``)
and identity facts about the sender: ``hostname`` (system name), ``system_description``,
``capabilities`` (the *enabled* capabilities as names), ``role`` (``switch`` when bridge is
enabled, ``router`` when router is enabled; source ``lldp capabilities``),
``management_address``, ``mac_address`` / ``ip_address`` (IPv4) from the chassis id subtype, and the
LLDP-MED inventory (``hardware_version``, ``firmware``, ``software``, ``serial``, ``vendor``,
``model``). Hand-written: scapy's LLDP contrib layer is far too slow per frame and raises on
malformed TLVs; dpkt has no LLDP; a TLV walk over one frame is a few lines.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "lldp"
ETHERTYPE_LLDP = 0x88CC

T_END, T_CHASSIS, T_PORT, T_TTL = 0, 1, 2, 3
T_PORT_DESC, T_SYS_NAME, T_SYS_DESC, T_CAPS, T_MGMT, T_ORG = 4, 5, 6, 7, 8, 127

#: System capabilities bits (802.1AB-2016 Table 8-4), bit 0 first
CAPABILITY_NAMES = (
    "other",
    "repeater",
    "bridge",
    "wlan_access_point",
    "router",
    "telephone",
    "docsis_cable_device",
    "station",
    "c_vlan_component",
    "s_vlan_component",
    "two_port_mac_relay",
)
CHASSIS_SUBTYPES = {1: "chassis_component", 2: "interface_alias", 3: "port_component",
                    4: "mac_address", 5: "network_address", 6: "interface_name", 7: "local"}  # fmt: skip
PORT_SUBTYPES = {1: "interface_alias", 2: "port_component", 3: "mac_address",
                 4: "network_address", 5: "interface_name", 6: "agent_circuit_id", 7: "local"}  # fmt: skip

OUI_8021 = b"\x00\x80\xc2"
OUI_8023 = b"\x00\x12\x0f"
OUI_MED = b"\x00\x12\xbb"
OUI_PROFINET = b"\x00\x0e\xcf"

#: LLDP-MED inventory subtypes -> (identity attribute, source)
MED_INVENTORY = {
    5: ("hardware_version", "lldp-med hardware revision"),
    6: ("firmware", "lldp-med firmware revision"),
    7: ("software", "lldp-med software revision"),
    8: ("serial", "lldp-med serial number"),
    9: ("vendor", "lldp-med manufacturer name"),
    10: ("model", "lldp-med model name"),
}
MED_DEVICE_CLASSES = {1: "endpoint_class_i", 2: "endpoint_class_ii", 3: "endpoint_class_iii",
                      4: "network_connectivity"}  # fmt: skip

MAX_TLVS = 128  # an LLDPDU fits in one frame (<= 1500 bytes): more is garbage
MAX_TEXT = 255
MAX_TARGET = 200


def _text(raw: bytes) -> str:
    text = raw[:MAX_TEXT].decode("utf-8", errors="replace")
    return "".join(ch for ch in text if ch.isprintable()).strip()


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _address(family: int, raw: bytes) -> str | None:
    """An IANA address-family-numbered address (1 IPv4, 2 IPv6, 6 802 MAC) as text."""
    if family == 1 and len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    if family == 2 and len(raw) == 16:
        return str(ipaddress.IPv6Address(raw))
    if family == 6 and len(raw) == 6:
        return _mac(raw)
    return None


def tlvs(payload: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    """(type, value) of each TLV up to End of LLDPDU; an error when a length lies."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 2 <= len(payload):
        head = int.from_bytes(payload[pos : pos + 2], "big")
        kind, length = head >> 9, head & 0x1FF
        value = payload[pos + 2 : pos + 2 + length]
        if len(value) < length:
            return out, f"TLV type {kind} claims {length} bytes, has {len(value)}"
        if kind == T_END:
            return out, None
        out.append((kind, value))
        if len(out) >= MAX_TLVS:
            return out, "too many TLVs"
        pos += 2 + length
    return out, "no End of LLDPDU TLV"


def _id_text(subtype: int, value: bytes, mac_subtype: int, net_subtype: int) -> str:
    if subtype == mac_subtype and len(value) == 6:
        return _mac(value)
    if subtype == net_subtype and value:
        return _address(value[0], value[1:]) or value.hex()
    text = _text(value)
    return text if text and text.isascii() else value[:64].hex()


def capability_names(bits: int) -> list[str]:
    return [name for i, name in enumerate(CAPABILITY_NAMES) if bits >> i & 1]


class LldpAnalyzer:
    """LLDP frames -> one ``lldpdu`` operation each, plus what the sender says about itself."""

    name = NAME
    description = "LLDP (IEEE 802.1AB) with LLDP-MED inventory, on EtherType 0x88CC"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = ()
    ethertypes: tuple[int, ...] = (ETHERTYPE_LLDP,)
    stateless = True  # parse reads the frame alone: repeated frames reuse their result

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        found, _ = tlvs(payload[:1500])
        kinds = [kind for kind, _ in found[:3]]
        if kinds == [T_CHASSIS, T_PORT, T_TTL] and len(found[2][1]) == 2:
            return 0.95
        if kinds[:1] == [T_CHASSIS] and 2 <= len(found[0][1]) <= 256:
            return 0.6
        return 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed LLDPDU: {exc}")

    def _parse(self, payload: bytes) -> ParseResult:
        found, error = tlvs(payload)
        result = ParseResult(error=error)
        if not found:
            result.error = error or "empty LLDPDU"
            return result
        kinds = [kind for kind, _ in found[:3]]
        if kinds != [T_CHASSIS, T_PORT, T_TTL] and result.error is None:
            result.error = "LLDPDU does not start with Chassis ID, Port ID, TTL"
        detail: dict[str, Any] = {}
        ids: list[IdentityFact] = []

        def fact(attribute: str, value: str, source: str, confidence: float = 1.0) -> None:
            if value:
                ids.append(IdentityFact(NAME, attribute, value[:MAX_TEXT], confidence,
                                        "sender", source))  # fmt: skip

        chassis = port = None
        for kind, value in found:
            if kind == T_CHASSIS and len(value) >= 2 and chassis is None:
                subtype, raw = value[0], value[1:]
                chassis = _id_text(subtype, raw, 4, 5)
                detail["chassis_id_subtype"] = CHASSIS_SUBTYPES.get(subtype, str(subtype))
                if subtype == 4 and len(raw) == 6:
                    fact("mac_address", chassis, "lldp chassis id")
                elif subtype == 5 and raw and raw[0] == 1 and len(raw) == 5:
                    fact("ip_address", chassis, "lldp chassis id")
            elif kind == T_PORT and len(value) >= 2 and port is None:
                port = _id_text(value[0], value[1:], 3, 4)
                detail["port_id_subtype"] = PORT_SUBTYPES.get(value[0], str(value[0]))
            elif kind == T_TTL and len(value) >= 2:
                ttl = int.from_bytes(value[:2], "big")
                detail["ttl"] = ttl
                if ttl == 0:
                    detail["shutdown"] = True
            elif kind == T_PORT_DESC:
                detail["port_description"] = _text(value)
            elif kind == T_SYS_NAME:
                fact("hostname", _text(value), "lldp system name")
            elif kind == T_SYS_DESC:
                fact("system_description", _text(value), "lldp system description")
            elif kind == T_CAPS and len(value) >= 4:
                supported = int.from_bytes(value[0:2], "big")
                enabled = int.from_bytes(value[2:4], "big")
                detail["capabilities_supported"] = capability_names(supported)
                names = capability_names(enabled)
                fact("capabilities", ",".join(names), "lldp capabilities")
                if enabled & 0x04:
                    fact("role", "switch", "lldp capabilities", 0.9)
                if enabled & 0x10:
                    fact("role", "router", "lldp capabilities", 0.9)
            elif kind == T_MGMT:
                address = _management_address(value)
                if address is not None and address not in ("0.0.0.0", "::"):
                    fact("management_address", address, "lldp management address")
            elif kind == T_ORG and len(value) >= 4:
                _org(value[:3], value[3], value[4:], detail, fact)
        target = f"chassis {chassis} port {port}" if chassis or port else None
        result.operations.append(
            Operation(
                protocol=NAME,
                code=0,
                name="lldpdu",
                direction="unsolicited",
                target=target[:MAX_TARGET] if target else None,
                detail=detail,
            )
        )
        result.identities = ids
        return result


def _management_address(value: bytes) -> str | None:
    """Management Address TLV: address string length (subtype + address), subtype, address."""
    if len(value) < 2:
        return None
    length = value[0]
    if length < 2 or len(value) < 1 + length:
        return None
    return _address(value[1], value[2 : 1 + length])


def _org(oui: bytes, subtype: int, body: bytes, detail: dict[str, Any], fact: Any) -> None:
    """Organizationally specific TLVs that say something about the device."""
    if oui == OUI_MED:
        if subtype in MED_INVENTORY:
            attribute, source = MED_INVENTORY[subtype]
            fact(attribute, _text(body), source)
        elif subtype == 1 and len(body) >= 3:
            detail["med_device_class"] = MED_DEVICE_CLASSES.get(body[2], str(body[2]))
        elif subtype == 11:
            detail["asset_id"] = _text(body)
    elif oui == OUI_8021:
        if subtype == 1 and len(body) >= 2:
            detail["port_vlan"] = int.from_bytes(body[:2], "big")
        elif subtype == 3 and len(body) >= 3:
            names = detail.setdefault("vlan_names", [])
            if len(names) < 32:
                names.append(f"{int.from_bytes(body[:2], 'big')}:{_text(body[3 : 3 + body[2]])}")
    elif oui == OUI_8023:
        if subtype == 4 and len(body) >= 2:
            detail["max_frame_size"] = int.from_bytes(body[:2], "big")
    elif oui == OUI_PROFINET and subtype == 5 and len(body) >= 6:
        fact("mac_address", _mac(body[:6]), "lldp profinet chassis mac")


ANALYZER = LldpAnalyzer()
