"""RDP: who opens a Remote Desktop session into a crane HMI, with which client, and how secured.

An inbound RDP session into an operator panel or engineering station is one of the remote-access
paths cranewatch exists to find; a hidden cellular modem that forwards TCP 3389 shows itself as
exactly such a session from an address nobody expects. RDP starts in the clear: the X.224
Connection Request carries the user name cookie the client's ``mstsc`` sends
(``Cookie: mstshash=<user>``) or a load-balancer routing token, and the security protocols it
offers (RDP_NEG_REQ); the Connection Confirm says which one the server chose (RDP_NEG_RSP) or why
it refused (RDP_NEG_FAILURE). With standard ("native") RDP security the MCS Connect Initial that
follows is also clear: its GCC Conference Create Request carries the Client Core Data (client
build, the client computer's name, keyboard layout, desktop size, colour depth, product id)
and the Client Security Data (the encryption methods offered), and the server's MCS Connect
Response carries the Server Security Data (the chosen encryption method and level, and the kind
of server certificate). Everything after that is encrypted with RC4 (native security) or runs
inside TLS/CredSSP (SSL, HYBRID, RDSTLS, HYBRID_EX), so the analyzer sets ``stop`` with
``error="encrypted"``: once the TLS handshake that follows a Connection Confirm selecting TLS is
over (that handshake is decoded by the TLS analyzer's record parser, as protocol ``tls``: the
server name the client asked for and the server's certificate), after the MCS Connect
Response otherwise.

Specifications: [MS-RDPBCGR] Remote Desktop Protocol: Basic Connectivity and Graphics Remoting,
sections 2.2.1.1 (Client X.224 Connection Request PDU, routingToken/cookie, RDP_NEG_REQ),
2.2.1.2 (Server X.224 Connection Confirm PDU, RDP_NEG_RSP, RDP_NEG_FAILURE), 2.2.1.3 (Client MCS
Connect Initial PDU with GCC Conference Create Request; 2.2.1.3.2 TS_UD_CS_CORE, 2.2.1.3.3
TS_UD_CS_SEC, 2.2.1.3.4 TS_UD_CS_NET), 2.2.1.4 (Server MCS Connect Response PDU; 2.2.1.4.3
TS_UD_SC_SEC1 and 2.2.1.4.3.1 the server certificate version), 2.2.9.1.2 (fast-path update
header, only to frame it); ITU-T T.125 (MCS Connect-Initial/Connect-Response, BER encoded) and
T.124 (GCC, PER encoded, H.221 keys "Duca"/"McDn"); RFC 1006 and ITU-T X.224 class 0 for the
TPKT/COTP framing (:mod:`cranewatch.protocols._tpkt`).

Hand-written because no maintained Python library decodes RDP from captured bytes: scapy has no
RDP layer beyond TPKT, dpkt has none, and client libraries (aardwolf, rdpy) build their own side
of a connection. The BER outer layer uses the bounded reader of :mod:`._ber`. Passwords never
appear in the clear part of RDP; the cookie user name is kept (Zeek logs it too) because who
logs into a crane HMI is the point of a remote-access audit.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols import _ber, tls
from cranewatch.protocols._base import IdentityFact, Operation, ParseResult
from cranewatch.protocols._tpkt import tpkt_length

NAME = "rdp"
PORTS = (3389,)
MAX_TEXT = 255
MAX_CHANNELS = 31  # TS_UD_CS_NET allows at most 31 static channels

# X.224 TPDU codes (high nibble of the second COTP byte)
X224_CR, X224_CC, X224_DT = 0xE, 0xD, 0xF
# RDP negotiation structure types
NEG_REQ, NEG_RSP, NEG_FAILURE = 1, 2, 3

#: requestedProtocols / selectedProtocol bits (MS-RDPBCGR 2.2.1.1.1)
PROTOCOLS = ((0x1, "ssl"), (0x2, "hybrid"), (0x4, "rdstls"), (0x8, "hybrid_ex"),
             (0x10, "rdsaad"))  # fmt: skip
SELECTED = {0: "rdp", 1: "ssl", 2: "hybrid", 4: "rdstls", 8: "hybrid_ex", 0x10: "rdsaad"}
TLS_SELECTED = {1, 2, 4, 8, 0x10}
FAILURES = {1: "ssl_required_by_server", 2: "ssl_not_allowed_by_server",
            3: "ssl_cert_not_on_server", 4: "inconsistent_flags",
            5: "hybrid_required_by_server",
            6: "ssl_with_user_auth_required_by_server"}  # fmt: skip
ENCRYPTION_METHODS = ((0x1, "40bit"), (0x2, "128bit"), (0x8, "56bit"), (0x10, "fips"))
ENCRYPTION_LEVELS = {0: "none", 1: "low", 2: "client_compatible", 3: "high", 4: "fips"}
HIGH_COLOR_DEPTHS = {4: "4bit", 8: "8bit", 15: "15bit", 16: "16bit", 24: "24bit"}
RNS_UD_CS_WANT_32BPP_SESSION = 0x0002

# GCC user data block types
CS_CORE, CS_SECURITY, CS_NET = 0xC001, 0xC002, 0xC003
SC_CORE, SC_SECURITY, SC_NET = 0x0C01, 0x0C02, 0x0C03
MAX_BLOCKS = 32

#: operation codes: the X.224 TPDU code for the connection PDUs, the T.125 application tag
#: for the MCS connect PDUs
CODE_CR, CODE_CC, CODE_MCS_CI, CODE_MCS_CR = 0xE0, 0xD0, 101, 102
Direction = Literal["request", "response", "unsolicited"]


def _u16(b: bytes, pos: int) -> int:
    return int.from_bytes(b[pos : pos + 2], "little")


def _u32(b: bytes, pos: int) -> int:
    return int.from_bytes(b[pos : pos + 4], "little")


def _bits(value: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    return [name for bit, name in table if value & bit]


def _utf16(data: bytes) -> str:
    text = data.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
    return text.strip()[:MAX_TEXT]


def _ascii(data: bytes) -> str:
    return data.split(b"\x00", 1)[0].decode("ascii", errors="replace")[:MAX_TEXT]


def _is_tls_record(buf: bytes, offset: int) -> bool:
    return (
        len(buf) - offset >= 3
        and 0x14 <= buf[offset] <= 0x18
        and buf[offset + 1] == 3
        and buf[offset + 2] <= 4
    )


def _cr_variable(pdu: bytes) -> tuple[str | None, bytes] | None:
    """(cookie or routing token line, bytes after it) of an X.224 CR, or None when not RDP."""
    li = pdu[4]
    if li < 6 or pdu[5] >> 4 != X224_CR:
        return None
    rest = pdu[11 : 5 + li]
    cookie = None
    if rest.startswith(b"Cookie: "):
        end = rest.find(b"\r\n")
        if end < 0:
            return None
        cookie = rest[8:end].decode("latin-1")[:MAX_TEXT]
        rest = rest[end + 2 :]
    return cookie, rest


def _neg_req(rest: bytes) -> int | None:
    """requestedProtocols of an RDP_NEG_REQ that ends the CR, None when there is none."""
    if len(rest) == 8 and rest[0] == NEG_REQ and _u16(rest, 2) == 8:
        return _u32(rest, 4)
    return None


def _looks_like_rdp_cr(data: bytes) -> float:
    n = tpkt_length(data, 0)
    if n <= 0 or n > len(data) or n < 11:
        return 0.0
    got = _cr_variable(data[:n])
    if got is None:
        return 0.0
    cookie, rest = got
    if cookie is not None and (rest == b"" or _neg_req(rest) is not None):
        return 0.95
    if cookie is None and _neg_req(rest) is not None:
        return 0.9
    if cookie is None and rest == b"":
        return 0.3  # a bare CR: RDP only by the port
    return 0.0


class RdpAnalyzer:
    """RDP connection sequence up to where it is encrypted -> operations and client identity."""

    name = NAME
    description = "RDP connection negotiation, MCS connect and client data (MS-RDPBCGR)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "remote_access"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        score = _looks_like_rdp_cr(client)
        if score >= 0.9:
            n = tpkt_length(server, 0)
            if 11 <= n <= len(server) and server[5] >> 4 == X224_CC:
                return 0.98
            return score
        if score > 0.0 and server_port in PORTS:
            return 0.6
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        avail = len(buf) - offset
        if avail <= 0:
            return 0
        first = buf[offset]
        if first == 3:
            return tpkt_length(buf, offset)
        if first in (0x14, 0x15, 0x16, 0x17):
            if avail < 5:
                return 0
            if _is_tls_record(buf, offset):
                return 5 + ((buf[offset + 3] << 8) | buf[offset + 4])
        if first & 0x3 == 0:  # fast-path PDU (action 0)
            if avail < 2:
                return 0
            length = buf[offset + 1]
            if length & 0x80:
                if avail < 3:
                    return 0
                length = ((length & 0x7F) << 8) | buf[offset + 2]
            return length if length >= 3 else -1
        return -1

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(pdu, from_client, state)
        except (IndexError, ValueError) as exc:  # defensive: every read is bounded
            return ParseResult(error=f"malformed RDP PDU: {type(exc).__name__}")

    def _parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        if not pdu:
            return ParseResult(error="empty PDU")
        if pdu[0] != 3:
            if state.get("over_tls"):  # SSL/HYBRID selected: the TLS handshake, decoded as TLS
                return tls.parse_record(pdu, from_client, state, protocol=tls.NAME)
            # fast-path PDUs after native security
            return ParseResult(error="encrypted", stop=True)
        if tpkt_length(pdu, 0) != len(pdu) or len(pdu) < 7:
            return ParseResult(error="TPKT length does not match the PDU")
        code = pdu[5] >> 4
        if code == X224_CR:
            return _connection_request(pdu, state)
        if code == X224_CC:
            return _connection_confirm(pdu, state)
        if code == X224_DT:
            payload = pdu[5 + pdu[4] :]
            if payload[:2] == b"\x7f\x65":
                return _connect_initial(payload, state)
            if payload[:2] == b"\x7f\x66":
                return _connect_response(payload, state)
            # MCS domain PDUs and everything after them: encrypted with native RDP security
            return ParseResult(error="encrypted", stop=True)
        return ParseResult(error=f"X.224 TPDU 0x{code:x} not part of RDP")


def _op(code: int, name: str, direction: Direction, target: str | None = None,
        exception: int | None = None, detail: dict[str, Any] | None = None) -> Operation:  # fmt: skip
    return Operation(NAME, code, name, direction, target=target, exception=exception,
                     detail=detail or None)  # fmt: skip


def _connection_request(pdu: bytes, state: dict[str, Any]) -> ParseResult:
    got = _cr_variable(pdu)
    if got is None:
        return ParseResult(error="X.224 connection request too short")
    cookie, rest = got
    detail: dict[str, Any] = {}
    result = ParseResult()
    if cookie is not None:
        detail["cookie"] = cookie
        if cookie.startswith("mstshash="):
            detail["cookie_user"] = cookie[9:]
        elif cookie.startswith("msts="):
            detail["routing_token"] = cookie[5:]
    requested = _neg_req(rest)
    if requested is not None:
        detail["requested_protocols"] = ["rdp", *_bits(requested, PROTOCOLS)]
        detail["neg_flags"] = rest[1]
    elif rest:
        result.error = f"{len(rest)} unexpected bytes after the cookie"
    state["requested"] = requested
    result.operations.append(_op(CODE_CR, "connection_request", "request", cookie, None, detail))
    return result


def _connection_confirm(pdu: bytes, state: dict[str, Any]) -> ParseResult:
    li = pdu[4]
    if li < 6:
        return ParseResult(error="X.224 connection confirm too short")
    neg = pdu[11 : 5 + li] if 5 + li <= len(pdu) else b""
    if len(neg) == 0:
        # no negotiation: an old server, standard RDP security
        state["selected"] = 0
        detail = {"selected_protocol": "rdp", "result": "success"}
        return ParseResult([_op(CODE_CC, "connection_confirm", "response", "rdp", None, detail)])
    if len(neg) != 8 or _u16(neg, 2) != 8:
        return ParseResult(error="bad RDP negotiation structure in the connection confirm")
    if neg[0] == NEG_RSP:
        selected = _u32(neg, 4)
        name = SELECTED.get(selected, f"0x{selected:x}")
        state["selected"] = selected
        found = {"selected_protocol": name, "neg_flags": neg[1], "result": "success"}
        op = _op(CODE_CC, "connection_confirm", "response", name, None, found)
        if selected in TLS_SELECTED:
            # what follows is a TLS handshake (its server name and certificate are read as
            # TLS), then CredSSP or the MCS connect inside TLS, where the analyzer stops
            state["over_tls"] = True
        return ParseResult([op])
    if neg[0] == NEG_FAILURE:
        code = _u32(neg, 4)
        detail = {"result": FAILURES.get(code, f"failure_{code}")}
        return ParseResult([_op(CODE_CC, "negotiation_failure", "response",
                                detail["result"], code, detail)])  # fmt: skip
    return ParseResult(error=f"unknown RDP negotiation type {neg[0]}")


def _gcc_blocks(user_data: bytes, key: bytes) -> list[tuple[int, bytes]] | None:
    """The (type, block) user data blocks after the H.221 key of a GCC Conference Create
    Request ("Duca") or Response ("McDn")."""
    pos = user_data.find(key)
    if pos < 0:
        return None
    pos += 4
    if pos >= len(user_data):
        return None
    length = user_data[pos]
    pos += 1
    if length & 0x80:  # PER length determinant in two bytes
        if pos >= len(user_data):
            return None
        length = ((length & 0x3F) << 8) | user_data[pos]
        pos += 1
    end = min(len(user_data), pos + length)
    blocks: list[tuple[int, bytes]] = []
    while pos + 4 <= end and len(blocks) < MAX_BLOCKS:
        kind, size = _u16(user_data, pos), _u16(user_data, pos + 2)
        if size < 4 or pos + size > end:
            break
        blocks.append((kind, user_data[pos + 4 : pos + size]))
        pos += size
    return blocks


def _user_data(payload: bytes, app: int, index: int) -> bytes | None:
    """The userData OCTET STRING (the ``index``-th child) of an MCS connect PDU."""
    top = _ber.read_tlv(payload, 0)
    if top is None or not top.is_(_ber.APPLICATION, app):
        return None
    kids = list(_ber.children(payload, top))
    if len(kids) <= index or not kids[index].is_(_ber.UNIVERSAL, 4):
        return None
    return payload[kids[index].start : kids[index].end]


def _connect_initial(payload: bytes, state: dict[str, Any]) -> ParseResult:
    user_data = _user_data(payload, 101, 6)
    if user_data is None:
        return ParseResult(error="MCS Connect-Initial without user data")
    blocks = _gcc_blocks(user_data, b"Duca")
    if blocks is None:
        return ParseResult(error="MCS Connect-Initial without a GCC conference create request")
    result = ParseResult()
    detail: dict[str, Any] = {}
    for kind, block in blocks:
        if kind == CS_CORE and len(block) >= 128:
            _client_core(block, detail, result)
        elif kind == CS_SECURITY and len(block) >= 4:
            detail["encryption_methods"] = _bits(_u32(block, 0), ENCRYPTION_METHODS)
        elif kind == CS_NET and len(block) >= 4:
            count = min(_u32(block, 0), MAX_CHANNELS)
            names = [_ascii(block[4 + 12 * i : 12 + 12 * i]) for i in range(count)
                     if 4 + 12 * i + 12 <= len(block)]  # fmt: skip
            detail["client_channels"] = names
    target = detail.get("client_name")
    op = _op(CODE_MCS_CI, "mcs_connect_initial", "request", target, None, detail)
    result.operations.insert(0, op)
    return result


def _client_core(block: bytes, detail: dict[str, Any], result: ParseResult) -> None:
    """TS_UD_CS_CORE (offsets after the 4-byte block header)."""
    version = _u32(block, 0)
    detail.update(
        client_version=f"{version >> 16}.{version & 0xFFFF}",
        desktop_width=_u16(block, 4),
        desktop_height=_u16(block, 6),
        keyboard_layout=_u32(block, 12),
        client_build=_u32(block, 16),
        client_name=_utf16(block[20:52]),
    )
    if len(block) >= 140:
        high, flags = _u16(block, 136), _u16(block, 140) if len(block) >= 142 else 0
        depth = "32bit" if flags & RNS_UD_CS_WANT_32BPP_SESSION else HIGH_COLOR_DEPTHS.get(high)
        if depth:
            detail["requested_color_depth"] = depth
    if len(block) >= 206:
        detail["client_dig_product_id"] = _utf16(block[142:206])
    if detail["client_name"]:
        result.identities.append(IdentityFact(NAME, "hostname", detail["client_name"], 0.9,
                                              "sender", "rdp client core data"))  # fmt: skip
    if detail["client_build"]:
        software = f"RDP client build {detail['client_build']}"
        result.identities.append(IdentityFact(NAME, "software", software, 0.8, "sender",
                                              "rdp client core data"))  # fmt: skip


def _connect_response(payload: bytes, state: dict[str, Any]) -> ParseResult:
    top = _ber.read_tlv(payload, 0)
    if top is None or not top.is_(_ber.APPLICATION, 102):
        return ParseResult(error="malformed MCS Connect-Response")
    kids = list(_ber.children(payload, top))
    detail: dict[str, Any] = {}
    exception = None
    if kids and kids[0].is_(_ber.UNIVERSAL, 10):
        code = _ber.unsigned(payload, kids[0])
        detail["mcs_result"] = code
        if code:
            exception = code
    blocks = None
    if len(kids) > 3 and kids[3].is_(_ber.UNIVERSAL, 4):
        blocks = _gcc_blocks(payload[kids[3].start : kids[3].end], b"McDn")
    for kind, block in blocks or ():
        if kind == SC_CORE and len(block) >= 4:
            version = _u32(block, 0)
            detail["server_version"] = f"{version >> 16}.{version & 0xFFFF}"
        elif kind == SC_SECURITY and len(block) >= 8:
            _server_security(block, detail)
    op = _op(CODE_MCS_CR, "mcs_connect_response", "response",
             detail.get("encryption_method"), exception, detail)  # fmt: skip
    if blocks is None:
        return ParseResult([op], error="MCS Connect-Response without GCC user data")
    # with standard RDP security every later PDU is RC4-encrypted (or carries only MCS
    # domain plumbing): nothing more to learn
    return ParseResult([op], error="encrypted", stop=True)


def _server_security(block: bytes, detail: dict[str, Any]) -> None:
    """TS_UD_SC_SEC1: encryption method and level, the kind of server certificate."""
    method, level = _u32(block, 0), _u32(block, 4)
    detail["encryption_method"] = ",".join(_bits(method, ENCRYPTION_METHODS)) or "none"
    detail["encryption_level"] = ENCRYPTION_LEVELS.get(level, str(level))
    if method == 0 or len(block) < 16:
        return
    random_len, cert_len = _u32(block, 8), _u32(block, 12)
    cert_pos = 16 + random_len
    if cert_len < 4 or cert_pos + 4 > len(block):
        return
    version = _u32(block, cert_pos)
    detail["cert_permanent"] = not version & 0x80000000
    kind = version & 0x7FFFFFFF
    if kind == 1:
        detail["cert_type"], detail["cert_count"] = "RSA", 1
    elif kind == 2:
        detail["cert_type"] = "X.509"
        if cert_pos + 8 <= len(block):
            detail["cert_count"] = _u32(block, cert_pos + 4)


ANALYZER = RdpAnalyzer()
