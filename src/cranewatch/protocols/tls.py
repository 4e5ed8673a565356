"""TLS: who a device talks to under encryption, with which client software, and whose certificate.

A cellular router or remote-management agent on a crane usually reaches its cloud over TLS. The
handshake is in clear up to the ChangeCipherSpec (TLS 1.0-1.2) or the ServerHello (TLS 1.3), and
it says a lot: the server name the client asked for (SNI: a modem vendor's management cloud, a
remote-support relay), the application protocols offered (ALPN), a fingerprint of the client's
TLS stack (JA4 and JA3: the same embedded agent on a hundred cranes has the same fingerprint),
and, up to TLS 1.2, the server's certificate: its subject and DNS names, its issuer, its
validity, and whether it is self-signed (typical of device-to-device and remote-desktop links).

Every TLS record of a reassembled TCP stream is one PDU. Handshake messages may span records and
several may share one record, so each direction keeps a bounded handshake buffer (64 KiB) in the
flow state. Operations (``code`` is the handshake type for handshake messages; record-level
operations use 256 + the record content type): ``client_hello`` (1), ``server_hello`` (2),
``new_session_ticket`` (4), ``certificate`` (11), ``server_key_exchange`` (12),
``certificate_request`` (13), ``server_hello_done`` (14), ``certificate_verify`` (15),
``client_key_exchange`` (16), ``finished`` (20), ``change_cipher_spec`` (276), ``alert`` (277,
``exception`` = description when fatal), ``encrypted_handshake`` (278: a handshake record after
the sender's ChangeCipherSpec), ``application_data`` (279, the first record only) and
``heartbeat`` (280). Once application data flows, or both sides have sent ChangeCipherSpec, the
parse result has ``stop=True`` and ``error="encrypted"``: bulk traffic is never parsed.

Facts: the ClientHello's SNI is a ``connected`` name of the client; its JA4 (``ja4:...``) and
JA3 (``ja3:<md5>``) are ``tls_fingerprint`` identities of the client (source "tls client
hello"); a cleartext certificate's subject CN and DNS SANs are ``certified`` names of its sender,
and its subject organisation a ``vendor`` fact of confidence 0.6 (source "tls certificate
subject O"): software versions cannot be derived from a certificate.

Specifications: RFC 5246 (TLS 1.2: record layer 6.2, handshake 7.4), RFC 8446 (TLS 1.3:
supported_versions 4.2.1, middlebox-compatibility ChangeCipherSpec D.4), RFC 6066 (server_name),
RFC 7301 (ALPN), RFC 8701 (GREASE values, ignored in fingerprints), RFC 5280 via the
`cryptography` package (X.509); JA4 TLS client fingerprint as specified by FoxIO
(github.com/FoxIO-LLC/ja4, technical_details/JA4.md; the JA4 TLS client part is BSD-3-Clause);
JA3 as published by Salesforce (md5 of version,ciphers,extensions,groups,point formats).
SSLv2-compatible ClientHellos (a two-byte record header with the high bit set, RFC 5246
appendix E.2) are not decoded: ``pdu_length`` reports lost framing for them, and no current TLS
stack sends them.

Hand-written because no maintained Python library decodes both sides of a TLS handshake from
captured bytes: the ``ssl`` module and pyOpenSSL drive live connections, scapy's TLS layer is far
too slow per packet and raises on truncated records, dpkt's ``ssl`` module does not know TLS 1.3
and breaks on handshake messages that span records. Certificates themselves are decoded by
`cryptography`, a project dependency. Other analyzers (AnyDesk, RDP over TLS) import
:func:`parse_client_hello`, :func:`parse_record` and :func:`record_length` from here.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "tls"
PORTS = (443, 465, 563, 636, 853, 993, 995, 4433, 5061, 8443, 8883)

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CONTENT_TYPES = (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT)
MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext.length limit (RFC 5246 6.2.3)
MAX_HANDSHAKE_BUFFER = 64 * 1024
MAX_MESSAGES = 64  # handshake messages decoded from one record
MAX_TEXT = 255
MAX_LIST = 64  # ALPN values, certificate names kept
MAX_CERTS = 10  # certificates of a chain looked at (only the leaf is decoded)
RECORD_OP = 256  # record-level operation codes are RECORD_OP + content type

HANDSHAKE_TYPES = {
    0: "hello_request", 1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
    4: "new_session_ticket", 5: "end_of_early_data", 8: "encrypted_extensions",
    11: "certificate", 12: "server_key_exchange", 13: "certificate_request",
    14: "server_hello_done", 15: "certificate_verify", 16: "client_key_exchange",
    20: "finished", 21: "certificate_url", 22: "certificate_status", 24: "key_update",
    254: "message_hash",
}  # fmt: skip
RECORD_NAMES = {CHANGE_CIPHER_SPEC: "change_cipher_spec", ALERT: "alert",
                HANDSHAKE: "encrypted_handshake", APPLICATION_DATA: "application_data",
                HEARTBEAT: "heartbeat"}  # fmt: skip
VERSION_NAMES = {0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12",
                 0x0304: "TLSv13"}  # fmt: skip
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}  # fmt: skip
ALERT_DESCRIPTIONS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 112: "unrecognized_name", 113: "bad_certificate_status_response",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}  # fmt: skip
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


class Malformed(Exception):
    """A handshake message does not hold what its type says it should."""


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.left():
            raise Malformed(f"needs {n} bytes at {self.pos}, has {self.left()}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.uint(length_bytes))


def _u16_list(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


def _text(raw: bytes) -> str:
    return raw[:MAX_TEXT].decode("utf-8", errors="replace")


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


# -- framing ------------------------------------------------------------------------------------
def record_length(buf: bytes, offset: int) -> int:
    """5 + the record's length; 0 when the header is not all there; -1 if no TLS record."""
    if len(buf) - offset < 5:
        if offset < len(buf) and buf[offset] not in CONTENT_TYPES:
            return -1
        if offset + 1 < len(buf) and buf[offset + 1] != 3:
            return -1
        return 0
    if buf[offset] not in CONTENT_TYPES or buf[offset + 1] != 3 or buf[offset + 2] > 4:
        return -1
    length = int.from_bytes(buf[offset + 3 : offset + 5], "big")
    if length > MAX_RECORD or (length == 0 and buf[offset] != APPLICATION_DATA):
        return -1
    return 5 + length


