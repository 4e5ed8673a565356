"""ESP: the encrypted IPsec tunnel itself, carried as IP protocol 50 or in UDP (NAT-T).

An IPsec tunnel out of a crane network is a path nobody sees inside: a cellular router or an
industrial remote-access box builds it to its vendor's or integrator's concentrator and then
carries engineering traffic through it. ESP is where that tunnel's traffic flows after IKE has
negotiated it, so the ``sessions`` table needs it even though nothing inside can be read: which
endpoints, which Security Parameter Indexes (one per direction and rekey), how long, how many
bytes.

Wire format from RFC 4303 (IP Encapsulating Security Payload), section 2: SPI (32 bits, 0
reserved, 1-255 reserved by IANA) and sequence number (32 bits, starting at 1), then the
encrypted payload, padding, trailer and ICV, none of which can be read without the keys. ESP in
UDP (RFC 3948) is told apart from IKE on UDP 4500 by the IKE analyzer (:mod:`.ike`), which
reuses :func:`track_packet` below for it.

The analyzer reads the payload of IP protocol 50 (``ip_protocols``): the dispatcher hands it the
bytes after the IP header. One operation per packet would cost a Python call for every packet of
a whole tunnel, so it reports the first :data:`OPS_PER_SPI` packets of each SPI (SPI, sequence,
first and last sequence seen) and then sets ``stop`` with ``error="encrypted"`` once both
directions have shown themselves (or after :data:`MAX_TRACKED` packets in all, when only one
direction is seen).

Hand-written because there is nothing to decode beyond eight bytes: scapy and dpkt parse the same
two fields but cost an object per packet, which is all this module avoids.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult

NAME = "esp"
IP_PROTOCOL_ESP = 50
OPS_PER_SPI = 3  # operations reported per SPI before the flow counts as just encrypted
MAX_TRACKED = 32  # packets after which a one-way tunnel stops being parsed
MAX_SPIS = 64  # SPIs remembered per flow (rekeys add two each)


def spi_target(spi: int) -> str:
    return f"spi=0x{spi:08x}"


def track_packet(payload: bytes, from_client: bool, state: dict[str, Any],
                 may_stop: bool) -> ParseResult:  # fmt: skip
    """One ESP packet (SPI first): an ``esp_packet`` operation for the first packets of its SPI,
    afterwards ``error="encrypted"``; ``stop`` once both directions have been seen (only when
    ``may_stop``: on UDP 4500 the flow also carries the IKE rekeys)."""
    if len(payload) < 8:
        return ParseResult(error=f"ESP packet of {len(payload)} bytes: no SPI and sequence")
    spi = int.from_bytes(payload[0:4], "big")
    seq = int.from_bytes(payload[4:8], "big")
    if spi == 0:
        return ParseResult(error="ESP SPI 0 is reserved")
    spis: dict[int, dict[str, int]] = state.setdefault("esp_spis", {})
    seen: list[int] = state.setdefault("esp_directions", [0, 0])
    seen[0 if from_client else 1] += 1
    entry = spis.get(spi)
    if entry is None:
        if len(spis) >= MAX_SPIS:
            return ParseResult(error="encrypted", stop=may_stop)
        entry = spis[spi] = {"first": seq, "last": seq, "packets": 0}
    entry["packets"] += 1
    entry["last"] = seq
    if entry["packets"] <= OPS_PER_SPI:
        detail = {"spi": spi, "sequence": seq, "first_sequence": entry["first"],
                  "last_sequence": seq, "packet": entry["packets"], "length": len(payload),
                  "in_order": seq >= entry["first"]}  # fmt: skip
        op = Operation(protocol=NAME, code=0, name="esp_packet", direction="unsolicited",
                       target=spi_target(spi), detail=detail)  # fmt: skip
        return ParseResult(operations=[op])
    done = min(seen) >= OPS_PER_SPI or sum(seen) >= MAX_TRACKED
    return ParseResult(error="encrypted", stop=may_stop and done)


class EspAnalyzer:
    """ESP packets of IP protocol 50 -> the first few per SPI, then the flow is encrypted."""

    name = NAME
    description = "IPsec ESP (IP protocol 50): SPIs and sequence numbers of the tunnel"
    status: Literal["stable", "beta"] = "beta"
    session_kind = "tunnel"
    ports: tuple[int, ...] = ()
    ethertypes: tuple[int, ...] = ()
    ip_protocols: tuple[int, ...] = (IP_PROTOCOL_ESP,)

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        """ESP is random bytes after an SPI: only the IP protocol number says it is ESP. On that
        route (no port, ``port == 0``) a non-zero SPI gives 0.8; anywhere else ESP cannot be
        told from noise (ESP in UDP is recognised by the IKE analyzer) and nothing is claimed."""
        if port != 0 or len(payload) < 8:
            return 0.0
        spi = int.from_bytes(payload[0:4], "big")
        if spi == 0:
            return 0.0
        if spi < 256:  # reserved by IANA: unusual, but the protocol number still says ESP
            return 0.5
        return 0.8 if int.from_bytes(payload[4:8], "big") else 0.6

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        return track_packet(payload, from_client, state, may_stop=True)


ANALYZER = EspAnalyzer()
