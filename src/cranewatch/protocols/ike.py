"""IKE (IKEv1/ISAKMP and IKEv2), with the NAT-T framing of UDP 4500: who builds IPsec tunnels.

An IPsec VPN is how many cellular routers and remote-maintenance boxes reach their vendor's or
integrator's concentrator. Before any ESP traffic flows, the two ends negotiate in IKE, largely in
clear text: the initiator and responder SPIs that name the tunnel, the exchange (main,
aggressive, quick mode; IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA), the proposed algorithms, the
Vendor ID payloads that betray the software (strongSwan, Cisco, Windows versions, ...), NAT
detection (a hidden modem behind a NAT shows it), and in IKEv1 aggressive mode even the peer's
identity (FQDN, user FQDN, address). Each IKE message becomes one operation; rekeys and
dead-peer-detection exchanges keep coming for the life of the tunnel, so the analyzer never stops.

Specifications followed: RFC 2408 (ISAKMP header, generic payload header, SA / proposal /
transform payloads, vendor ID), RFC 2407 (IPsec DOI: identification types, SA attributes), RFC
2409 (IKEv1 exchanges and attribute values), RFC 7296 (IKEv2 header, flags, payloads, transform
types and notify types), RFC 7383 (IKEv2 fragmentation, SKF payload 53), RFC 3947 (NAT-T in
IKEv1: NAT-D payload 20 and the vendor ID), RFC 3948 (UDP encapsulation on port 4500: the
four-byte zero non-ESP marker before IKE, ESP without it, the one-byte 0xFF NAT-keepalive), RFC
3706 (dead peer detection), and the IANA "IKEv2 Parameters" and "ISAKMP" registries for the
names. The vendor ID table follows ike-scan's ike-vendor-ids list (most ids are the MD5 of a
string, e.g. MD5("RFC 3947"), MD5("strongSwan")).

On UDP 4500 the same flow carries IKE and ESP: a datagram starting with the zero marker is IKE,
one without it is ESP-in-UDP and is reported here as protocol ``esp`` (operation
``esp_packet``, see :mod:`.esp`), the 0xFF byte as ``nat_keepalive``. ``parse`` has no port, so it
tells IKE from ESP by content and by what the flow showed before (a marker means NAT-T).

Encrypted messages (IKEv2 SK payload 46 and SKF fragments 53, IKEv1 with the encryption flag)
give their header as an operation and ``error="encrypted"``. A datagram shorter than the IKE
length (the dispatcher sees only the first fragment of an IP-fragmented datagram) gives its
header and an error saying so.

Hand-written: scapy's ISAKMP/IKEv2 layers and dpkt's ``isakmp`` cost an object tree per packet
and decode neither the NAT-T marker nor vendor IDs, and no maintained Python IKE library parses
both sides of an exchange (the IKE daemons' own parsers are C). ``cryptography`` reads the X.509
certificates an unencrypted CERT payload carries.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from cranewatch.protocols import esp as _esp
from cranewatch.protocols._base import Direction, IdentityFact, NameFact, Operation, ParseResult

NAME = "ike"
PORTS = (500, 4500)
HEADER = 28
NON_ESP_MARKER = b"\x00\x00\x00\x00"
NAT_KEEPALIVE = b"\xff"
MAX_PAYLOADS = 64
MAX_PROPOSALS = 16
MAX_TRANSFORMS = 32
MAX_ATTRIBUTES = 32
MAX_LIST = 32
MAX_TEXT = 255

V1_EXCHANGES = {1: "base", 2: "identity_protection", 3: "authentication_only",
                4: "aggressive", 5: "informational", 6: "transaction", 32: "quick",
                33: "new_group"}  # fmt: skip
V2_EXCHANGES = {34: "ike_sa_init", 35: "ike_auth", 36: "create_child_sa", 37: "informational",
                38: "ike_session_resume", 43: "ike_intermediate",
                44: "ike_followup_kex"}  # fmt: skip
V1_PAYLOADS = {1: "SA", 2: "P", 3: "T", 4: "KE", 5: "ID", 6: "CERT", 7: "CR", 8: "HASH",
               9: "SIG", 10: "NONCE", 11: "N", 12: "D", 13: "VID", 14: "ATTR", 15: "SAK",
               16: "SAT", 17: "KD", 18: "SEQ", 19: "POP", 20: "NAT-D", 21: "NAT-OA",
               22: "GAP", 130: "NAT-D", 131: "NAT-OA", 132: "FRAG"}  # fmt: skip
V2_PAYLOADS = {33: "SA", 34: "KE", 35: "IDi", 36: "IDr", 37: "CERT", 38: "CERTREQ",
               39: "AUTH", 40: "Ni", 41: "N", 42: "D", 43: "V", 44: "TSi", 45: "TSr",
               46: "SK", 47: "CP", 48: "EAP", 49: "GSPM", 50: "IDg", 51: "GSA", 52: "KD",
               53: "SKF", 54: "PS"}  # fmt: skip
V2_SK, V2_SKF = 46, 53
PROTOCOLS = {1: "ike", 2: "ah", 3: "esp", 4: "ipcomp"}
ID_TYPES = {1: "ipv4", 2: "fqdn", 3: "user_fqdn", 4: "ipv4_subnet", 5: "ipv6",
            6: "ipv6_subnet", 7: "ipv4_range", 8: "ipv6_range", 9: "der_asn1_dn",
            10: "der_asn1_gn", 11: "key_id", 12: "fc_name", 13: "null"}  # fmt: skip

# IKEv2 transform ids (IANA "IKEv2 Parameters", transform types 1-4)
V2_ENCR = {1: "DES_IV64", 2: "DES", 3: "3DES", 4: "RC5", 5: "IDEA", 6: "CAST", 7: "BLOWFISH",
           8: "3IDEA", 9: "DES_IV32", 11: "NULL", 12: "AES_CBC", 13: "AES_CTR",
           14: "AES_CCM_8", 15: "AES_CCM_12", 16: "AES_CCM_16", 18: "AES_GCM_8",
           19: "AES_GCM_12", 20: "AES_GCM_16", 21: "NULL_AUTH_AES_GMAC", 23: "CAMELLIA_CBC",
           24: "CAMELLIA_CTR", 25: "CAMELLIA_CCM_8", 26: "CAMELLIA_CCM_12",
           27: "CAMELLIA_CCM_16", 28: "CHACHA20_POLY1305"}  # fmt: skip
V2_PRF = {1: "HMAC_MD5", 2: "HMAC_SHA1", 3: "HMAC_TIGER", 4: "AES128_XCBC", 5: "HMAC_SHA2_256",
          6: "HMAC_SHA2_384", 7: "HMAC_SHA2_512", 8: "AES128_CMAC"}  # fmt: skip
V2_INTEG = {0: "NONE", 1: "HMAC_MD5_96", 2: "HMAC_SHA1_96", 3: "DES_MAC", 4: "KPDK_MD5",
            5: "AES_XCBC_96", 6: "HMAC_MD5_128", 7: "HMAC_SHA1_160", 8: "AES_CMAC_96",
            9: "AES_128_GMAC", 10: "AES_192_GMAC", 11: "AES_256_GMAC",
            12: "HMAC_SHA2_256_128", 13: "HMAC_SHA2_384_192",
            14: "HMAC_SHA2_512_256"}  # fmt: skip
DH_GROUPS = {0: "NONE", 1: "MODP_768", 2: "MODP_1024", 5: "MODP_1536", 14: "MODP_2048",
             15: "MODP_3072", 16: "MODP_4096", 17: "MODP_6144", 18: "MODP_8192",
             19: "ECP_256", 20: "ECP_384", 21: "ECP_521", 22: "MODP_1024_160",
             23: "MODP_2048_224", 24: "MODP_2048_256", 25: "ECP_192", 26: "ECP_224",
             27: "BRAINPOOL_P224", 28: "BRAINPOOL_P256", 29: "BRAINPOOL_P384",
             30: "BRAINPOOL_P512", 31: "CURVE25519", 32: "CURVE448", 35: "ML_KEM_512",
             36: "ML_KEM_768", 37: "ML_KEM_1024"}  # fmt: skip
# IKEv1 (RFC 2409 appendix A) phase 1 attribute values
V1_ENCR = {1: "DES_CBC", 2: "IDEA_CBC", 3: "BLOWFISH_CBC", 4: "RC5_CBC", 5: "3DES_CBC",
           6: "CAST_CBC", 7: "AES_CBC", 8: "CAMELLIA_CBC"}  # fmt: skip
V1_HASH = {1: "MD5", 2: "SHA1", 3: "TIGER", 4: "SHA2_256", 5: "SHA2_384", 6: "SHA2_512"}
V1_AUTH = {1: "PSK", 2: "DSS_SIG", 3: "RSA_SIG", 4: "RSA_ENC", 5: "RSA_REV_ENC",
           64221: "HYBRID_RSA", 65001: "XAUTH_PSK", 65005: "XAUTH_RSA_SIG"}  # fmt: skip
# IKEv1 ESP transform ids (RFC 2407 4.4.4) and AH auth algorithms (attribute 5)
V1_ESP = {1: "DES_IV64", 2: "DES", 3: "3DES", 4: "RC5", 5: "IDEA", 6: "CAST", 7: "BLOWFISH",
          11: "NULL", 12: "AES_CBC", 13: "AES_CTR", 18: "AES_GCM_8", 19: "AES_GCM_12",
          20: "AES_GCM_16"}  # fmt: skip
V1_AH_AUTH = {1: "HMAC_MD5", 2: "HMAC_SHA1", 5: "HMAC_SHA2_256", 6: "HMAC_SHA2_384",
              7: "HMAC_SHA2_512"}  # fmt: skip

NOTIFY = {1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION",
          7: "INVALID_SYNTAX", 9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI",
          14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD", 24: "AUTHENTICATION_FAILED",
          34: "SINGLE_PAIR_REQUIRED", 35: "NO_ADDITIONAL_SAS", 36: "INTERNAL_ADDRESS_FAILURE",
          37: "FAILED_CP_REQUIRED", 38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS",
          43: "TEMPORARY_FAILURE", 44: "CHILD_SA_NOT_FOUND", 16384: "INITIAL_CONTACT",
          16385: "SET_WINDOW_SIZE", 16386: "ADDITIONAL_TS_POSSIBLE", 16387: "IPCOMP_SUPPORTED",
          16388: "NAT_DETECTION_SOURCE_IP", 16389: "NAT_DETECTION_DESTINATION_IP",
          16390: "COOKIE", 16391: "USE_TRANSPORT_MODE", 16393: "REKEY_SA",
          16394: "ESP_TFC_PADDING_NOT_SUPPORTED", 16395: "NON_FIRST_FRAGMENTS_ALSO",
          16396: "MOBIKE_SUPPORTED", 16404: "MULTIPLE_AUTH_SUPPORTED",
          16406: "REDIRECT_SUPPORTED", 16407: "REDIRECT", 16430: "IKEV2_FRAGMENTATION_SUPPORTED",
          16431: "SIGNATURE_HASH_ALGORITHMS", 24576: "RESPONDER_LIFETIME",
          36136: "R_U_THERE", 36137: "R_U_THERE_ACK"}  # fmt: skip
NAT_D_NOTIFY = (16388, 16389)
DPD_NOTIFY = (36136, 36137)


def _md5_hex(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


#: Vendor ID prefixes (hex) -> (name, kind). "product" names an implementation, "capability" a
#: feature many implementations announce, "windows" a Microsoft version (also an ``os`` fact).
#: Longest prefix wins. From ike-scan's ike-vendor-ids (the names Zeek's ipsec.log uses).
VENDOR_IDS: dict[str, tuple[str, str]] = {
    _md5_hex("RFC 3947"): ("RFC 3947 NAT-T", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike"): ("draft-ietf-ipsec-nat-t-ike", "capability"),
    "4485152d18b6bbcd0be8a8469579ddcc": ("draft-ietf-ipsec-nat-t-ike-00", "capability"),
    "16f6ca16e4a4066d83821a0f0aeaa862": ("draft-ietf-ipsec-nat-t-ike-01", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-02"): ("draft-ietf-ipsec-nat-t-ike-02", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-02\n"): ("draft-ietf-ipsec-nat-t-ike-02", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-03"): ("draft-ietf-ipsec-nat-t-ike-03", "capability"),
    "9909b64eed937c6573de52ace952fa6b": ("draft-ietf-ipsec-nat-t-ike-04", "capability"),
    "80d0bb3def54565ee84645d4c85ce3ee": ("draft-ietf-ipsec-nat-t-ike-05", "capability"),
    "4d1e0e136deafa34c4f3ea9f02ec7285": ("draft-ietf-ipsec-nat-t-ike-06", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-07"): ("draft-ietf-ipsec-nat-t-ike-07", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-08"): ("draft-ietf-ipsec-nat-t-ike-08", "capability"),
    _md5_hex("draft-ietf-ipsec-nat-t-ike-09"): ("draft-ietf-ipsec-nat-t-ike-09", "capability"),
    "27bab5dc01ea0760ea4e3190ac27c0d0": ("draft-stenberg-ipsec-nat-traversal-01", "capability"),
    "6105c422e76847e43f9684801292aecd": ("draft-stenberg-ipsec-nat-traversal-02", "capability"),
    "6a7434c19d7e36348090a02334c9c805": ("draft-huttunen-ipsec-esp-in-udp-00", "capability"),
    "50760f624c63e5c53eea386c685ca083": ("ESPThruNAT", "capability"),
    "afcad71368a1f1c96b8696fc7757": ("Dead Peer Detection", "capability"),
    "09002689dfd6b712": ("XAUTH", "capability"),
    _md5_hex("FRAGMENTATION"): ("IKE Fragmentation", "capability"),
    "4865617274426561745f4e6f74696679": ("HeartBeat_Notify", "capability"),
    "12f5f28c457168a9702d9fe274cc": ("Cisco Unity", "product"),  # MD5("CISCO-UNITY")[:14]
    "1f07f70eaa6514d3b0fa96542a": ("Cisco VPN Concentrator", "product"),
    "f6f7efc7f5aeb8cb158cb9d094ba69e7": ("Cisco VPN 3000 client", "product"),
    _md5_hex("strongSwan"): ("strongSwan", "product"),
    "e154b11a96ee2b44d4954843cd3a40a3": ("strongSwan 5.0.0", "product"),
    "75aa8f69de2e44500dae842be21f5491": ("strongSwan 5.0.1", "product"),
    "04d52cc5fd04aa971063b111917731d2": ("strongSwan 5.0.2", "product"),
    "d398476a43b9d6c56c4045ffcc9fffb9": ("strongSwan 5.0.3", "product"),
    "dc3afcdda0514da394b4b36f4cb1b9a7": ("strongSwan 5.0.4", "product"),
    "b7d8e62184049fb21b088d4232d2549c": ("strongSwan 5.1.0", "product"),
    "9e10a0d4205edc6c90bd5381a53c2d2b": ("strongSwan 5.1.1", "product"),
    _md5_hex("KAME/racoon"): ("KAME/racoon", "product"),
    "4d6163204f53582031302e78": ("Mac OS X 10.x", "product"),  # "Mac OSX 10.x"
    "f4ed19e0c114eb516faaac0ee37daf2807b4381f": ("Check Point Firewall-1", "product"),
    "5b362bc820f6": ("SonicWall", "product"),
    "404bf439522ca3f6": ("SonicWall", "product"),
    "da8e937880010000": ("SonicWall", "product"),
    "dbfb81eb5760b0788562067da102d755": ("Netgear", "product"),
    "b858d1addd08c1e8adafea150608aa4497aa6cc8": ("ZyXEL ZyWALL Router", "product"),
    "625027749d5ab97f5616c1602765cf480a3b7d0b": ("ZyXEL ZyWALL", "product"),
    "f758f22668750f03b08df6ebe1d0": ("ZyXEL ZyWALL USG", "product"),
    "47bbe7c993f1fc13b4e6d0db565c68e5": ("SafeNet SoftRemote", "product"),
    "054182a07c7ae206f9d2cf9d2432c482": ("SSH Sentinel", "product"),
    "54494d4553544550": ("Timestep", "product"),  # "TIMESTEP"
    "424e4553000000": ("Nortel Contivity", "product"),
    # Microsoft: MD5("MS NT5 ISAKMPOAKLEY") and a version number
    _md5_hex("MS NT5 ISAKMPOAKLEY"): ("MS NT5 ISAKMPOAKLEY", "windows"),
    _md5_hex("Vid-Initial-Contact"): ("Microsoft Initial-Contact", "capability"),
    _md5_hex("MS-Negotiation Discovery Capable"): (
        "MS-Negotiation Discovery Capable",
        "capability",
    ),
    "214ca4faffa7f32d6748e5303395ae83": ("MS-MamieExists", "capability"),
    "72872b95fcda2eb708efe322119b4971": ("NLBS_PRESENT", "capability"),
    "e3a5966a76379fe707228231e5ce8652": ("IKE CGA version 1", "capability"),
}
#: the version word after MD5("MS NT5 ISAKMPOAKLEY") -> (ike-scan name, operating system)
WINDOWS_VERSIONS = {2: ("Windows-2000", "Windows 2000"), 3: ("Windows-XP-SP1", "Windows XP SP1"),
                    4: ("Windows-2003-or-XP-SP2", "Windows Server 2003 or XP SP2"),
                    5: ("Windows-Vista", "Windows Vista"),
                    6: ("Windows-2008", "Windows Server 2008"), 7: ("Windows-7", "Windows 7"),
                    8: ("Windows-2008-R2", "Windows Server 2008 R2"),
                    9: ("Windows-8", "Windows 8 or later")}  # fmt: skip
_VID_PREFIXES = sorted(VENDOR_IDS, key=len, reverse=True)
VID_CONFIDENCE = {"product": 1.0, "windows": 1.0, "capability": 0.7}
UNKNOWN_VID_CONFIDENCE = 0.5


def vendor_id_name(data: bytes) -> tuple[str, str] | None:
    """(name, kind) of a Vendor ID payload's data, or None when unknown."""
    text = data.hex()
    for prefix in _VID_PREFIXES:
        if text.startswith(prefix):
            name, kind = VENDOR_IDS[prefix]
            if kind == "windows" and len(data) == 20:
                version = int.from_bytes(data[16:20], "big")
                if version in WINDOWS_VERSIONS:
                    return WINDOWS_VERSIONS[version][0], kind
            return name, kind
    return None


