"""TLS certificates: the Certificate handshake message and its X.509 leaf, decoded by
`cryptography`; the DER test for AnyDesk's certificate names.

Up to TLS 1.2 the server's certificate chain travels in clear (RFC 5246 7.4.2; in TLS 1.3 it
is encrypted, and a cleartext Certificate with the 1.3 layout, RFC 8446 4.4.2, is decoded only
if one is seen). Only the leaf is decoded (RFC 5280, by `cryptography`, a project dependency):
its subject and issuer, validity, serial, whether it is self-signed (typical of
device-to-device and remote-desktop links), the subject CN and organisation and the DNS SANs.
The CN and SANs become ``certified`` names of the sender and the organisation a ``vendor``
fact of confidence 0.6 (source "tls certificate subject O"): software versions cannot be
derived from a certificate.

:func:`anydesk_certificate_in` looks for the DER of AnyDesk's subject CNs in raw bytes, without
decoding anything: detection in the TLS and AnyDesk analyzers calls it on a flow's first bytes.
"""

from __future__ import annotations

import warnings
from typing import Any

from cranewatch.protocols._base import IdentityFact, NameFact
from cranewatch.protocols.tls._records import MAX_LIST, Malformed, _Ctx, _Reader, _text

MAX_CERTS = 10  # certificates of a chain looked at (only the leaf is decoded)


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


#: DER of a subject commonName attribute (OID 2.5.4.3) holding an AnyDesk certificate name
ANYDESK_CNS = (b"AnyDesk Client", b"AnyNet Relay")


def anydesk_certificate_in(data: bytes) -> bool:
    """Whether ``data`` holds the DER of an "AnyDesk Client" or "AnyNet Relay" subject CN."""
    for cn in ANYDESK_CNS:
        for tag in (0x0C, 0x13):  # UTF8String, PrintableString
            if b"\x06\x03\x55\x04\x03" + bytes((tag, len(cn))) + cn in data:
                return True
    return False