# -- record parsing -----------------------------------------------------------------------------
def _session(state: dict[str, Any]) -> dict[str, Any]:
    tls = state.get("tls")
    if tls is None:
        tls = state["tls"] = {"hs": [bytearray(), bytearray()], "ccs": [False, False],
                              "version": None, "stopped": False, "server_version": None}  # fmt: skip
    return tls


@dataclass(slots=True)
class _Ctx:
    protocol: str
    from_client: bool
    tls: dict[str, Any]
    result: ParseResult

    @property
    def direction(self) -> Literal["request", "response"]:
        return "request" if self.from_client else "response"

    def op(self, code: int, name: str, target: str | None = None, **kw: Any) -> None:
        if len(self.result.operations) < MAX_MESSAGES:
            self.result.operations.append(Operation(
                protocol=self.protocol, code=code, name=name,
                direction=kw.pop("direction", self.direction),
                target=target[:MAX_TEXT] if target else None, **kw,
            ))  # fmt: skip


def parse_record(pdu: bytes, from_client: bool, state: dict[str, Any],
                 protocol: str = NAME) -> ParseResult:  # fmt: skip
    """Decode one TLS record (see the module docstring); ``protocol`` names the operations and
    facts (``anydesk`` and ``rdp`` reuse this). Never raises on malformed bytes."""
    tls = _session(state)
    if tls["stopped"]:
        return ParseResult(error="encrypted", stop=True)
    n = record_length(pdu, 0)
    if n <= 0:
        return ParseResult(error="not a TLS record header")
    if n != len(pdu):
        return ParseResult(error=f"record length {n - 5} does not match the {len(pdu) - 5} bytes")
    ctx = _Ctx(protocol, from_client, tls, ParseResult())
    side = 0 if from_client else 1
    kind, body = pdu[0], pdu[5:]
    try:
        if kind == HANDSHAKE and not tls["ccs"][side]:
            _handshake_record(ctx, side, body)
        elif kind == HANDSHAKE:
            ctx.op(RECORD_OP + HANDSHAKE, "encrypted_handshake", detail={"length": len(body)})
        elif kind == CHANGE_CIPHER_SPEC:
            tls["ccs"][side] = True
            tls["hs"][side].clear()
            ctx.op(RECORD_OP + kind, "change_cipher_spec")
            if all(tls["ccs"]) and tls.get("server_version") != 0x0304:
                _stop(ctx)
        elif kind == ALERT:
            _alert(ctx, side, body)
        elif kind == APPLICATION_DATA:
            ctx.op(RECORD_OP + kind, "application_data", detail={"length": len(body)})
            _stop(ctx)
        else:
            ctx.op(RECORD_OP + kind, "heartbeat", detail={"length": len(body)})
    except Malformed as exc:
        ctx.result.error = f"malformed TLS record: {exc}"
    return ctx.result


