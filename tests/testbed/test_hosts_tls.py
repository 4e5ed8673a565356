"""The TLS programs: the vendor-cloud server and the modem's heartbeat and tunnel client.

Subprocesses on 127.0.0.1 with a high port. The certificate the server made is fetched with
``ssl`` and read with ``cryptography``, and the client's counts are checked against the
server's, session by session.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from tests.testbed._hostprocs import HostProc, free_port, read_events, total


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[HostProc, int, Path]]:
    port, events = free_port(), tmp_path / "events.jsonl"
    config = {"bind": "127.0.0.1", "port": port, "cn": "rms.example.net",
              "sans": ["rms.example.net", "*.rms.example.net"], "org": "Vendor Ltd",
              "event_every": 2}  # fmt: skip
    with HostProc("tls_server", config, events, host="cloud") as proc:
        proc.wait_ready()
        yield proc, port, events


def test_the_certificate_carries_the_configured_names(cloud: tuple[HostProc, int, Path]) -> None:
    _, port, _ = cloud
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="rms.example.net") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "rms.example.net"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Vendor Ltd"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["rms.example.net", "*.rms.example.net"]
    assert cert.issuer == cert.subject  # self-signed


def test_heartbeats_open_one_session_each_with_the_sni(cloud: tuple[HostProc, int, Path]) -> None:
    _, port, events = cloud
    config = {"server_name": "rms.example.net", "address": "127.0.0.1", "port": port,
              "interval_s": 0.05, "count": 3, "serial": "1110999999"}  # fmt: skip
    with HostProc("tls_client", config, events, host="modem") as client:
        assert client.wait() == 0
    sent = read_events(events, program="tls_client", event="tls-heartbeat")
    got = read_events(events, program="tls_server", event="tls-heartbeat")
    assert [r["seq"] for r in sent] == [1, 2, 3] and sorted(r["seq"] for r in got) == [1, 2, 3]
    sessions = read_events(events, program="tls_server", event="tls-session-start")
    assert len(sessions) == 3 and {s["sni"] for s in sessions} == {"rms.example.net"}
    assert all(s["version"].startswith("TLSv1.") for s in sessions)


def test_a_persistent_tunnel_is_one_session_with_every_message(
    cloud: tuple[HostProc, int, Path],
) -> None:
    server, port, events = cloud
    config = {"server_name": "tunnel.example.net", "address": "127.0.0.1", "port": port,
              "interval_s": 0.05, "count": 5, "persistent": True, "payload_bytes": 300,
              "event_every": 2}  # fmt: skip
    with HostProc("tls_client", config, events, host="modem") as client:
        assert client.wait() == 0
    status, seconds = server.terminate()
    assert status == 0 and seconds < 2.0
    assert len(read_events(events, program="tls_server", event="tls-session-start")) == 1
    assert total(read_events(events, program="tls_client", event="tunnel-data")) == 5
    assert total(read_events(events, program="tls_server", event="tunnel-data")) == 5
    end = read_events(events, program="tls_server", event="tls-session-end")[0]
    closed = read_events(events, program="tls_client", event="tunnel-close")[0]
    assert end["messages"] == closed["messages"] == 5
    assert end["bytes_in"] == closed["bytes_out"] > 5 * 400  # 300 random bytes in base64 each


def test_an_unreachable_cloud_is_one_error_event(tmp_path: Path) -> None:
    events, port = tmp_path / "events.jsonl", free_port()
    config = {"server_name": "rms.example.net", "address": "127.0.0.1", "port": port,
              "interval_s": 0.05, "count": 3}  # fmt: skip
    with HostProc("tls_client", config, events, host="modem") as client:
        assert client.wait() == 0
    errors = read_events(events, event="tls-error")
    assert len(errors) == 1 and str(port) in errors[0]["error"]  # once, not once per attempt
    assert not read_events(events, event="tls-heartbeat")
