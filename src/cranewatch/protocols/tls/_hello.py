"""TLS hellos: ClientHello and ServerHello decoding, extensions, JA3 and JA4 fingerprints.

The ClientHello (RFC 5246 7.4.1.2, RFC 8446 4.1.2) gives the server name the client asked for
(server_name, RFC 6066), the application protocols offered (ALPN, RFC 7301), the versions
(supported_versions, RFC 8446 4.2.1), groups, point formats and signature algorithms; GREASE
values (RFC 8701) are dropped from every list. From it come two fingerprints of the client's TLS
stack: JA4 as specified by FoxIO (github.com/FoxIO-LLC/ja4, technical_details/JA4.md; the JA4
TLS client part is BSD-3-Clause) and JA3 as published by Salesforce (md5 of
version,ciphers,extensions,groups,point formats). The ServerHello gives the negotiated version
(its supported_versions extension in TLS 1.3), cipher suite and ALPN value.

:func:`parse_client_hello` and :func:`client_hello_offered` also work on a stream's first bytes,
for detection here and in the AnyDesk analyzer; ``_client_hello`` and ``_server_hello`` turn a
decoded handshake message into the operation and facts of the record being parsed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cranewatch.protocols._base import IdentityFact, NameFact
from cranewatch.protocols.tls._records import (
    HANDSHAKE,
    MAX_LIST,
    Malformed,
    _Ctx,
    _Reader,
    _text,
    record_length,
)

VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12",
                 0x0304: "TLSv13"}  # fmt: skip
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}  # fmt: skip
#: IANA names of the cipher suites seen in practice (others are shown as 0x....)
CIPHER_SUITES = {
    0x0004: "TLS_RSA_WITH_RC4_128_MD5", 0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", 0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA", 0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", 0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256", 0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x5600: "TLS_FALLBACK_SCSV",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}  # fmt: skip
EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS, EXT_ALPN = 0, 10, 11, 13, 16
EXT_SUPPORTED_VERSIONS = 43


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values: 0x0A0A, 0x1A1A, ..., 0xFAFA."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def _u16_list(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


# -- ClientHello, JA3, JA4 --------------------------------------------------------------------
@dataclass
class ClientHello:
    """What a ClientHello says (GREASE values removed from every list)."""

    version: int  # legacy_version
    ciphers: list[int]
    extensions: list[int]  # in the order sent
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    alpn_raw_first: bytes | None = None
    ja3_string: str = ""
    ja3: str = ""  # md5 hex of ja3_string
    ja4: str = ""

    @property
    def max_version(self) -> int:
        """The highest version offered: supported_versions (TLS 1.3) or legacy_version."""
        return max(self.supported_versions) if self.supported_versions else self.version


def _ja4_alpn(first: bytes | None) -> str:
    if not first:
        return "00"
    a, b = first[0], first[-1]
    if chr(a).isascii() and chr(a).isalnum() and chr(b).isascii() and chr(b).isalnum():
        return chr(a) + chr(b)
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ja4(hello: ClientHello, transport: str = "t") -> str:
    """The JA4 TLS client fingerprint (FoxIO technical_details/JA4.md)."""
    version = JA4_VERSIONS.get(hello.max_version, "00")
    sni = "d" if EXT_SERVER_NAME in hello.extensions else "i"
    head = (f"{transport}{version}{sni}{min(len(hello.ciphers), 99):02d}"
            f"{min(len(hello.extensions), 99):02d}{_ja4_alpn(hello.alpn_raw_first)}")  # fmt: skip
    ciphers = ",".join(sorted(f"{c:04x}" for c in hello.ciphers))
    part_b = _sha12(ciphers) if hello.ciphers else "000000000000"
    exts = sorted(f"{e:04x}" for e in hello.extensions if e not in (EXT_SERVER_NAME, EXT_ALPN))
    if exts:
        text = ",".join(exts)
        if hello.signature_algorithms:
            text += "_" + ",".join(f"{s:04x}" for s in hello.signature_algorithms)
        part_c = _sha12(text)
    else:
        part_c = "000000000000"
    return f"{head}_{part_b}_{part_c}"


def _client_hello_body(body: bytes) -> ClientHello:
    r = _Reader(body)
    version = r.uint(2)
    r.take(32)  # random
    r.vector(1)  # session id
    ciphers = [c for c in _u16_list(r.vector(2)) if not is_grease(c)]
    r.vector(1)  # compression methods
    hello = ClientHello(version, ciphers, [])
    if r.left():
        ext_block = _Reader(r.vector(2))
        while ext_block.left():
            kind, data = ext_block.uint(2), ext_block.vector(2)
            if is_grease(kind):
                continue
            hello.extensions.append(kind)
            _client_extension(hello, kind, data)
    hello.ja3_string = ",".join((
        str(version), "-".join(map(str, ciphers)), "-".join(map(str, hello.extensions)),
        "-".join(map(str, hello.groups)), "-".join(map(str, hello.point_formats)),
    ))  # fmt: skip
    hello.ja3 = hashlib.md5(hello.ja3_string.encode(), usedforsecurity=False).hexdigest()
    hello.ja4 = ja4(hello)
    return hello


def _client_extension(hello: ClientHello, kind: int, data: bytes) -> None:
    e = _Reader(data)
    if kind == EXT_SERVER_NAME and data:
        names = _Reader(e.vector(2))
        while names.left():
            name_type, name = names.uint(1), names.vector(2)
            if name_type == 0 and hello.sni is None:
                hello.sni = _text(name)
    elif kind == EXT_ALPN and data:
        protos = _Reader(e.vector(2))
        while protos.left():
            proto = protos.vector(1)
            if hello.alpn_raw_first is None:
                hello.alpn_raw_first = proto
            if len(hello.alpn) < MAX_LIST:
                hello.alpn.append(_text(proto))
    elif kind == EXT_SUPPORTED_VERSIONS and data:
        hello.supported_versions = [v for v in _u16_list(e.vector(1)) if not is_grease(v)]
    elif kind == EXT_GROUPS and data:
        hello.groups = [g for g in _u16_list(e.vector(2)) if not is_grease(g)]
    elif kind == EXT_POINT_FORMATS and data:
        hello.point_formats = list(e.vector(1))
    elif kind == EXT_SIG_ALGS and data:
        hello.signature_algorithms = [s for s in _u16_list(e.vector(2)) if not is_grease(s)]


def parse_client_hello(data: bytes) -> ClientHello | None:
    """The ClientHello in ``data``: TLS records (the first bytes of a client's stream, the
    handshake possibly spread over several records) or a bare handshake message. None when
    ``data`` does not start one, or it is cut short or malformed."""
    if not data:
        return None
    if data[0] == HANDSHAKE:
        message = bytearray()
        pos = 0
        while pos + 5 <= len(data) and data[pos] == HANDSHAKE and len(message) < 65536:
            n = record_length(data, pos)
            if n <= 0 or pos + n > len(data):
                message += data[pos + 5 :]
                break
            message += data[pos + 5 : pos + n]
            pos += n
        data = bytes(message)
    if len(data) < 4 or data[0] != 1:
        return None
    length = int.from_bytes(data[1:4], "big")
    if length > len(data) - 4:
        return None
    try:
        return _client_hello_body(data[4 : 4 + length])
    except Malformed:
        return None


def client_hello_offered(data: bytes) -> bool:
    """Whether ``data`` starts with a TLS record carrying the start of a ClientHello."""
    return (
        len(data) > 10
        and record_length(data, 0) > 9
        and data[0] == HANDSHAKE
        and data[5] == 1
        and data[9] == 3
        and data[10] <= 4
    )


# -- handshake messages of a parsed record ------------------------------------------------------
def _client_hello(ctx: _Ctx, message: bytes) -> None:
    try:
        hello = _client_hello_body(message)
    except Malformed:
        ctx.op(1, "client_hello")
        raise
    version = VERSION_NAMES.get(hello.max_version, f"0x{hello.max_version:04x}")
    detail: dict[str, Any] = {
        "version": VERSION_NAMES.get(hello.version, f"0x{hello.version:04x}"),
        "max_version": version, "cipher_count": len(hello.ciphers),
        "extension_count": len(hello.extensions), "ja3": hello.ja3, "ja4": hello.ja4,
    }  # fmt: skip
    if hello.sni:
        detail["server_name"] = hello.sni
    if hello.alpn:
        detail["alpn"] = hello.alpn
    ctx.op(1, "client_hello", hello.sni, detail=detail)
    r = ctx.result
    if hello.sni:
        r.names.append(NameFact(ctx.protocol, hello.sni, "connected"))
    for value in (f"ja4:{hello.ja4}", f"ja3:{hello.ja3}"):
        r.identities.append(
            IdentityFact(ctx.protocol, "tls_fingerprint", value, 1.0, "sender", "tls client hello")
        )


def _server_hello(ctx: _Ctx, message: bytes) -> None:
    r = _Reader(message)
    detail: dict[str, Any] = {}
    try:
        version = r.uint(2)
        r.take(32)
        r.vector(1)
        cipher = r.uint(2)
        r.uint(1)  # compression
        if r.left():
            exts = _Reader(r.vector(2))
            while exts.left():
                kind, data = exts.uint(2), exts.vector(2)
                if kind == EXT_SUPPORTED_VERSIONS and len(data) == 2:
                    version = int.from_bytes(data, "big")
                elif kind == EXT_ALPN and len(data) > 3:
                    detail["alpn"] = _text(_Reader(data, 3).take(data[2]))
    except Malformed:
        ctx.op(2, "server_hello", detail=detail or None)
        raise
    ctx.tls["server_version"] = version
    name = VERSION_NAMES.get(version, f"0x{version:04x}")
    cipher_name = CIPHER_SUITES.get(cipher, f"0x{cipher:04x}")
    detail.update(version=name, cipher=cipher_name, cipher_code=cipher)
    ctx.op(2, "server_hello", f"{name} {cipher_name}", detail=detail)