def _stop(ctx: _Ctx) -> None:
    ctx.tls["stopped"] = True
    ctx.tls["hs"] = [bytearray(), bytearray()]
    ctx.result.stop = True
    if ctx.result.error is None:
        ctx.result.error = "encrypted"


def _alert(ctx: _Ctx, side: int, body: bytes) -> None:
    encrypted = ctx.tls["ccs"][side] or len(body) != 2
    if encrypted:
        ctx.op(RECORD_OP + ALERT, "alert", direction="unsolicited",
               detail={"encrypted": True, "length": len(body)})  # fmt: skip
        return
    level, desc = body[0], body[1]
    name = ALERT_DESCRIPTIONS.get(desc, str(desc))
    ctx.op(RECORD_OP + ALERT, "alert", name, direction="unsolicited",
           exception=desc if level == 2 else None,
           detail={"level": "fatal" if level == 2 else "warning", "description": name,
                   "description_code": desc})  # fmt: skip


def _handshake_record(ctx: _Ctx, side: int, body: bytes) -> None:
    buf: bytearray = ctx.tls["hs"][side]
    buf += body
    if len(buf) > MAX_HANDSHAKE_BUFFER:
        buf.clear()
        raise Malformed("handshake message larger than 64 KiB")
    count = 0
    while len(buf) >= 4 and count < MAX_MESSAGES:
        length = int.from_bytes(buf[1:4], "big")
        if length > MAX_HANDSHAKE_BUFFER:
            buf.clear()
            raise Malformed(f"handshake message of {length} bytes")
        if len(buf) < 4 + length:
            return  # the rest comes in the next record(s)
        msg_type, message = buf[0], bytes(buf[4 : 4 + length])
        del buf[: 4 + length]
        count += 1
        _handshake_message(ctx, msg_type, message)
    if count >= MAX_MESSAGES and buf:
        buf.clear()
        raise Malformed(f"more than {MAX_MESSAGES} handshake messages in one record")


def _handshake_message(ctx: _Ctx, msg_type: int, message: bytes) -> None:
    name = HANDSHAKE_TYPES.get(msg_type)
    if name is None:
        ctx.op(msg_type, f"handshake_{msg_type}")
        raise Malformed(f"unknown handshake type {msg_type}")
    if msg_type == 1:
        _client_hello(ctx, message)
    elif msg_type == 2:
        _server_hello(ctx, message)
    elif msg_type == 11:
        _certificate(ctx, message)
    else:
        ctx.op(msg_type, name, detail={"length": len(message)})


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


def _certificate(ctx: _Ctx, message: bytes) -> None:
    r = _Reader(message)
    if ctx.tls.get("server_version") == 0x0304:
        r.vector(1)  # TLS 1.3 certificate_request_context (seen only if sent in clear)
    chain = _Reader(r.vector(3))
    certs: list[bytes] = []
    while chain.left() and len(certs) < MAX_CERTS:
        certs.append(chain.vector(3))
        if ctx.tls.get("server_version") == 0x0304:
            chain.vector(2)  # per-certificate extensions
    if not certs:
        ctx.op(11, "certificate", detail={"chain_length": 0})
        return
    info = certificate_info(certs[0])
    if info is None:
        ctx.op(11, "certificate", detail={"chain_length": len(certs)})
        raise Malformed("leaf certificate cannot be decoded")
    info["chain_length"] = len(certs)
    target = (f"{info['subject'] or '(empty subject)'} issued by {info['issuer']}, "
              f"valid until {info['not_after']}")  # fmt: skip
    ctx.op(11, "certificate", target, detail=info)
    res = ctx.result
    for name in [info.get("common_name"), *info["dns_names"]][: MAX_LIST + 1]:
        if name and not any(n.name == name for n in res.names):
            res.names.append(NameFact(ctx.protocol, name, "certified"))
    org = info.get("organization")
    if org:
        res.identities.append(IdentityFact(ctx.protocol, "vendor", org, 0.6, "sender",
                                           "tls certificate subject O"))  # fmt: skip


