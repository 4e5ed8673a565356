"""A self-signed TLS certificate made at start, and the server and client SSL contexts.

The vendor-cloud server on the testbed's internet needs a certificate whose names match what
the modem asks for (SNI) and what an analyst would see in the handshake: subject CN, SANs and
organisation. It is generated at start with ``cryptography`` (an EC P-256 key, valid from one
hour ago for a year), written to a temporary folder only long enough for ``ssl`` to load it,
and never reused, so no key material sits in the repository. Clients do not verify it, as
embedded devices talking to their own cloud often do not.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def self_signed(cn: str, sans: list[str], org: str) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``cn`` with DNS or IP ``sans``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        + ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else [])
    )
    alt: list[x509.GeneralName] = []
    for san in sans or [cn]:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            alt.append(x509.DNSName(san))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(cn: str, sans: list[str], org: str) -> ssl.SSLContext:
    """A TLS server context holding a fresh self-signed certificate for ``cn``."""
    cert_pem, key_pem = self_signed(cn, sans, org)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="cranewatch-tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert.write_bytes(cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    return context


def client_context() -> ssl.SSLContext:
    """A TLS client context that does not verify the server (self-signed cloud)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
