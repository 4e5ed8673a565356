"""AnyDesk recognised by content in handshakes a real TLS stack wrote.

No public capture of AnyDesk traffic exists with a licence we can ship, so the handshakes here
come from OpenSSL through Python's ``ssl`` module (client and server talking through memory
buffers), with the server names and certificate subjects AnyDesk's relays use. The bytes are put
into TCP segments of a capture and ingested with every analyzer: the flow must be recognised by
content as ``anydesk`` (a remote-access session), on AnyDesk's own port and on 443 where TLS is
the port's analyzer, while the same handshake to another name stays ``tls``.
"""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.capture_builder import pcap
from tests.protocols.dispatch.conftest import CLIENT, SERVER, Session
from tests.runners import plain_rows

from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_file
from cranewatch.store.query import run_query
from cranewatch.store.workspace import Workspace

RELAY = "relay-0a1b2c3d.net.anydesk.com"


def certificate(folder: Path, common_name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{common_name}.crt", folder / f"{common_name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def handshake(folder: Path, sni: str | None, common_name: str) -> list[tuple[int, bytes]]:
    """(side, bytes) in the order OpenSSL wrote them: a TLS 1.2 handshake (so the certificate
    travels in the clear) and one application-data record each way."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    server_ctx.load_cert_chain(*certificate(folder, common_name))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=sni)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    wire: list[tuple[int, bytes]] = []

    def pump() -> None:
        for side, out, into in ((CLIENT, c_out, s_in), (SERVER, s_out, c_in)):
            data = out.read()
            if data:
                wire.append((side, data))
                into.write(data)

    done = [False, False]
    for _ in range(20):
        for i, end in enumerate((client, server)):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            pump()
        if all(done):
            break
    assert all(done), "the in-memory TLS handshake did not complete"
    client.write(b"remote desktop frame")
    pump()
    server.read(1024)
    server.write(b"ack")
    pump()
    return wire


def ingest(folder: Path, wire: list[tuple[int, bytes]], port: int) -> dict[str, list[Any]]:
    session = Session(server_port=port).handshake()
    for side, data in wire:
        for at in range(0, len(data), 1400):  # MSS-sized segments
            session.send(side, data[at : at + 1400])
    path = folder / f"anydesk-{port}.pcap"
    path.write_bytes(pcap(session.packets))
    ws = Workspace.open(folder / f"ws-{port}", create=True)
    outcome = ingest_file(ws, path, EngineOptions())
    assert outcome.status == "ingested", outcome.error
    return {
        t: plain_rows(run_query(ws, f"SELECT * FROM {t}"))
        for t in ("coverage", "sessions", "names", "identities")
    }


@pytest.mark.parametrize("port", [6568, 7070, 443, 80])
def test_a_relay_name_makes_an_anydesk_session(tmp_path: Path, port: int) -> None:
    tables = ingest(tmp_path, handshake(tmp_path, RELAY, "AnyNet Relay"), port)
    (cov,) = tables["coverage"]
    assert (cov["protocol"], cov["method"], cov["encrypted"]) == ("anydesk", "content", True)
    assert cov["errors"] == 0 and cov["undecoded_bytes"] == 0
    (session,) = tables["sessions"]
    assert (session["protocol"], session["kind"], session["server_port"]) == (
        "anydesk", "remote_access", port)  # fmt: skip
    names = {(n["name"], n["action"]) for n in tables["names"]}
    assert (RELAY, "connected") in names and ("anynet relay", "certified") in names
    software = {i["value"] for i in tables["identities"] if i["attribute"] == "software"}
    assert "AnyNet Relay" in software


@pytest.mark.parametrize("port", [6568, 7070, 443])
def test_a_relay_certificate_without_the_name(tmp_path: Path, port: int) -> None:
    tables = ingest(tmp_path, handshake(tmp_path, "10.0.0.2", "AnyNet Relay"), port)
    (cov,) = tables["coverage"]
    assert (cov["protocol"], cov["method"]) == ("anydesk", "content")


@pytest.mark.parametrize("port", [443, 7070])
def test_the_same_handshake_to_another_server_stays_tls(tmp_path: Path, port: int) -> None:
    tables = ingest(tmp_path, handshake(tmp_path, "portal.crane-vendor.example", "portal"), port)
    (cov,) = tables["coverage"]
    assert (cov["protocol"], cov["method"], cov["encrypted"]) == ("tls", "content", True)
    assert tables["sessions"] == []
    assert ("portal.crane-vendor.example", "connected") in {
        (n["name"], n["action"]) for n in tables["names"]
    }
