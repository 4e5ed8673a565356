"""CDP: what Cisco switches, routers, phones and access points announce about themselves.

The Cisco Discovery Protocol travels in IEEE 802.3 frames to 01:00:0c:cc:cc:cc with an
LLC/SNAP header (DSAP/SSAP 0xAA, UI, OUI 00-00-0C, protocol id 0x2000). Every CDP speaker
announces its Device ID (host name), the addresses it can be reached at, the port it sent from,
its capabilities (router, switch, phone, ...), its software version text and its hardware
platform, and on switches the native VLAN and VTP management domain. For cranewatch that names
the Cisco gear on a crane (an industrial Cisco IE switch, or a Cisco cellular router such as an
IR8xx/IR1101 that nobody ordered) without logging into anything: its platform says "cellular
router", its capabilities say "router", and its management address says where it listens.

Specifications followed: Cisco's CDP description in "Cisco Discovery Protocol Configuration
Guide" and the TLV list as implemented by Wireshark's ``packet-cdp.c`` (the de-facto reference,
there is no public RFC): version 1 or 2, TTL, checksum, then TLVs of type(2) length(2, header
included) value. Addresses TLVs (0x0002, 0x0016) carry a count and (protocol type, protocol,
address) entries: NLPID 0xCC is IPv4, the 802.2 SNAP protocol ...86DD is IPv6.

The analyzer takes an 802.3 frame's bytes from its LLC header on (the dispatcher routes LLC
SAP 0xAA to it) and yields one ``advertisement`` operation (unsolicited, target
``<device id> port <port id>``) and identity facts about the sender: ``hostname`` (Device ID),
``software`` (the version text's first line, or its first line with "Version" when the first
only names the OS), ``os`` (Cisco IOS / IOS XE / IOS XR / NX-OS / ASA when the text says so),
``platform``, ``capabilities``, ``role`` (router / switch from the capability bits),
``ip_address`` (Addresses TLV), ``management_address``, and the VTP domain as ``domain``.
Hand-written: scapy's CDP contrib layer is too slow per frame and raises on truncated TLVs; no
other maintained Python parser exists.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "cdp"
LLC_SAP_SNAP = 0xAA
SNAP_CDP = bytes.fromhex("aaaa0300000c2000")

T_DEVICE_ID, T_ADDRESSES, T_PORT_ID, T_CAPABILITIES = 0x0001, 0x0002, 0x0003, 0x0004
T_SOFTWARE, T_PLATFORM, T_PREFIXES, T_VTP_DOMAIN = 0x0005, 0x0006, 0x0007, 0x0009
T_NATIVE_VLAN, T_DUPLEX, T_VOICE_VLAN, T_POWER = 0x000A, 0x000B, 0x000E, 0x0010
T_MTU, T_SYSTEM_NAME, T_SYSTEM_OID, T_MGMT_ADDRESSES, T_LOCATION = 0x11, 0x14, 0x15, 0x16, 0x17

CAPABILITY_NAMES = (  # bit 0 first
    "router",
    "bridge",
    "source_route_bridge",
    "switch",
    "host",
    "igmp",
    "repeater",
    "telephone",
    "remotely_managed",
    "cvta",
    "two_port_mac_relay",
)
CAP_ROUTER, CAP_BRIDGE, CAP_SWITCH = 0x01, 0x02, 0x08

#: (text to look for, lower-case) -> os name; the first match wins
OS_MARKERS = (
    ("ios-xe", "Cisco IOS XE"),
    ("ios xe", "Cisco IOS XE"),
    ("ios xr", "Cisco IOS XR"),
    ("ios-xr", "Cisco IOS XR"),
    ("nx-os", "Cisco NX-OS"),
    ("adaptive security appliance", "Cisco ASA"),
    ("cisco ios", "Cisco IOS"),
    ("ios (tm)", "Cisco IOS"),
    ("internetwork operating system", "Cisco IOS"),
    ("cisco catos", "Cisco CatOS"),
)
SNAP_IPV6 = bytes.fromhex("aaaa0300000086dd")

MAX_TLVS = 128
MAX_ADDRESSES = 16
MAX_TEXT = 255
MAX_TARGET = 200


def _text(raw: bytes) -> str:
    text = raw[:MAX_TEXT].decode("utf-8", errors="replace")
    return "".join(ch for ch in text if ch.isprintable()).strip()


def tlvs(body: bytes) -> tuple[list[tuple[int, bytes]], str | None]:
    """(type, value) of the TLVs after the 4-byte CDP header; an error when a length lies."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(body):
        if not any(body[pos:]):
            break  # Ethernet padding after the last TLV
        kind = int.from_bytes(body[pos : pos + 2], "big")
        length = int.from_bytes(body[pos + 2 : pos + 4], "big")
        if length < 4:
            return out, f"TLV {kind:#06x} has length {length} (< 4)"
        value = body[pos + 4 : pos + length]
        if len(value) < length - 4:
            return out, f"TLV {kind:#06x} claims {length} bytes, has {len(value) + 4}"
        out.append((kind, value))
        if len(out) >= MAX_TLVS:
            return out, "too many TLVs"
        pos += length
    return out, None


