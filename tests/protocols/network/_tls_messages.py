"""Building TLS records and handshake messages for the TLS and AnyDesk analyzers' tests.

``record`` and ``handshake`` wrap a body in a TLS record or handshake message header;
``client_hello_body`` / ``client_hello_record`` build a ClientHello (with the extension helpers
``ext``, ``sni_ext`` and ``alpn_ext``), ``server_hello_body`` a ServerHello, and
``self_signed_der`` / ``certificate_message`` a certificate made at test time and the handshake
message carrying it.
"""

from __future__ import annotations

import datetime as dt


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def ext(kind: int, data: bytes) -> bytes:
    return u16(kind) + u16(len(data)) + data


def sni_ext(name: str) -> bytes:
    entry = b"\x00" + u16(len(name)) + name.encode()
    return ext(0, u16(len(entry)) + entry)


def alpn_ext(*protos: bytes) -> bytes:
    body = b"".join(bytes([len(p)]) + p for p in protos)
    return ext(16, u16(len(body)) + body)


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def record(content_type: int, body: bytes, version: int = 0x0301) -> bytes:
    return bytes([content_type]) + u16(version) + u16(len(body)) + body


def client_hello_body(ciphers: list[int], extensions: bytes, version: int = 0x0303) -> bytes:
    suites = b"".join(u16(c) for c in ciphers)
    return (u16(version) + bytes(32) + b"\x00" + u16(len(suites)) + suites + b"\x01\x00"
            + u16(len(extensions)) + extensions)  # fmt: skip


def client_hello_record(sni: str | None = "plc-cloud.example.net", alpn: bytes = b"h2") -> bytes:
    exts = (sni_ext(sni) if sni else b"") + alpn_ext(alpn, b"http/1.1")
    exts += ext(43, b"\x04\x03\x04\x03\x03") + ext(10, b"\x00\x04\x00\x1d\x00\x17")
    exts += ext(11, b"\x01\x00") + ext(13, b"\x00\x04\x04\x03\x08\x04")
    return record(22, handshake(1, client_hello_body([0x1301, 0x1302, 0xC02F], exts)))


def server_hello_body(cipher: int, version: int = 0x0303, extensions: bytes = b"") -> bytes:
    body = u16(version) + bytes(32) + b"\x00" + u16(cipher) + b"\x00"
    return body + (u16(len(extensions)) + extensions if extensions else b"")


def self_signed_der(cn: str, org: str, dns: list[str]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    # DER order O, CN: RFC 4514 (and Zeek) print it reversed, "CN=...,O=..."
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # fmt: skip
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(0x1234)
               .not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650)))  # fmt: skip
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_message(*ders: bytes) -> bytes:
    chain = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return handshake(11, len(chain).to_bytes(3, "big") + chain)
