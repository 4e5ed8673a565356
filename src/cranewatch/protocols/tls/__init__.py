"""TLS: who a device talks to under encryption, with which client software, and whose certificate.

A cellular router or remote-management agent on a crane usually reaches its cloud over TLS. The
handshake is in clear up to the ChangeCipherSpec (TLS 1.0-1.2) or the ServerHello (TLS 1.3), and
it says a lot: the server name the client asked for (SNI: a modem vendor's management cloud, a
remote-support relay), the application protocols offered (ALPN), a fingerprint of the client's
TLS stack (JA4 and JA3: the same embedded agent on a hundred cranes has the same fingerprint),
and, up to TLS 1.2, the server's certificate: its subject and DNS names, its issuer, its
validity, and whether it is self-signed (typical of device-to-device and remote-desktop links).

Every TLS record of a reassembled TCP stream is one PDU; handshake messages are reassembled
across records (see :mod:`._records`). Operations (``code`` is the handshake type for handshake
messages; record-level operations use 256 + the record content type): ``client_hello`` (1),
``server_hello`` (2), ``new_session_ticket`` (4), ``certificate`` (11), ``server_key_exchange``
(12), ``certificate_request`` (13), ``server_hello_done`` (14), ``certificate_verify`` (15),
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
SSLv2-compatible ClientHellos are not decoded (see :mod:`._records`).

The package: :mod:`._records` (record framing, session state, handshake reassembly, alerts),
:mod:`._hello` (ClientHello and ServerHello, extensions, JA3/JA4), :mod:`._certs` (the
Certificate message, X.509 through `cryptography`, AnyDesk's certificate names); this module
holds the analyzer and :func:`parse_record`.

Hand-written because no maintained Python library decodes both sides of a TLS handshake from
captured bytes: the ``ssl`` module and pyOpenSSL drive live connections, scapy's TLS layer is far
too slow per packet and raises on truncated records, dpkt's ``ssl`` module does not know TLS 1.3
and breaks on handshake messages that span records. Certificates themselves are decoded by
`cryptography`, a project dependency. Other analyzers (AnyDesk, RDP over TLS) import
:func:`parse_client_hello`, :func:`parse_record` and :func:`record_length` from here.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import ParseResult
from cranewatch.protocols.tls._certs import (
    ANYDESK_CNS,
    MAX_CERTS,
    _certificate,
    anydesk_certificate_in,
    certificate_info,
)
from cranewatch.protocols.tls._hello import (
    CIPHER_SUITES,
    EXT_ALPN,
    EXT_GROUPS,
    EXT_POINT_FORMATS,
    EXT_SERVER_NAME,
    EXT_SIG_ALGS,
    EXT_SUPPORTED_VERSIONS,
    JA4_VERSIONS,
    VERSION_NAMES,
    ClientHello,
    _client_hello,
    _server_hello,
    client_hello_offered,
    is_grease,
    ja4,
    parse_client_hello,
)
from cranewatch.protocols.tls._records import (
    ALERT,
    ALERT_DESCRIPTIONS,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    CONTENT_TYPES,
    HANDSHAKE,
    HANDSHAKE_TYPES,
    HEARTBEAT,
    MAX_HANDSHAKE_BUFFER,
    MAX_LIST,
    MAX_MESSAGES,
    MAX_RECORD,
    MAX_TEXT,
    RECORD_NAMES,
    RECORD_OP,
    Malformed,
    _alert,
    _Ctx,
    _handshake_record,
    _records_only,
    _session,
    _stop,
    record_length,
)

__all__ = [
    "ALERT",
    "ALERT_DESCRIPTIONS",
    "ANALYZER",
    "ANYDESK_CNS",
    "APPLICATION_DATA",
    "CHANGE_CIPHER_SPEC",
    "CIPHER_SUITES",
    "CONTENT_TYPES",
    "EXT_ALPN",
    "EXT_GROUPS",
    "EXT_POINT_FORMATS",
    "EXT_SERVER_NAME",
    "EXT_SIG_ALGS",
    "EXT_SUPPORTED_VERSIONS",
    "HANDSHAKE",
    "HANDSHAKE_TYPES",
    "HEARTBEAT",
    "JA4_VERSIONS",
    "MAX_CERTS",
    "MAX_HANDSHAKE_BUFFER",
    "MAX_LIST",
    "MAX_MESSAGES",
    "MAX_RECORD",
    "MAX_TEXT",
    "NAME",
    "PORTS",
    "RECORD_NAMES",
    "RECORD_OP",
    "VERSION_NAMES",
    "ClientHello",
    "Malformed",
    "TlsAnalyzer",
    "anydesk_certificate_in",
    "certificate_info",
    "client_hello_offered",
    "is_grease",
    "ja4",
    "parse_client_hello",
    "parse_record",
    "record_length",
]

NAME = "tls"
PORTS = (443, 465, 563, 636, 853, 993, 995, 4433, 5061, 8443, 8883)


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
            _handshake_record(ctx, side, body, _handshake_message)
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


ANALYZER = TlsAnalyzer()