def addresses(value: bytes) -> list[str]:
    """The IPv4/IPv6 addresses of an Addresses / Management Addresses TLV."""
    if len(value) < 4:
        return []
    count = min(int.from_bytes(value[:4], "big"), MAX_ADDRESSES)
    out: list[str] = []
    pos = 4
    for _ in range(count):
        if pos + 2 > len(value):
            break
        proto_len = value[pos + 1]
        proto = value[pos + 2 : pos + 2 + proto_len]
        pos += 2 + proto_len
        if pos + 2 > len(value):
            break
        addr_len = int.from_bytes(value[pos : pos + 2], "big")
        raw = value[pos + 2 : pos + 2 + addr_len]
        pos += 2 + addr_len
        if len(raw) < addr_len:
            break
        if proto == b"\xcc" and addr_len == 4:
            out.append(str(ipaddress.IPv4Address(raw)))
        elif proto == SNAP_IPV6 and addr_len == 16:
            out.append(str(ipaddress.IPv6Address(raw)))
    return out


def os_name(version: str) -> str | None:
    low = version.lower()
    for marker, name in OS_MARKERS:
        if marker in low:
            return name
    return None


def software_line(version: str) -> str:
    """The first line of the version text; when it only names the OS (no digit), the first
    line that carries a version number instead."""
    lines = [line.strip() for line in version.splitlines() if line.strip()]
    if not lines:
        return ""
    if not any(ch.isdigit() for ch in lines[0]):
        for line in lines[1:]:
            if "version" in line.lower():
                return line
    return lines[0]


def capability_names(bits: int) -> list[str]:
    return [name for i, name in enumerate(CAPABILITY_NAMES) if bits >> i & 1]


class CdpAnalyzer:
    """CDP frames (LLC/SNAP) -> one ``advertisement`` each, plus what the sender announces."""

    name = NAME
    description = "Cisco Discovery Protocol v1/v2 in 802.3 LLC/SNAP frames"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = ()
    ethertypes: tuple[int, ...] = ()
    llc_saps: tuple[int, ...] = (LLC_SAP_SNAP,)
    stateless = True  # parse reads the frame alone: repeated frames reuse their result

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if payload[:8] != SNAP_CDP or len(payload) < 12:
            return 0.0
        if payload[8] not in (1, 2):
            return 0.4
        found, error = tlvs(payload[12:])
        return 0.95 if found and error is None else 0.7

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload)
        except (IndexError, ValueError) as exc:  # pragma: no cover - guarded by length checks
            return ParseResult(error=f"malformed CDP frame: {exc}")

    def _parse(self, payload: bytes) -> ParseResult:
        if payload[:8] != SNAP_CDP:
            return ParseResult(error="not an LLC/SNAP CDP header")
        if len(payload) < 12:
            return ParseResult(error="CDP header cut short")
        version, ttl = payload[8], payload[9]
        found, error = tlvs(payload[12:])
        result = ParseResult(error=error)
        if version not in (1, 2):
            result.error = f"unknown CDP version {version}"
        detail: dict[str, Any] = {"version": version, "ttl": ttl}
        ids: list[IdentityFact] = []

        def fact(attribute: str, value: str, source: str, confidence: float = 1.0) -> None:
            if value:
                ids.append(IdentityFact(NAME, attribute, value[:MAX_TEXT], confidence,
                                        "sender", source))  # fmt: skip

        device = port = None
        for kind, value in found:
            if kind == T_DEVICE_ID:
                device = _text(value)
                fact("hostname", device, "cdp device id")
            elif kind == T_ADDRESSES:
                for address in addresses(value):
                    fact("ip_address", address, "cdp addresses")
            elif kind == T_PORT_ID:
                port = _text(value)
            elif kind == T_CAPABILITIES and len(value) >= 4:
                bits = int.from_bytes(value[:4], "big")
                fact("capabilities", ",".join(capability_names(bits)), "cdp capabilities")
                if bits & CAP_ROUTER:
                    fact("role", "router", "cdp capabilities", 0.9)
                if bits & (CAP_SWITCH | CAP_BRIDGE):
                    fact("role", "switch", "cdp capabilities", 0.9)
            elif kind == T_SOFTWARE:
                text = value[:2048].decode("utf-8", errors="replace")
                fact("software", _text(software_line(text).encode()), "cdp software version")
                name = os_name(text)
                if name:
                    fact("os", name, "cdp software version", 0.9)
            elif kind == T_PLATFORM:
                fact("platform", _text(value), "cdp platform")
            elif kind == T_VTP_DOMAIN:
                fact("domain", _text(value), "cdp vtp management domain")
            elif kind == T_NATIVE_VLAN and len(value) >= 2:
                detail["native_vlan"] = int.from_bytes(value[:2], "big")
            elif kind == T_VOICE_VLAN and len(value) >= 3:
                detail["voice_vlan"] = int.from_bytes(value[1:3], "big")
            elif kind == T_DUPLEX and len(value) >= 1:
                detail["duplex"] = "full" if value[0] else "half"
            elif kind == T_SYSTEM_NAME:
                fact("hostname", _text(value), "cdp system name")
            elif kind == T_MGMT_ADDRESSES:
                for address in addresses(value):
                    fact("management_address", address, "cdp management addresses")
            elif kind == T_LOCATION:
                detail["location"] = _text(value[1:])
        if port:
            detail["port_id"] = port
        target = f"{device or '?'} port {port}" if port else device
        result.operations.append(
            Operation(
                protocol=NAME,
                code=version,
                name="advertisement",
                direction="unsolicited",
                target=target[:MAX_TARGET] if target else None,
                detail=detail,
            )
        )
        result.identities = ids
        return result


ANALYZER = CdpAnalyzer()