class _Header:
    __slots__ = ("exchange", "flags", "ispi", "length", "major", "message_id", "minor",
                 "next_payload", "rspi")  # fmt: skip

    def __init__(self, data: bytes) -> None:
        self.ispi = data[0:8]
        self.rspi = data[8:16]
        self.next_payload = data[16]
        self.major, self.minor = data[17] >> 4, data[17] & 0x0F
        self.exchange = data[18]
        self.flags = data[19]
        self.message_id = int.from_bytes(data[20:24], "big")
        self.length = int.from_bytes(data[24:28], "big")


def header_plausible(data: bytes) -> _Header | None:
    """The IKE header at the start of ``data`` when its fields hold values IKE uses."""
    if len(data) < HEADER:
        return None
    head = _Header(data)
    if head.minor != 0 or head.length < HEADER or not any(head.ispi):
        return None
    if head.major == 1:
        ok = head.exchange in V1_EXCHANGES and head.flags < 8
        ok = ok and (head.next_payload in V1_PAYLOADS or head.next_payload == 0)
    elif head.major == 2:
        ok = head.exchange in V2_EXCHANGES and not head.flags & 0xC7
        ok = ok and (head.next_payload in V2_PAYLOADS or head.next_payload == 0)
    else:
        return None
    return head if ok else None


