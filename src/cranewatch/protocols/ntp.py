"""NTP: who serves time to the cranes, and who probes NTP servers with control queries.

Time matters twice on a crane network. Controllers, drives and loggers take their clock from an
NTP server: a cellular modem or router that answers NTP (mode 4) or broadcasts it (mode 5) is a
server role worth knowing about, and a stratum-1 server names its reference clock ("GPS",
"PPS", "DCF"). And NTP's control (mode 6, ``ntpq``) and private (mode 7, ``ntpdc``) messages
are reconnaissance and amplification tools: ``monlist`` returns the last 600 hosts a server
talked to, ``readvar`` its system and version strings, ``:config`` changes it remotely.

Every NTP datagram becomes one operation, code = the mode: ``client_request`` (3),
``server_response`` (4), ``symmetric_active`` (1), ``symmetric_passive`` (2), ``broadcast``
(5), ``control_request`` / ``control_response`` (6, target = the opcode name, e.g.
``read_variables``), ``private_request`` / ``private_response`` (7, target = the request code
name, e.g. ``mon_getlist_1`` for monlist). Modes 6 and 7 are flagged ``is_diagnostic``; reads
are ``is_read``, control writes and configuration ``is_write``. Version, stratum, poll,
precision and the reference id (text for stratum 0/1, dotted quad otherwise; a kiss code for
stratum 0) go to ``detail``. The sender of a mode-4 response (or a mode-5 broadcast) gets the
identity fact ``role=ntp_server``. Authentication (key id and digest) is noted, never stored.

Specifications: RFC 5905 (NTPv4, sections 7.3 packet header, 7.4 kiss codes), RFC 1305 (NTPv3)
appendix B and RFC 9327 (control messages, mode 6), and the ntpd ``ntp_request.h`` reference
implementation for mode 7 (request codes such as MON_GETLIST_1 = 42).

Hand-written: ntplib is a client that parses only mode-4 answers to its own requests, scapy's
NTP layers are far too slow per packet, and ``dpkt.ntp`` reads only the 48-byte time header (no
mode 6/7 control and private messages). The header is a fixed 48-byte structure.
"""

from __future__ import annotations

import socket
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "ntp"
PORT = 123
HEADER = 48
MAX_TEXT = 64

MODES = {0: "reserved", 1: "symmetric_active", 2: "symmetric_passive", 3: "client_request",
         4: "server_response", 5: "broadcast"}  # fmt: skip
#: mode 6 opcodes (RFC 9327 section 2.4) -> (name, is_read, is_write)
CONTROL_OPCODES = {
    1: ("read_status", True, False), 2: ("read_variables", True, False),
    3: ("write_variables", False, True), 4: ("read_clock_variables", True, False),
    5: ("write_clock_variables", False, True), 6: ("set_trap", False, True),
    7: ("async_message", False, False), 8: ("configure", False, True),
    9: ("save_config", False, True), 10: ("read_mru", True, False),
    11: ("read_ordlist", True, False), 12: ("request_nonce", False, False),
    31: ("unset_trap", False, True),
}  # fmt: skip
#: mode 7 request codes (ntpd ntp_request.h) that matter; others are named by number
PRIVATE_CODES = {0: "peer_list", 1: "peer_list_sum", 2: "peer_info", 3: "peer_stats",
                 4: "sys_info", 5: "sys_stats", 6: "io_stats", 7: "mem_stats",
                 8: "loop_info", 9: "timer_stats", 10: "config", 11: "unconfig",
                 12: "set_sys_flag", 13: "clr_sys_flag", 16: "get_restrict",
                 17: "resaddflags", 20: "mon_getlist", 21: "reset_stats", 42: "mon_getlist_1",
                 45: "if_stats"}  # fmt: skip
PRIVATE_WRITES = {10, 11, 12, 13, 17, 21}
PRIVATE_IMPLEMENTATIONS = {0: "universal", 2: "xntpd_old", 3: "xntpd"}
MONLIST_CODES = {20, 42}


def _refid(stratum: int, raw: bytes) -> str:
    if stratum <= 1:
        return raw.rstrip(b"\x00").decode("ascii", errors="replace")
    return socket.inet_ntoa(raw)


def _plausible_header(payload: bytes) -> bool:
    """Modes 1-5: a 48-byte header, optional extension fields / MAC, sane field ranges."""
    if len(payload) < HEADER:
        return False
    extra = len(payload) - HEADER
    if extra and (extra % 4 or extra < 12):  # key id + digest (>= 8) or extension fields
        return False
    version, stratum, poll = payload[0] >> 3 & 0x07, payload[1], payload[2]
    precision = payload[3] - 256 if payload[3] > 127 else payload[3]
    return 1 <= version <= 4 and stratum <= 16 and poll <= 17 and -32 <= precision <= 0


def _control_ok(payload: bytes) -> bool:
    if len(payload) < 12:
        return False
    count = int.from_bytes(payload[10:12], "big")
    return count <= 468 and 12 + count <= len(payload) and (payload[1] & 0x1F) in CONTROL_OPCODES


def _private_ok(payload: bytes) -> bool:
    if len(payload) < 8:
        return False
    items = int.from_bytes(payload[4:6], "big") & 0x0FFF
    size = int.from_bytes(payload[6:8], "big") & 0x0FFF
    return payload[2] in PRIVATE_IMPLEMENTATIONS and items * size <= 500 * 72


