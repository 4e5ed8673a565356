"""WireGuard: the UDP VPN a modern router or a technician's laptop opens out of the crane LAN.

WireGuard is built into Linux, into most cellular routers' firmware (Teltonika, OpenWrt-based
boxes, MikroTik) and into commercial remote-access clients, and it runs on any UDP port: a
WireGuard tunnel from a crane-side box to an outside address is exactly the hidden remote path
cranewatch looks for. Its handshake is short and fixed-format, so it is recognised by content:
handshake initiation, response and cookie reply, each with sender/receiver session indexes that
tie both directions (and later rekeys) to one tunnel. Everything else is encrypted transport
data.

Wire format from the WireGuard whitepaper (J. A. Donenfeld, "WireGuard: Next Generation Kernel
Network Tunnel", section 5.4 "Messages"): one type byte (1 initiation, 148 bytes; 2 response, 92
bytes; 3 cookie reply, 64 bytes; 4 transport data, 16-byte header plus a ChaCha20-Poly1305
ciphertext of at least the 16-byte tag), three reserved zero bytes, then little-endian 32-bit
sender/receiver indexes and (transport data) a little-endian 64-bit counter. A transport data
message with an empty payload (32 bytes) is a keepalive. The plaintext is padded to a multiple
of 16 bytes unless that would exceed the tunnel MTU (section 5.4.6), so full-size packets break
the multiple-of-16 rule (1452 bytes in the shared capture): detection takes that shape only for
packets of at least :data:`MTU_SIZED` bytes.

Each handshake message and the first transport data message in each direction become
operations; once transport data has been seen both ways (or after :data:`MAX_DATA_OPS` packets
one way) the flow is known as an established tunnel and ``parse`` answers ``stop=True`` with
``error="encrypted"``. Rekey handshakes later in the flow are therefore not reported: the
``sessions`` table counts the tunnel from the dispatcher's flow figures.

Hand-written because the messages are a handful of fixed offsets: scapy's WireGuard layer (and
the Wireshark dissector) decode the same fields at a cost per packet this avoids, and no Python
WireGuard library parses captured traffic (they configure interfaces or run userspace tunnels).
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult

NAME = "wireguard"
PORTS = (51820,)
INITIATION, RESPONSE, COOKIE_REPLY, TRANSPORT_DATA = 1, 2, 3, 4
MESSAGES: dict[int, tuple[str, int]] = {
    INITIATION: ("handshake_initiation", 148),
    RESPONSE: ("handshake_response", 92),
    COOKIE_REPLY: ("cookie_reply", 64),
}
TRANSPORT_HEADER = 16
TAG = 16  # Poly1305 authentication tag
MTU_SIZED = 1200  # transport data this long may stop short of a multiple of 16 (MTU-bound)
MAX_DATA_OPS = 16  # transport data packets one way after which the flow stops anyway


def _le32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "little")


def _index(value: int) -> str:
    return f"0x{value:08x}"


def transport_shape_ok(payload: bytes) -> bool:
    """Header, tag and a payload padded to 16 bytes, or an MTU-bound packet without padding."""
    n = len(payload)
    return n >= TRANSPORT_HEADER + TAG and ((n - TRANSPORT_HEADER) % 16 == 0 or n >= MTU_SIZED)


class WireGuardAnalyzer:
    """WireGuard messages -> handshake operations and the first transport data each way."""

    name = NAME
    description = "WireGuard handshake and transport data (any UDP port)"
    status: Literal["stable", "beta"] = "beta"
    session_kind = "tunnel"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if len(payload) < 4 or payload[1:4] != b"\x00\x00\x00":
            return 0.0
        kind = payload[0]
        if kind in MESSAGES:
            if len(payload) != MESSAGES[kind][1]:
                return 0.0
            # the sender index of an initiation/response is random, never all zero in practice
            return 0.95 if any(payload[4:8]) else 0.6
        if kind == TRANSPORT_DATA and transport_shape_ok(payload):
            return 0.6  # the shape alone: plausible, not unmistakable
        return 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if len(payload) < 4:
            return ParseResult(error=f"WireGuard message of {len(payload)} bytes")
        kind = payload[0]
        if payload[1:4] != b"\x00\x00\x00":
            return ParseResult(error="WireGuard reserved bytes are not zero")
        if kind in MESSAGES:
            name, size = MESSAGES[kind]
            if len(payload) != size:
                return ParseResult(error=f"{name} of {len(payload)} bytes, must be {size}")
            return ParseResult(operations=[self._handshake(kind, payload, from_client, state)])
        if kind != TRANSPORT_DATA:
            return ParseResult(error=f"unknown WireGuard message type {kind}")
        if len(payload) < TRANSPORT_HEADER + TAG:
            return ParseResult(error=f"transport data of {len(payload)} bytes: below 32")
        return self._transport(payload, from_client, state)

    def _handshake(self, kind: int, payload: bytes, from_client: bool,
                   state: dict[str, Any]) -> Operation:  # fmt: skip
        name = MESSAGES[kind][0]
        detail: dict[str, Any] = {"message_type": kind, "length": len(payload)}
        if kind == INITIATION:
            sender = _le32(payload, 4)
            detail["sender_index"] = sender
            detail["mac2_present"] = any(payload[132:148])  # set under load, after a cookie
            target = f"sender={_index(sender)}"
            direction: Literal["request", "response", "unsolicited"] = "request"
            state["initiations"] = state.get("initiations", 0) + 1
        elif kind == RESPONSE:
            sender, receiver = _le32(payload, 4), _le32(payload, 8)
            detail["sender_index"], detail["receiver_index"] = sender, receiver
            detail["mac2_present"] = any(payload[76:92])
            target = f"sender={_index(sender)} receiver={_index(receiver)}"
            direction = "response"
            state["responses"] = state.get("responses", 0) + 1
        else:  # cookie reply: the responder is under load and asks for a cookie (mac2)
            receiver = _le32(payload, 4)
            detail["receiver_index"] = receiver
            target = f"receiver={_index(receiver)}"
            direction = "response"
        return Operation(protocol=NAME, code=kind, name=name, direction=direction,
                         target=target, detail=detail)  # fmt: skip

    def _transport(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        side = 0 if from_client else 1
        seen: list[int] = state.setdefault("data_packets", [0, 0])
        seen[side] += 1
        if seen[side] == 1:
            receiver = _le32(payload, 4)
            counter = int.from_bytes(payload[8:16], "little")
            keepalive = len(payload) == TRANSPORT_HEADER + TAG
            detail = {"message_type": TRANSPORT_DATA, "receiver_index": receiver,
                      "counter": counter, "length": len(payload), "keepalive": keepalive,
                      "established": state.get("responses", 0) > 0}  # fmt: skip
            op = Operation(protocol=NAME, code=TRANSPORT_DATA, name="transport_data",
                           direction="unsolicited", target=f"receiver={_index(receiver)}",
                           detail=detail)  # fmt: skip
            return ParseResult(operations=[op])
        done = min(seen) >= 1 or max(seen) > MAX_DATA_OPS
        return ParseResult(error="encrypted", stop=done)


ANALYZER = WireGuardAnalyzer()
