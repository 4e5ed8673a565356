"""TeamViewer: remote-control sessions to and from crane PCs through TeamViewer's own protocol.

TeamViewer installed on an HMI or an engineering laptop is a remote-access path that passes any
firewall that lets the PC reach the Internet, and it is a favourite of service technicians; on
a crane network it has to be known and approved. The client keeps a connection to TeamViewer's
master/keep-alive servers (TCP 5938, or wrapped in HTTP on 80/443 when 5938 is blocked) and
opens sessions through routers or directly (also over UDP 5938). This analyzer recognises the
native framing and reports one operation per command (code = the command byte). The
TeamViewer ID the sender announces in CMD_IDENTIFY, CMD_PING and CMD_REQUESTCONNECT becomes a
``device_id`` identity of the sender with confidence 0.5 (the layout is reverse engineered, not
documented by the vendor); the partner ID a CMD_REQUESTCONNECT asks for goes to the operation's
target. When the session switches to encrypted
data (CMD_DATA_ENCRYPTED, CMD_DATA3_ENCRYPTED) it sets ``stop`` with ``error="encrypted"``.

TeamViewer publishes no protocol specification. The facts used, from public reverse
engineering:

- the "command1" packet starts with the magic bytes 0x17 0x24, then a command byte and the
  length of the data as a 16-bit little-endian number, the data starting at offset 5; the
  "command2" packet starts with 0x11 0x30, a command byte, an unused byte, a 32-bit
  little-endian data length and a 24-byte header (packet id, request id, command class and
  offset, 32-bit little-endian each, at offsets 8, 12, 16 and 20): David Pearson (Awake
  Security), "Analyzing TeamViewer", DEF CON 26 network reverse-engineering resources, TeamViewer
  Wireshark Lua decoder (``tv_proto``; also cited by the RSA NetWitness ``lua_teamviewer``
  parser); libprotoident ``lpi_teamviewer.cc`` matches first packets of 37 bytes starting
  ``17 24 0a 20`` (CMD_IDENTIFY with a 32-byte body: 5 + 32 = 37), which agrees;
- the command numbers and names (10 CMD_IDENTIFY ... 113 CMD_FLUSHSENDBUFFER): the same
  decoder and bettercap ``packets/teamviewer.go`` (which labels 0x1724 "1.x" and 0x1130 "2.x");
- the data of command1 packets other than CMD_BUDDY (46), and of command2 CMD_REQUESTCONNECT
  (11) and CMD_REQUESTENCRYPTION (93), is obfuscated by rotating the whole body right by one
  bit (``_rotate_left`` undoes it); CMD_IDENTIFY and CMD_PING start with the sender's TeamViewer ID and CMD_REQUESTCONNECT
  with the sender's and the partner's ID (32-bit little-endian): the same decoder;
- over UDP the datagram starts with an 11-byte header whose first byte is a counter (0 at the
  start), followed by the 0x17 0x24 packet: nDPI ``protocols/teamviewer.c``; TCP port 5938 and
  the magic 0x1724 also from Optiv, "TeamViewer authentication protocol (part 1 of 3)", 2013.

Hand-written because no library decodes TeamViewer; nDPI and libprotoident only classify flows.
The HTTP-wrapped variant (POST requests to TeamViewer's ``/din.aspx``) is left to the HTTP
analyzer.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "teamviewer"
PORTS = (5938,)
MAGIC_V1, MAGIC_V2 = b"\x17\x24", b"\x11\x30"
HEADER_V1, HEADER_V2 = 5, 24
UDP_HEADER = 11
MAX_V2_LENGTH = 1 << 24
MAX_CHAIN = 8  # packets looked at by detect
TRUNCATED_HEAD = 64 * 1024  # a PDU at least this long may be the kept head of a longer one

COMMANDS = {
    10: "identify", 11: "request_connect", 13: "disconnect", 14: "vnc_disconnect",
    15: "tv_connection_failed", 16: "ping", 17: "ping_ok", 18: "master_command",
    19: "master_response", 20: "change_connection", 21: "no_partner_connect",
    22: "connect_to_waiting_thread", 23: "session_mode", 24: "request_routing_session",
    25: "timeout", 26: "java_connect", 27: "keep_alive_beep", 28: "request_keep_alive",
    29: "master_command_encrypted", 30: "master_response_encrypted", 31: "request_reconnect",
    32: "reconnect_to_waiting_thread", 33: "start_logging", 34: "server_available",
    35: "keep_alive_request", 36: "ok", 37: "failed", 38: "ping_performance",
    39: "ping_performance_response", 40: "request_keep_alive2",
    41: "disconnect_switched_to_udp", 42: "send_mode_udp", 43: "keep_alive_request_answer",
    44: "route_cmd_to_client", 45: "new_master_login", 46: "buddy",
    47: "accept_routing_session", 48: "new_master_login_answer", 49: "buddy_encrypted",
    50: "request_route_buddy", 51: "contact_other_master", 52: "request_route_encrypted",
    53: "end_session", 54: "session_id", 55: "reconnect_to_session",
    56: "reconnect_to_session_answer", 57: "meeting_control", 58: "carrier_switch",
    59: "meeting_authentication", 60: "router_cmd", 61: "partner_reconnect",
    62: "congestion_control", 63: "ack", 70: "udp_request_connect", 71: "udp_ping",
    72: "udp_request_connect_vpn", 90: "data", 91: "data2", 92: "data_encrypted",
    93: "request_encryption", 94: "confirm_encryption", 95: "encryption_request_failed",
    96: "request_no_encryption", 97: "udp_flow_control", 98: "data3", 99: "data3_encrypted",
    100: "data3_resend_packets", 101: "data3_ack_packets", 102: "auth_challenge",
    103: "auth_response", 104: "auth_result", 105: "rip_messages", 106: "data4",
    107: "datastream", 108: "udp_heartbeat", 109: "data_directed", 110: "udp_resend_packets",
    111: "udp_ack_packets", 112: "udp_protected_command", 113: "flush_send_buffer",
}  # fmt: skip
CMD_IDENTIFY, CMD_REQUESTCONNECT, CMD_PING, CMD_BUDDY = 10, 11, 16, 46
CMD_REQUESTENCRYPTION = 93
ENCRYPTED_DATA = {92, 99}
RESPONSES = {17, 19, 30, 36, 37, 39, 43, 48, 56, 94, 95, 104}
CONTROL = {53}  # end_session

Direction = Literal["request", "response", "unsolicited"]


def _rotate_left(data: bytes) -> bytes:
    """Undo the one-bit obfuscation: rotate the whole body left by one bit."""
    if not data:
        return data
    value = int.from_bytes(data, "big")
    bits = 8 * len(data)
    return (((value << 1) | (value >> (bits - 1))) & ((1 << bits) - 1)).to_bytes(len(data), "big")


def _rotate_right(data: bytes) -> bytes:
    """The obfuscation itself (for building test packets)."""
    if not data:
        return data
    value = int.from_bytes(data, "big")
    bits = 8 * len(data)
    return ((value >> 1) | ((value & 1) << (bits - 1))).to_bytes(len(data), "big")


def packet_length(buf: bytes, offset: int) -> int:
    """Length of the TeamViewer packet at ``offset``: >0, 0 more bytes needed, -1 none."""
    avail = len(buf) - offset
    if avail <= 0:
        return 0
    if buf[offset] not in (0x17, 0x11):
        return -1
    if avail < 2:
        return 0
    magic = bytes(buf[offset : offset + 2])
    if magic == MAGIC_V1:
        if avail < HEADER_V1:
            return 0
        return HEADER_V1 + int.from_bytes(buf[offset + 3 : offset + 5], "little")
    if magic == MAGIC_V2:
        if avail < 8:
            return 0
        length = int.from_bytes(buf[offset + 4 : offset + 8], "little")
        return HEADER_V2 + length if length <= MAX_V2_LENGTH else -1
    return -1


def _chain(data: bytes) -> tuple[int, bool]:
    """(whole packets with known commands at the start of ``data``, all consistent)."""
    pos = count = 0
    while pos < len(data) and count < MAX_CHAIN:
        n = packet_length(data, pos)
        if n < 0:
            return count, False
        if n == 0 or pos + n > len(data):
            break
        if data[pos + 2] not in COMMANDS:
            return count, False
        pos, count = pos + n, count + 1
    return count, True


def _decode(packet: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
    n = packet_length(packet, 0)
    truncated = n > len(packet) >= TRUNCATED_HEAD  # the dispatcher keeps only a long PDU's head
    if n <= 0 or (n != len(packet) and not truncated):
        return ParseResult(error="TeamViewer length field does not match the packet")
    v1 = packet[:2] == MAGIC_V1
    command = packet[2]
    name = COMMANDS.get(command, f"command_{command}")
    body = packet[HEADER_V1:] if v1 else packet[HEADER_V2:]
    detail: dict[str, Any] = {"version": 1 if v1 else 2, "data_len": n - (len(packet) - len(body))}
    if not v1:
        detail["packet_id"] = int.from_bytes(packet[8:12], "little")
        detail["request_id"] = int.from_bytes(packet[12:16], "little")
    obfuscated = command != CMD_BUDDY if v1 else command in (CMD_REQUESTCONNECT,
                                                             CMD_REQUESTENCRYPTION)  # fmt: skip
    clear = _rotate_left(body) if obfuscated else body
    result = ParseResult()
    target = None
    if command in (CMD_IDENTIFY, CMD_PING, CMD_REQUESTCONNECT) and len(clear) >= 4:
        own = int.from_bytes(clear[0:4], "little")
        if own:
            detail["from_id"] = own
            result.identities.append(IdentityFact(NAME, "device_id", str(own), 0.5, "sender",
                                                  f"teamviewer {name} from id"))  # fmt: skip
        if command == CMD_REQUESTCONNECT and len(clear) >= 8:
            partner = int.from_bytes(clear[4:8], "little")
            detail["partner_id"] = partner
            target = f"id {partner}"
    if from_client:
        direction: Direction = "request"
    else:
        direction = "response" if command in RESPONSES else "unsolicited"
    op = Operation(NAME, command, name, direction, target=target, is_control=command in CONTROL,
                   detail=detail)  # fmt: skip
    result.operations.append(op)
    if command in ENCRYPTED_DATA:
        result.error, result.stop = "encrypted", True
    return result


class TeamViewerTcpAnalyzer:
    """TeamViewer over TCP: a stream of 0x1724 / 0x1130 packets."""

    name = NAME
    description = "TeamViewer native protocol commands (0x1724/0x1130 framing), TeamViewer IDs"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "remote_access"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        c_count, c_ok = _chain(client)
        if not c_ok or client[:2] not in (MAGIC_V1, MAGIC_V2):
            return 0.0
        s_count, s_ok = _chain(server)
        if c_count and s_count and s_ok and server[:2] in (MAGIC_V1, MAGIC_V2):
            return 0.95  # magic and lengths consistent over the first packets both ways
        if c_count >= 2 or (c_count == 1 and server_port in PORTS):
            return 0.85
        if c_count == 1:
            return 0.7
        return 0.4 if server_port in PORTS else 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return packet_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return _decode(pdu, from_client, state)
        except (IndexError, ValueError, OverflowError) as exc:  # defensive
            return ParseResult(error=f"malformed TeamViewer packet: {type(exc).__name__}")


class TeamViewerUdpAnalyzer:
    """TeamViewer over UDP: an 11-byte header (counter first), then a 0x1724 packet."""

    name = NAME
    description = "TeamViewer native protocol commands over UDP"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    ethertypes: tuple[int, ...] = ()
    session_kind = "remote_access"

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        inner = payload[UDP_HEADER:]
        if len(payload) <= UDP_HEADER + 2 or inner[:2] != MAGIC_V1:
            return 0.0
        n = packet_length(inner, 0)
        if n <= 0 or n > len(inner) or inner[2] not in COMMANDS:
            return 0.0
        score = 0.85 if n == len(inner) else 0.6
        if payload[0] == 0:  # the counter starts at 0
            score += 0.05
        return min(score + (0.05 if port in PORTS else 0.0), 0.95)

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if len(payload) < UDP_HEADER + HEADER_V1:
            return ParseResult(error="TeamViewer datagram shorter than its headers")
        inner = payload[UDP_HEADER:]
        n = packet_length(inner, 0)
        if n <= 0 or n > len(inner):
            return ParseResult(error="TeamViewer length field does not match the datagram")
        try:
            result = _decode(inner[:n], from_client, state)
        except (IndexError, ValueError, OverflowError) as exc:  # defensive
            return ParseResult(error=f"malformed TeamViewer packet: {type(exc).__name__}")
        for op in result.operations:
            if op.detail is not None:
                op.detail["counter"] = payload[0]
        return result


ANALYZERS = (TeamViewerTcpAnalyzer(), TeamViewerUdpAnalyzer())