class NtpAnalyzer:
    """NTP modes 1-7 -> operations; servers -> role facts; control queries -> diagnostics."""

    name = NAME
    description = "NTP (RFC 5905) incl. mode 6 control and mode 7 private (monlist) queries"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        if not payload:
            return 0.0
        mode = payload[0] & 0x07
        if mode == 6:
            ok = 2 <= payload[0] >> 3 & 0x07 <= 4 and _control_ok(payload)
        elif mode == 7:
            ok = _private_ok(payload)
        else:
            ok = mode != 0 and _plausible_header(payload)
        if not ok:
            return 0.0
        # 48 bytes with small-number fields fit many things: only the NTP port makes it likely
        return 0.9 if port == PORT else 0.3

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if not payload:
            return ParseResult(error="empty datagram")
        mode = payload[0] & 0x07
        if mode == 6:
            return _control(payload)
        if mode == 7:
            return _private(payload)
        return _time(payload, mode)


def _time(payload: bytes, mode: int) -> ParseResult:
    if len(payload) < HEADER:
        return ParseResult(error=f"{len(payload)} bytes, an NTP header has 48")
    version, stratum = payload[0] >> 3 & 0x07, payload[1]
    precision = payload[3] - 256 if payload[3] > 127 else payload[3]
    detail: dict[str, Any] = {"version": version, "leap": payload[0] >> 6, "stratum": stratum,
                              "poll": payload[2], "precision": precision}  # fmt: skip
    refid = _refid(stratum, payload[12:16])
    if refid:
        detail["reference_id"] = refid[:MAX_TEXT]
    if stratum == 0 and mode in (2, 4, 5) and refid:
        detail["kiss_code"] = refid[:MAX_TEXT]  # RFC 5905 7.4: RATE, DENY, RSTR, ...
    extra = len(payload) - HEADER
    if extra in (20, 24):
        detail["authenticated"] = True  # key id and digest: noted, never stored
    elif extra:
        detail["extension_bytes"] = extra
    result = ParseResult()
    if not 1 <= version <= 4:
        result.error = f"NTP version {version}"
    name = MODES[mode]
    direction: Literal["request", "response", "unsolicited"] = (
        "request" if mode in (1, 3) else "response" if mode in (2, 4) else "unsolicited"
    )
    target = f"stratum={stratum} ref={refid}" if mode in (1, 2, 4, 5) and refid else None
    if mode in (4, 5):
        source = "ntp server response" if mode == 4 else "ntp broadcast"
        result.identities.append(IdentityFact(NAME, "role", "ntp_server", 0.9, "sender", source))
    result.operations.append(Operation(NAME, mode, name, direction,
                                       target[:MAX_TEXT] if target else None, detail=detail))  # fmt: skip
    return result


def _control(payload: bytes) -> ParseResult:
    if len(payload) < 12:
        return ParseResult(error="NTP control message shorter than its 12-byte header")
    response, error, more = (
        bool(payload[1] & 0x80),
        bool(payload[1] & 0x40),
        bool(payload[1] & 0x20),
    )
    opcode = payload[1] & 0x1F
    count = int.from_bytes(payload[10:12], "big")
    name, is_read, is_write = CONTROL_OPCODES.get(opcode, (f"opcode_{opcode}", False, False))
    detail: dict[str, Any] = {
        "version": payload[0] >> 3 & 0x07, "opcode": opcode, "more": more,
        "sequence": int.from_bytes(payload[2:4], "big"),
        "status": int.from_bytes(payload[4:6], "big"),
        "association_id": int.from_bytes(payload[6:8], "big"),
        "offset": int.from_bytes(payload[8:10], "big"), "count": count,
    }  # fmt: skip
    result = ParseResult()
    if 12 + count > len(payload):
        result.error = f"count {count} runs past the datagram"
    elif len(payload) > 12 + count + 3 + 24 + 8:  # padding, key id, digest (RFC 9327 2.4)
        detail["trailing_bytes"] = len(payload) - 12 - count
    if response and (payload[12 : 12 + min(count, 4096)].find(b"version=") >= 0):
        detail["has_version_variable"] = True  # readvar answer with the daemon's version string
    op = Operation(NAME, 6, "control_response" if response else "control_request",
                   "response" if response else "request", name, is_read=is_read,
                   is_write=is_write, is_diagnostic=True,
                   exception=int.from_bytes(payload[4:6], "big") >> 8 if error else None,
                   detail=detail)  # fmt: skip
    result.operations.append(op)
    return result


def _private(payload: bytes) -> ParseResult:
    if len(payload) < 8:
        return ParseResult(error="NTP private message shorter than its 8-byte header")
    response, more = bool(payload[0] & 0x80), bool(payload[0] & 0x40)
    implementation, code = payload[2], payload[3]
    err = payload[4] >> 4
    items = int.from_bytes(payload[4:6], "big") & 0x0FFF
    size = int.from_bytes(payload[6:8], "big") & 0x0FFF
    name = PRIVATE_CODES.get(code, f"request_{code}")
    detail: dict[str, Any] = {
        "version": payload[0] >> 3 & 0x07, "implementation": implementation,
        "request_code": code, "authenticated": bool(payload[1] & 0x80),
        "sequence": payload[1] & 0x7F, "items": items, "item_size": size, "more": more,
    }  # fmt: skip
    if code in MONLIST_CODES:
        detail["monlist"] = True
    result = ParseResult()
    if implementation not in PRIVATE_IMPLEMENTATIONS:
        result.error = f"unknown mode 7 implementation {implementation}"
    op = Operation(NAME, 7, "private_response" if response else "private_request",
                   "response" if response else "request", name,
                   is_read=code not in PRIVATE_WRITES, is_write=code in PRIVATE_WRITES,
                   is_diagnostic=True, exception=err if response and err else None,
                   detail=detail)  # fmt: skip
    result.operations.append(op)
    return result


ANALYZER = NtpAnalyzer()