def _text(data: bytes) -> str:
    return data[:MAX_TEXT].decode("utf-8", errors="replace").strip("\x00").strip()


def _printable(data: bytes) -> bool:
    return bool(data) and all(0x20 <= b < 0x7F for b in data)


def _attributes(data: bytes) -> list[tuple[int, int | bytes]]:
    """SA attributes (RFC 2408 3.3): (type, value); TV values as int, TLV as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos + 4 <= len(data) and len(out) < MAX_ATTRIBUTES:
        word = int.from_bytes(data[pos : pos + 2], "big")
        kind = word & 0x7FFF
        if word & 0x8000:
            out.append((kind, int.from_bytes(data[pos + 2 : pos + 4], "big")))
            pos += 4
        else:
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            out.append((kind, data[pos + 4 : pos + 4 + length]))
            pos += 4 + length
    return out


def _int(value: int | bytes) -> int:
    return value if isinstance(value, int) else int.from_bytes(value[:8], "big")


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, f"UNKNOWN_{value}")


def _proposals(body: bytes, v1: bool) -> tuple[list[dict[str, Any]], str | None]:
    """Proposals of an SA payload body (after the DOI and situation in IKEv1)."""
    out: list[dict[str, Any]] = []
    pos = 0
    while pos + 8 <= len(body) and len(out) < MAX_PROPOSALS:
        more, length = body[pos], int.from_bytes(body[pos + 2 : pos + 4], "big")
        if length < 8 or pos + length > len(body):
            return out, f"SA proposal claims {length} bytes, has {len(body) - pos}"
        number, proto, spi_size, count = body[pos + 4 : pos + 8]
        proposal: dict[str, Any] = {"number": number, "protocol": _name(PROTOCOLS, proto)}
        spi = body[pos + 8 : pos + 8 + spi_size]
        if spi:
            proposal["spi"] = spi.hex()
        tpos, end = pos + 8 + spi_size, pos + length
        for _ in range(min(count, MAX_TRANSFORMS)):
            if tpos + 8 > end:
                break
            tlen = int.from_bytes(body[tpos + 2 : tpos + 4], "big")
            if tlen < 8 or tpos + tlen > end:
                return out, f"SA transform claims {tlen} bytes"
            attrs = _attributes(body[tpos + 8 : tpos + tlen])
            if v1:
                _v1_transform(proposal, proto, body[tpos + 5], attrs)
            else:
                ttype = body[tpos + 4]
                tid = int.from_bytes(body[tpos + 6 : tpos + 8], "big")
                _v2_transform(proposal, ttype, tid, attrs)
            tpos += tlen
        out.append(proposal)
        pos += length
        if more == 0:
            break
    return out, None


def _add(proposal: dict[str, Any], key: str, value: str) -> None:
    values = proposal.setdefault(key, [])
    if value not in values and len(values) < MAX_LIST:
        values.append(value)


def _v2_transform(proposal: dict[str, Any], ttype: int, tid: int,
                  attrs: list[tuple[int, int | bytes]]) -> None:  # fmt: skip
    if ttype == 1:
        name = _name(V2_ENCR, tid)
        for kind, value in attrs:
            if kind == 14:  # Key Length
                name += f"_{_int(value)}"
        _add(proposal, "encryption", name)
    elif ttype == 2:
        _add(proposal, "prf", _name(V2_PRF, tid))
    elif ttype == 3:
        _add(proposal, "integrity", _name(V2_INTEG, tid))
    elif ttype == 4:
        _add(proposal, "dh_group", _name(DH_GROUPS, tid))
    elif ttype == 5:
        _add(proposal, "esn", "yes" if tid else "no")


def _v1_transform(proposal: dict[str, Any], proto: int, tid: int,
                  attrs: list[tuple[int, int | bytes]]) -> None:  # fmt: skip
    values = {kind: _int(value) for kind, value in attrs}
    if proto == 1:  # ISAKMP: the algorithms are attributes (RFC 2409 appendix A)
        if 1 in values:
            name = _name(V1_ENCR, values[1])
            _add(proposal, "encryption", f"{name}_{values[14]}" if 14 in values else name)
        if 2 in values:
            _add(proposal, "integrity", _name(V1_HASH, values[2]))
        if 3 in values:
            _add(proposal, "auth_method", _name(V1_AUTH, values[3]))
        if 4 in values:
            _add(proposal, "dh_group", _name(DH_GROUPS, values[4]))
    else:  # IPsec DOI (RFC 2407 4.5): transform id is the cipher, attribute 5 the auth
        if proto == 3:
            name = _name(V1_ESP, tid)
            _add(proposal, "encryption", f"{name}_{values[6]}" if 6 in values else name)
        if 5 in values:
            _add(proposal, "integrity", _name(V1_AH_AUTH, values[5]))
        if 3 in values:
            _add(proposal, "dh_group", _name(DH_GROUPS, values[3]))  # PFS group


def _identification(id_type: int, data: bytes) -> tuple[str, str | None]:
    """(id type name, readable value or None) of an Identification payload."""
    kind = _name(ID_TYPES, id_type).lower()
    try:
        if id_type == 1 and len(data) == 4:
            return kind, str(ipaddress.IPv4Address(data))
        if id_type == 5 and len(data) == 16:
            return kind, str(ipaddress.IPv6Address(data))
        if id_type in (4, 7) and len(data) == 8:
            return kind, f"{ipaddress.IPv4Address(data[:4])}/{ipaddress.IPv4Address(data[4:])}"
    except ValueError:  # pragma: no cover - lengths checked
        return kind, None
    if id_type in (2, 3) or (id_type == 11 and _printable(data)):
        return kind, _text(data) or None
    return kind, None


ID_ATTRIBUTES = {"fqdn": "hostname", "user_fqdn": "client_id", "key_id": "client_id",
                 "ipv4": "ip_address", "ipv6": "ip_address"}  # fmt: skip


def _certificate(data: bytes) -> tuple[dict[str, str], list[str]]:
    """Subject/issuer and DNS names of a DER X.509 certificate (CERT encoding 4)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(data)
        info = {"subject": cert.subject.rfc4514_string()[:MAX_TEXT],
                "issuer": cert.issuer.rfc4514_string()[:MAX_TEXT]}  # fmt: skip
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names += san.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            pass
    except Exception:  # cryptography raises several types on malformed DER
        return {"error": "unreadable certificate"}, []
    return info, [n[:MAX_TEXT] for n in names[:MAX_LIST] if n]


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


