"""AnyDesk: a remote-desktop path that reaches a crane PC through the vendor's relay network.

AnyDesk is one of the remote-support tools a supplier (or an intruder) installs on an HMI or a
crane PC to reach it from anywhere; the connection goes out to AnyDesk's relays, so no
inbound firewall rule shows it (``session_kind = "remote_access"``). Its traffic is TLS, and
the handshake gives it away:

- the client's ServerName (SNI) is a relay of AnyDesk's network, ``relay-<hex>.net.anydesk.com``
  or ``boot-<...>.net.anydesk.com`` (confidence 0.97);
- its certificates are self-signed with fixed subjects: the client presents "AnyDesk Client",
  relays "AnyNet Relay" issued by "AnyNet Root CA" (O=philandro Software GmbH, AnyDesk's former
  company name); on a TLS handshake either subject gives 0.9, 0.95 on TCP 7070 or 6568;
- TCP 7070 is the port of direct (LAN) connections and 6568 the relay port (80 and 443 are
  fallbacks): a TLS ClientHello to 7070 without other evidence gives 0.6, below the TLS
  analyzer's 0.95, so the TLS analyzer keeps such a flow unless the handshake says AnyDesk.

Sources, as found with a search of public pages while writing this module (the vendor's own
firewall page could not be retrieved, so its exact wording is not quoted here): a FortiGate
blocking guide gives TCP 6568 as AnyDesk's default port with 80/443 as fallbacks; a Fortinet
community thread shows web-filter logs full of "AnyNet Relay" and of
``boot-*.net.anydesk.com`` / ``relay-*.net.anydesk.com``; published relay lists are names of
the form ``relay-xxxxxxxx.net.anydesk.com``; Cisco's OpenAppID AnyDesk detector matches the
certificate names "AnyNet Relay" and "AnyNet Root CA", ufdbGuard checks for "/CN=AnyNet Relay",
and a TLS scan lists "AnyNet Relay/AnyNet Root CA/O=philandro Software GmbH/C=DE"; a user's
notes say direct connections by IP go over TCP 7070. The "AnyDesk Client" subject of client
certificates comes from the cranewatch issue and was not confirmed by a second source. The
confidences above therefore rest on the relay names and the relay certificate, which several
independent detectors use, more than on the ports.

Parsing reuses the TLS analyzer's record and handshake decoder (:mod:`cranewatch.protocols.tls`)
and names the operations and facts ``anydesk``: ``client_hello``, ``server_hello``,
``certificate``, ..., the SNI as a ``connected`` name, the certificate names as ``certified``
names, the JA4/JA3 fingerprints, and a ``software`` fact about the side that shows it ("AnyDesk", or "AnyNet Relay" for a relay)
(the client of an AnyDesk SNI, the presenter of an "AnyDesk Client" certificate; confidence 0.9,
source "anydesk tls handshake"). The result stops (``stop=True``, ``error="encrypted"``) once
the handshake is over, as for TLS.

Specifications: RFC 5246, RFC 8446, RFC 6066 (through the TLS module). Hand-written for the
same reasons as the TLS analyzer; AnyDesk's own protocol inside TLS is proprietary and
encrypted, so nothing past the handshake is decoded.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import tls
from cranewatch.protocols._base import IdentityFact, ParseResult

NAME = "anydesk"
PORTS = (7070, 6568)
DOMAIN = "anydesk.com"


def _anydesk_sni(sni: str | None) -> bool:
    if not sni:
        return False
    host = sni.lower().rstrip(".")
    return host == DOMAIN or host.endswith("." + DOMAIN)


class AnyDeskAnalyzer:
    """AnyDesk's TLS handshake (relay SNI, AnyDesk/AnyNet certificates) -> remote-access path."""

    name = NAME
    description = "AnyDesk remote desktop: TLS handshake to AnyDesk relays or peers"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "remote_access"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        if not tls.client_hello_offered(client):
            return 0.0
        hello = tls.parse_client_hello(client)
        if hello is not None and _anydesk_sni(hello.sni):
            return 0.97
        if tls.anydesk_certificate_in(server) or tls.anydesk_certificate_in(client):
            # the subjects are AnyDesk's own: content enough on any port (relays fall back to
            # 80 and 443), surer on its ports
            return 0.95 if server_port in PORTS else 0.9
        if server_port == 7070:
            return 0.6
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return tls.record_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        result = tls.parse_record(pdu, from_client, state, NAME)
        flagged = state.setdefault("anydesk_flagged", [False, False])
        side = 0 if from_client else 1
        if flagged[side]:
            return result
        evidence = None
        for op in result.operations:
            detail = op.detail or {}
            if op.name == "client_hello" and _anydesk_sni(detail.get("server_name")):
                evidence = "anydesk relay sni"
            elif op.name == "certificate" and detail.get("common_name") in (
                "AnyDesk Client",
                "AnyNet Relay",
            ):
                evidence = f"anydesk certificate {detail['common_name']}"
        if evidence:
            flagged[side] = True
            software = "AnyDesk" if evidence != "anydesk certificate AnyNet Relay" else (
                "AnyNet Relay")  # fmt: skip
            result.identities.append(IdentityFact(NAME, "software", software, 0.9, "sender",
                                                  "anydesk tls handshake"))  # fmt: skip
        return result


ANALYZER = AnyDeskAnalyzer()
