"""Telnet: clear-text remote shells, still the management interface of many modems and switches.

A Telnet session to a cellular router, a serial-device server or a drive on a crane is a
remote-access path (``session_kind = "remote_access"``) whose logins cross the network in
clear. Telnet is recognised by its option negotiation (IAC WILL/WONT/DO/DONT, RFC 854/855),
which client and server send at the start of nearly every session; on port 23 a flow of plain
text is accepted with less confidence.

PDUs: one IAC command (a negotiation, a subnegotiation IAC SB ... IAC SE of at most 1 KiB, or a
two-byte command such as IAC AYT), or a run of data bytes up to the next IAC (at most 4 KiB;
IAC IAC is an escaped 0xFF data byte). Operations: ``will`` (251), ``wont`` (252), ``do``
(253), ``dont`` (254) with the option name as target (a ``request`` unless it answers the peer's
negotiation of the same option: ``response``); ``subnegotiation`` (250) with the option name;
the other commands by name (``are_you_there`` 246, ``interrupt_process`` 244, ...); and
``data`` (code 0) per data run with its byte count only. Data contents are never stored: user
names and passwords travel in them.

Facts: the client's terminal type (TERMINAL-TYPE IS, RFC 1091) as ``software`` of confidence
0.5 (source "telnet terminal-type"): it names the client program family (xterm, vt100, ANSI
for Windows' telnet.exe). Window size (NAWS, RFC 1073) is kept in the operation's detail; the
values of NEW-ENVIRON (RFC 1572) variables, which include USER, are never stored.

Specifications: RFC 854 (Telnet protocol), RFC 855 (option negotiation), RFC 856-860, 1091,
1073, 1079, 1184, 1372, 1572, 2941 (options), IANA Telnet option registry.

Hand-written because the standard library's telnetlib (removed in Python 3.13) and
telnetlib3 are clients of one live side; scapy has no Telnet layer.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "telnet"
PORTS = (23, 2323)
IAC, SB, SE = 0xFF, 0xFA, 0xF0
WILL, WONT, DO, DONT = 251, 252, 253, 254
MAX_SUBNEG = 1024
MAX_DATA = 4096
MAX_TEXT = 255

COMMANDS = {240: "subnegotiation_end", 241: "nop", 242: "data_mark", 243: "break",
            244: "interrupt_process", 245: "abort_output", 246: "are_you_there",
            247: "erase_character", 248: "erase_line", 249: "go_ahead",
            250: "subnegotiation", 251: "will", 252: "wont", 253: "do", 254: "dont"}  # fmt: skip
OPTIONS = {
    0: "binary", 1: "echo", 2: "reconnection", 3: "suppress_go_ahead", 4: "message_size",
    5: "status", 6: "timing_mark", 7: "remote_controlled_echo", 8: "line_width",
    9: "page_size", 10: "output_cr", 17: "extended_ascii", 18: "logout", 19: "byte_macro",
    20: "data_entry_terminal", 21: "supdup", 22: "supdup_output", 23: "send_location",
    24: "terminal_type", 25: "end_of_record", 26: "tacacs_user_identification",
    27: "output_marking", 28: "terminal_location_number", 29: "telnet_3270_regime",
    30: "x3_pad", 31: "window_size", 32: "terminal_speed", 33: "remote_flow_control",
    34: "linemode", 35: "x_display_location", 36: "environment", 37: "authentication",
    38: "encryption", 39: "new_environment", 40: "tn3270e", 41: "xauth", 42: "charset",
    43: "remote_serial_port", 44: "com_port_control", 45: "suppress_local_echo",
    46: "start_tls", 47: "kermit", 48: "send_url", 49: "forward_x", 255: "extended_options",
}  # fmt: skip
TERMINAL_TYPE, WINDOW_SIZE, TERMINAL_SPEED, X_DISPLAY, NEW_ENVIRON = 24, 31, 32, 35, 39


def option_name(code: int) -> str:
    return OPTIONS.get(code, f"option_{code}")


def unit_length(buf: bytes, offset: int) -> int:
    """Length of the command or data run at ``offset`` (see the module docstring)."""
    left = len(buf) - offset
    if left <= 0:
        return 0
    if buf[offset] != IAC:
        pos = offset
        limit = min(len(buf), offset + MAX_DATA)
        while pos < limit:
            nxt = buf.find(b"\xff", pos, limit)
            if nxt < 0:
                return limit - offset
            if nxt + 1 >= len(buf):
                return nxt - offset if nxt > offset else 0
            if buf[nxt + 1] != IAC:
                return nxt - offset
            pos = nxt + 2  # IAC IAC: an escaped data byte
        return pos - offset
    if left < 2:
        return 0
    cmd = buf[offset + 1]
    if cmd == IAC:  # an escaped 0xFF at the start of a data run
        return 2
    if cmd in (WILL, WONT, DO, DONT):
        return 3 if left >= 3 else 0
    if cmd == SB:
        end = buf.find(b"\xff\xf0", offset + 2, offset + MAX_SUBNEG)
        if end < 0:
            return 0 if left < MAX_SUBNEG else -1
        return end + 2 - offset
    if cmd in COMMANDS:
        return 2
    return -1


def _negotiations(data: bytes) -> int:
    """Well-formed IAC WILL/WONT/DO/DONT/SB sequences at the very start of ``data`` (or -1)."""
    pos = count = 0
    while pos < len(data) and count < 16 and data[pos] == IAC:
        n = unit_length(data, pos)
        if n <= 0:
            break
        if data[pos + 1] not in (WILL, WONT, DO, DONT, SB):
            return -1 if count == 0 else count
        pos, count = pos + n, count + 1
    return count


class TelnetAnalyzer:
    """Telnet option negotiation, subnegotiation and data runs (counted, never stored)."""

    name = NAME
    description = "Telnet option negotiation and terminal type; data counted, never stored"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "remote_access"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        counts = [max(_negotiations(client), 0), max(_negotiations(server), 0)]
        if counts[0] + counts[1] >= 2:
            return 0.92
        if counts[0] + counts[1] == 1:
            return 0.8 if server_port in PORTS else 0.6
        if server_port in PORTS and (client or server):
            text = (server or client)[:64]
            printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in text)
            if printable == len(text):
                return 0.5  # plain text on the Telnet port (a login banner)
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return unit_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if not pdu:
            return ParseResult(error="empty PDU")
        if pdu[0] != IAC or pdu[:2] == b"\xff\xff":
            return _data(pdu, from_client)
        if len(pdu) < 2:
            return ParseResult(error="IAC without a command")
        cmd = pdu[1]
        direction: Literal["request", "response"] = "request"
        if cmd in (WILL, WONT, DO, DONT):
            if len(pdu) != 3:
                return ParseResult(error="option negotiation is not 3 bytes")
            option = pdu[2]
            asked = state.setdefault("telnet_asked", [set(), set()])  # options each side raised
            me, peer = (0, 1) if from_client else (1, 0)
            if option in asked[peer]:
                direction = "response"
                asked[peer].discard(option)
            else:
                asked[me].add(option)
            return ParseResult(operations=[Operation(
                protocol=NAME, code=cmd, name=COMMANDS[cmd], direction=direction,
                target=option_name(option), is_control=False, detail={"option": option},
            )])  # fmt: skip
        if cmd == SB:
            return _subnegotiation(pdu, from_client)
        if cmd not in COMMANDS or len(pdu) != 2:
            return ParseResult(error=f"unknown Telnet command {cmd}")
        return ParseResult(operations=[Operation(
            protocol=NAME, code=cmd, name=COMMANDS[cmd], direction="request",
            is_control=cmd in (243, 244, 245), is_diagnostic=cmd == 246,
        )])  # fmt: skip


def _data(pdu: bytes, from_client: bool) -> ParseResult:
    size = len(pdu) - pdu.count(b"\xff\xff")
    return ParseResult(operations=[Operation(
        protocol=NAME, code=0, name="data", direction="request" if from_client else "response",
        detail={"bytes": size},
    )])  # fmt: skip


def _subnegotiation(pdu: bytes, from_client: bool) -> ParseResult:
    if len(pdu) < 5 or pdu[-2:] != b"\xff\xf0":
        return ParseResult(error="subnegotiation without IAC SE")
    option, body = pdu[2], pdu[3:-2].replace(b"\xff\xff", b"\xff")
    detail: dict[str, Any] = {"option": option, "length": len(body)}
    result = ParseResult()
    if option == TERMINAL_TYPE and body[:1] == b"\x00":  # IS <type>
        term = body[1:].decode("ascii", errors="replace")[:MAX_TEXT]
        detail["terminal_type"] = term
        if term and from_client:
            result.identities.append(IdentityFact(NAME, "software", term, 0.5, "sender",
                                                  "telnet terminal-type"))  # fmt: skip
    elif option == TERMINAL_TYPE and body[:1] == b"\x01":
        detail["terminal_type_send"] = True
    elif option == WINDOW_SIZE and len(body) == 4:
        detail["width"] = int.from_bytes(body[:2], "big")
        detail["height"] = int.from_bytes(body[2:], "big")
    elif option == TERMINAL_SPEED and body[:1] == b"\x00":
        detail["terminal_speed"] = body[1:].decode("ascii", errors="replace")[:32]
    elif option == X_DISPLAY and body[:1] == b"\x00":
        detail["x_display"] = body[1:].decode("ascii", errors="replace")[:MAX_TEXT]
    # NEW-ENVIRON and ENVIRON carry USER and other variables: only the length is kept
    result.operations.append(Operation(
        protocol=NAME, code=SB, name="subnegotiation",
        direction="request" if from_client else "response", target=option_name(option),
        detail=detail,
    ))  # fmt: skip
    return result


ANALYZER = TelnetAnalyzer()
