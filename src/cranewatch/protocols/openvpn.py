"""OpenVPN: tunnels out of the crane network, over UDP or TCP, on any port.

A cellular router or an industrial remote-access gateway (eWON, Insys, Teltonika, mbNET...)
typically phones home with an OpenVPN tunnel; one nobody ordered is exactly the hidden path
cranewatch looks for, and such tunnels often run on a non-standard port (the capture
``openvpn_udp.pcap`` uses 1198). Every OpenVPN packet starts with one byte holding the opcode
(top 5 bits) and the key id (low 3 bits). Control-channel packets (the hard and soft resets,
P_CONTROL_V1 carrying the TLS handshake, P_ACK_V1, P_CONTROL_WKC_V1) carry the sender's 64-bit
session id, an optional HMAC with replay packet id and time (``--tls-auth``; ``--tls-crypt``
puts the packet id and time first and encrypts the rest), an ACK array with the peer's session
id, and a message packet id. Data-channel packets (P_DATA_V1, P_DATA_V2 with a 24-bit peer id)
are encrypted. Each packet becomes one operation (code = opcode) with the session ids in its
detail; the tls-auth / tls-crypt wrapping is noted. Once data packets went both ways the
analyzer sets ``stop`` with ``error="encrypted"``: the rest is the tunnel's traffic.

Over TCP each packet is prefixed with its 16-bit length (the stream analyzer frames by it); over
UDP one datagram is one packet.

Detection is by content, so a tunnel on any port is found: the client's hard reset (opcode 1,
7 or 10, key id 0) with a consistent layout for plain, tls-auth (HMAC of 16, 20, 32 or 64 bytes
followed by a replay id and a plausible Unix time) or tls-crypt wrapping; over TCP the server's
hard reset acknowledging the client's session id makes it certain.

Specifications: the OpenVPN protocol as documented in the OpenVPN source, ``src/openvpn/ssl.h``
/ ``ssl_pkt.h`` (opcodes P_CONTROL_HARD_RESET_CLIENT_V1 = 1 ... P_CONTROL_WKC_V1 = 11, key id
mask, "Control channel packet format" and "Data channel packet format" comments in
``ssl.h``/``ssl_pkt.c``), ``reliable.h`` (ACK array, at most 8 ids per packet in practice),
``tls_crypt.h`` (tls-crypt layout) and the RFC-style description in the OpenVPN 2.6 manual,
"Protocol" section; ``doc/doxygen/doc_protocol_overview.h``.

Hand-written because no Python library parses OpenVPN packets: scapy has no OpenVPN layer,
dpkt none, and the Python OpenVPN tools are management-interface clients. The TLS inside
P_CONTROL_V1 is not reassembled here (the certificate names would need the TLS analyzer's
record reassembly across packets).
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult

NAME = "openvpn"
PORTS = (1194,)

OPCODES = {1: "hard_reset_client_v1", 2: "hard_reset_server_v1", 3: "soft_reset",
           4: "control", 5: "ack", 6: "data_v1", 7: "hard_reset_client_v2",
           8: "hard_reset_server_v2", 9: "data_v2", 10: "hard_reset_client_v3",
           11: "control_wkc"}  # fmt: skip
CLIENT_RESETS = {1, 7, 10}
SERVER_RESETS = {2, 8}
DATA = {6, 9}
CONTROL = {1, 2, 3, 4, 5, 7, 8, 10, 11}
HMAC_SIZES = (20, 32, 16, 64)  # SHA1 (default), SHA256, MD5, SHA512
TLS_CRYPT_HMAC = 32
MAX_ACKS = 8  # reliable.h: RELIABLE_ACK_SIZE
MIN_TIME, MAX_TIME = 1_000_000_000, 4_200_000_000  # a tls-auth/tls-crypt net time (2001-2103)
MAX_TCP_PACKET = 1 << 16
Layout = tuple[str, int]  # ("plain" | "tls_auth" | "tls_crypt", HMAC size)
Direction = Literal["request", "response", "unsolicited"]


def _u32(b: bytes, pos: int) -> int:
    return int.from_bytes(b[pos : pos + 4], "big")


def _plausible_replay(b: bytes, pos: int) -> bool:
    """A tls-auth/tls-crypt replay packet id (small) and a net time (a Unix time)."""
    return len(b) >= pos + 8 and _u32(b, pos) < 1 << 20 and MIN_TIME <= _u32(b, pos + 4) < MAX_TIME


def _reset_layout(packet: bytes) -> Layout | None:
    """The wrapping of a hard reset packet, or None when it is not one OpenVPN would send."""
    if len(packet) < 14:
        return None
    # plain: session id, ack array (none from a client; from a server: the client's id),
    # message packet id 0
    acks = packet[9]
    end = 10 + (4 * acks + 8 if acks else 0)
    if acks <= MAX_ACKS and len(packet) >= end + 4 and _u32(packet, end) == 0:
        return ("plain", 0)
    for size in HMAC_SIZES:
        pos = 9 + size
        if _plausible_replay(packet, pos) and len(packet) >= pos + 13:
            acks = packet[pos + 8]
            end = pos + 9 + (4 * acks + 8 if acks else 0)
            if acks <= MAX_ACKS and len(packet) >= end + 4 and _u32(packet, end) == 0:
                return ("tls_auth", size)
    if _plausible_replay(packet, 9) and len(packet) >= 9 + 8 + TLS_CRYPT_HMAC + 5:
        return ("tls_crypt", TLS_CRYPT_HMAC)
    return None


def _parse_packet(packet: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
    if not packet:
        return ParseResult(error="empty OpenVPN packet")
    opcode, key_id = packet[0] >> 3, packet[0] & 0x07
    name = OPCODES.get(opcode)
    if name is None:
        return ParseResult(error=f"unknown OpenVPN opcode {opcode}")
    direction: Direction = "request" if from_client else "response"
    detail: dict[str, Any] = {"key_id": key_id}
    if opcode in DATA:
        if opcode == 9:
            if len(packet) < 4:
                return ParseResult(error="P_DATA_V2 shorter than its header")
            detail["peer_id"] = int.from_bytes(packet[1:4], "big")
        detail["payload_len"] = len(packet) - (4 if opcode == 9 else 1)
        seen = state.setdefault("data_from", set())
        seen.add(from_client)
        op = Operation(NAME, opcode, name, direction, detail=detail)
        return ParseResult([op], error="encrypted", stop=len(seen) == 2)
    layout: Layout | None = state.get("layout")
    if opcode in CLIENT_RESETS | SERVER_RESETS or layout is None:
        found = _reset_layout(packet) if opcode in CLIENT_RESETS | SERVER_RESETS else None
        layout = found or layout or ("plain", 0)
        if found is not None:
            state["layout"] = layout
    return _control(packet, opcode, name, direction, detail, layout, from_client, state)


def _control(packet: bytes, opcode: int, name: str, direction: Direction, detail: dict[str, Any],
             layout: Layout, from_client: bool, state: dict[str, Any]) -> ParseResult:  # fmt: skip
    if len(packet) < 9:
        return ParseResult(error=f"{name} shorter than its session id")
    sid = packet[1:9].hex()
    detail["session_id"] = sid
    state.setdefault("client_sid" if from_client else "server_sid", sid)
    kind, size = layout
    pos = 9
    if kind != "plain":
        detail[kind] = True
        detail["hmac_size"] = size
    if kind == "tls_auth":
        pos += size + 8  # HMAC, replay packet id, net time
    elif kind == "tls_crypt":
        # packet id, net time, HMAC; the ack array and message are encrypted
        if len(packet) < 9 + 8 + size:
            return ParseResult(error=f"{name} shorter than its tls-crypt header")
        detail["replay_packet_id"] = _u32(packet, 9)
        detail["payload_len"] = len(packet) - (9 + 8 + size)
        op = Operation(NAME, opcode, name, direction, target=f"session {sid}", detail=detail)
        return ParseResult([op])
    if pos >= len(packet):
        return ParseResult(error=f"{name} ends before its ACK array")
    acks = packet[pos]
    pos += 1
    if acks > MAX_ACKS:
        return ParseResult(error=f"{name} ACK array of {acks} entries")
    if acks:
        if pos + 4 * acks + 8 > len(packet):
            return ParseResult(error=f"{name} ACK array runs past the packet")
        detail["acks"] = [_u32(packet, pos + 4 * i) for i in range(acks)]
        pos += 4 * acks
        detail["remote_session_id"] = packet[pos : pos + 8].hex()
        pos += 8
    if opcode != 5:  # every control packet but P_ACK_V1 has a message packet id
        if pos + 4 > len(packet):
            return ParseResult(error=f"{name} ends before its packet id")
        detail["packet_id"] = _u32(packet, pos)
        pos += 4
        detail["payload_len"] = len(packet) - pos
    elif pos != len(packet):
        return ParseResult(error=f"{len(packet) - pos} bytes after P_ACK_V1")
    op = Operation(NAME, opcode, name, direction, target=f"session {sid}", detail=detail)
    return ParseResult([op])


class OpenVpnUdpAnalyzer:
    """OpenVPN over UDP: one datagram, one packet."""

    name = NAME
    description = "OpenVPN control and data packets over UDP (opcodes, session ids)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()
    session_kind = "tunnel"

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return _detect_packet(payload, port)

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return _parse_packet(payload, from_client, state)
        except (IndexError, ValueError) as exc:  # defensive: every read is bounded
            return ParseResult(error=f"malformed OpenVPN packet: {type(exc).__name__}")


def _detect_packet(packet: bytes, port: int) -> float:
    if not packet:
        return 0.0
    opcode, key_id = packet[0] >> 3, packet[0] & 0x07
    if key_id != 0:
        return 0.0
    if opcode in CLIENT_RESETS:
        layout = _reset_layout(packet)
        if layout is None or packet[1:9] == bytes(8):
            return 0.0
        if layout[0] == "plain":
            if packet[9] != 0:
                return 0.0  # a client's first reset acknowledges nothing
            # exactly the reset, or an early-negotiation TLV (type 1, length 2) after it
            if len(packet) == 14 or packet[14:18] == b"\x00\x01\x00\x02":
                return 0.9
            return 0.0
        return 0.9
    if opcode in SERVER_RESETS:
        layout = _reset_layout(packet)
        if layout is not None and layout[0] == "plain" and packet[9] == 1:
            return 0.8  # acknowledges the client's reset (packet id 0) with its session id
        return 0.6 if layout is not None else 0.0
    return 0.0


class OpenVpnTcpAnalyzer:
    """OpenVPN over TCP: each packet prefixed with its 16-bit length."""

    name = NAME
    description = "OpenVPN control and data packets over TCP (opcodes, session ids)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "tunnel"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        first = _first_packet(client)
        if first is None or first[0] >> 3 not in CLIENT_RESETS:
            return 0.0
        score = _detect_packet(first, server_port)
        if score < 0.5:
            return 0.0
        reply = _first_packet(server)
        if reply is not None and reply[0] >> 3 in SERVER_RESETS:
            layout = _reset_layout(reply)
            plain_ack = layout is not None and layout[0] == "plain" and reply[9] == 1
            if plain_ack and reply[14:22] == first[1:9]:  # echoes the client's session id
                return 0.98
            return max(score, 0.9)
        return score

    def pdu_length(self, buf: bytes, offset: int) -> int:
        if len(buf) - offset < 2:
            return 0
        length = (buf[offset] << 8) | buf[offset + 1]
        if length == 0:
            return -1
        if len(buf) - offset >= 3 and OPCODES.get(buf[offset + 2] >> 3) is None:
            return -1
        return 2 + length

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if len(pdu) < 3 or (pdu[0] << 8 | pdu[1]) != len(pdu) - 2:
            return ParseResult(error="OpenVPN TCP length prefix does not match the packet")
        try:
            return _parse_packet(pdu[2:], from_client, state)
        except (IndexError, ValueError) as exc:  # defensive: every read is bounded
            return ParseResult(error=f"malformed OpenVPN packet: {type(exc).__name__}")


def _first_packet(data: bytes) -> bytes | None:
    if len(data) < 3:
        return None
    length = (data[0] << 8) | data[1]
    if length < 14 or 2 + length > len(data):
        return None
    return data[2 : 2 + length]


ANALYZERS = (OpenVpnTcpAnalyzer(), OpenVpnUdpAnalyzer())