def _flags(head: _Header) -> list[str]:
    if head.major == 1:
        bits = ((0x01, "encrypted"), (0x02, "commit"), (0x04, "authentication_only"))
    else:
        bits = ((0x08, "initiator"), (0x10, "version"), (0x20, "response"))
    return [name for bit, name in bits if head.flags & bit]


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


def _looks_like_ike(data: bytes) -> bool:
    head = header_plausible(data)
    return head is not None and head.length >= len(data)  # longer: a first IP fragment


class IkeAnalyzer:
    """IKE messages on UDP 500/4500 -> one operation each; ESP-in-UDP and NAT-keepalives on
    4500 as ``esp_packet`` / ``nat_keepalive``."""

    name = NAME
    description = "IKEv1/ISAKMP and IKEv2 on UDP 500 and 4500 (NAT-T, ESP-in-UDP)"
    status: Literal["stable", "beta"] = "beta"
    session_kind = "tunnel"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        data = payload
        marker = payload[:4] == NON_ESP_MARKER and len(payload) >= 4 + HEADER
        if marker:
            data = payload[4:]
        head = header_plausible(data)
        if head is not None:
            if head.length == len(data):
                score = 0.95
            elif head.length > len(data):  # a first IP fragment
                score = 0.8 if len(data) >= 512 else 0.6
            else:
                score = 0.6
            if head.major == 1 and head.exchange in (2, 4) and not any(head.rspi):
                score = max(score, 0.9)  # phase 1 opening: responder SPI still zero
            if marker and port != 4500:
                score -= 0.2
            return score
        if port == 4500:  # RFC 3948: keepalive, or ESP (random bytes after a non-zero SPI)
            if payload == NAT_KEEPALIVE:
                return 0.6
            if len(payload) >= 8 and any(payload[:4]):
                return 0.55
        return 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(payload, from_client, state)
        except (IndexError, ValueError, KeyError) as exc:  # pragma: no cover - defensive
            return ParseResult(error=f"malformed IKE datagram: {exc}")

    def _parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if payload == NAT_KEEPALIVE:
            state["nat_t"] = True
            op = Operation(protocol=NAME, code=0xFF, name="nat_keepalive",
                           direction="unsolicited")  # fmt: skip
            return ParseResult(operations=[op])
        if payload[:4] == NON_ESP_MARKER:
            state["nat_t"] = True
            return parse_ike(payload[4:], from_client, state)
        if not state.get("nat_t") and (state.get("plain_ike") or _looks_like_ike(payload)):
            # UDP 500 (or IKE without the marker): no ESP can share this flow
            state["plain_ike"] = True
            return parse_ike(payload, from_client, state)
        return _esp.track_packet(payload, from_client, state, may_stop=False)


ANALYZER = IkeAnalyzer()
