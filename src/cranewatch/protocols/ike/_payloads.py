"""IKE payload contents: SA proposals and transforms, identification, certificates, notify types.

An SA payload holds proposals, each with transforms: in IKEv1 (RFC 2408 3.4-3.6) the ISAKMP
proposal's algorithms are SA attributes (RFC 2409 appendix A) and an IPsec DOI proposal's
cipher is the transform id (RFC 2407 4.4.4, 4.5); in IKEv2 (RFC 7296 3.3) every transform has a
type (encryption, PRF, integrity, DH group, ESN) and an id. Proposals are reported with the
algorithm names of the IANA registries. Identification payloads (RFC 2407 4.6.2, RFC 7296 3.5)
give addresses, FQDNs and user FQDNs; certificate payloads of encoding 4 (X.509 signature) are
read with `cryptography`; notify types (RFC 7296 3.10.1, RFC 3706 for dead peer detection) are
named after the IANA registry. Every list is capped and every length checked against its
container.
"""

from __future__ import annotations

import ipaddress
from typing import Any

MAX_PROPOSALS = 16
MAX_TRANSFORMS = 32
MAX_ATTRIBUTES = 32
MAX_LIST = 32
MAX_TEXT = 255

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