def certificate_info(der: bytes) -> dict[str, Any] | None:
    """Subject, issuer, validity, self-signed flag, CN, organisation and DNS SANs of one DER
    certificate, or None when `cryptography` cannot load it."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
            subject, issuer = cert.subject, cert.issuer
            info: dict[str, Any] = {
                "subject": _text(subject.rfc4514_string().encode()),
                "issuer": _text(issuer.rfc4514_string().encode()),
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "self_signed": subject == issuer,
                "serial": f"{cert.serial_number:X}"[:64],
            }
            for key, oid in (("common_name", NameOID.COMMON_NAME),
                             ("organization", NameOID.ORGANIZATION_NAME)):  # fmt: skip
                attrs = subject.get_attributes_for_oid(oid)
                if attrs:
                    value = attrs[0].value
                    info[key] = _text(value if isinstance(value, bytes) else value.encode())
            dns: list[str] = []
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                dns = [_text(n.encode()) for n in san.value.get_values_for_type(x509.DNSName)]
            except (x509.ExtensionNotFound, ValueError):
                pass
            info["dns_names"] = dns[:MAX_LIST]
            return info
    except Exception:  # cryptography raises ValueError and others on hostile DER
        return None


class TlsAnalyzer:
    """TLS records -> handshake operations, SNI/certificate names, JA4/JA3 fingerprints."""

    name = NAME
    description = "TLS/SSL handshake: versions, SNI, ALPN, JA4/JA3, certificates"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        if client_hello_offered(client):
            # the AnyDesk analyzer claims its relays' handshakes with more confidence; below
            # 0.9 so that TLS, the port's own analyzer on 443, does not decide alone
            if b"anydesk.com" in client.lower():  # cheap test first: a full parse is costly
                hello = parse_client_hello(client)
                sni = (hello.sni or "").lower() if hello is not None else ""
                if sni == "anydesk.com" or sni.endswith(".anydesk.com"):
                    return 0.85
            if anydesk_certificate_in(client) or anydesk_certificate_in(server):
                return 0.85
            return 0.95
        # The capture started after the ClientHello: a ServerHello, or a chain of records.
        if (
            len(server) > 5
            and record_length(server, 0) > 9
            and server[:1] == b"\x16"
            and server[5] == 2
        ):
            return 0.9
        sides = [_records_only(client), _records_only(server)]
        if (sides[0] or not client) and (sides[1] or not server) and any(sides):
            return 0.7 if server_port in PORTS else 0.6
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return record_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return parse_record(pdu, from_client, state, NAME)


#: DER of a subject commonName attribute (OID 2.5.4.3) holding an AnyDesk certificate name
ANYDESK_CNS = (b"AnyDesk Client", b"AnyNet Relay")


def anydesk_certificate_in(data: bytes) -> bool:
    """Whether ``data`` holds the DER of an "AnyDesk Client" or "AnyNet Relay" subject CN."""
    for cn in ANYDESK_CNS:
        for tag in (0x0C, 0x13):  # UTF8String, PrintableString
            if b"\x06\x03\x55\x04\x03" + bytes((tag, len(cn))) + cn in data:
                return True
    return False


def _records_only(data: bytes) -> bool:
    """``data`` starts with whole records back to back: two or more, or exactly one."""
    pos = count = 0
    while count < 8 and pos < len(data):
        n = record_length(data, pos)
        if n <= 0 or pos + n > len(data):
            break
        pos, count = pos + n, count + 1
    return count >= 2 or (count == 1 and pos == len(data))


ANALYZER = TlsAnalyzer()
