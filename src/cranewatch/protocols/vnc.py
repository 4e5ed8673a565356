"""VNC / RFB: remote-desktop sessions into crane HMIs, their security and the shared desktop.

VNC servers are common on operator panels and embedded HMIs, and a VNC session reaching one
through a cellular modem is a remote-access path that bypasses the port's VPN. The Remote
Framebuffer protocol opens with a clear handshake: both sides send a ``RFB 003.00x\\n`` version
(Apple's screen sharing sends ``RFB 003.889``), the server offers security types (RFB 3.3: it
decides one), the client chooses, VNC authentication exchanges a 16-byte challenge and response,
the server sends a SecurityResult, the client a ClientInit (shared or exclusive desktop) and the
server a ServerInit with the framebuffer size and the desktop name. Each of these becomes one
operation; the desktop name becomes a ``product_name`` identity of the server (source
``"rfb desktop name"``, confidence 0.7: it usually names the host and display, e.g.
``root's X desktop (hmi-01:1)``). After the ServerInit only framebuffer updates and input events
follow, so the analyzer sets ``stop``. The challenge and the client's authentication response
are never stored, only that they were exchanged.

RFB messages carry no length field, so the stream is framed by what has arrived
(:meth:`VncAnalyzer.pdu_length` takes all buffered bytes) and the per-flow state walks the
handshake of each side, keeping an incomplete message until its remaining bytes arrive.
Operation codes number the handshake steps in the order of RFC 6143 section 7.1-7.3
(:data:`STEPS`), since the handshake messages have no type byte of their own.

Specifications: RFC 6143 (The Remote Framebuffer Protocol, RFB 3.8) sections 7.1.1
(ProtocolVersion, including the handling of 3.3 and unknown minor versions), 7.1.2 (Security
Handshake), 7.1.3 (SecurityResult), 7.2 (security types; 7.2.2 VNC Authentication), 7.3.1
(ClientInit) and 7.3.2 (ServerInit); the RFB 3.3 and 3.7 differences in RFC 6143 appendix A;
the IANA "Remote Framebuffer Security Types" registry for the type names.

Hand-written because no maintained Python RFB library decodes captured traffic: vncdotool and
asyncvnc are clients that parse only the server side of their own connection, and scapy has no
RFB layer.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "vnc"
PORTS = (5900, 5901, 5902, 5903)
MAX_TEXT = 255
MAX_TYPES = 32
MAX_BUFFER = 4096  # handshake bytes kept per side while a message is incomplete
MAX_REASON = 4096
MAX_NAME = 4096

VERSION = re.compile(rb"RFB (\d{3})\.(\d{3})\n")

#: operation codes: the handshake steps of RFC 6143 sections 7.1-7.3, in order
STEPS = ("protocol_version", "security_types", "security_choice", "vnc_auth_challenge",
         "vnc_auth_response", "security_result", "client_init", "server_init")  # fmt: skip
CODE = {name: i for i, name in enumerate(STEPS)}

#: IANA Remote Framebuffer Security Types
SECURITY_TYPES = {0: "invalid", 1: "none", 2: "vnc_auth", 5: "ra2", 6: "ra2ne", 16: "tight",
                  17: "ultra", 18: "tls", 19: "vencrypt", 20: "sasl", 21: "md5",
                  22: "xvp", 23: "secure_tunnel", 24: "integrated_ssh", 30: "ard"}  # fmt: skip
TLS_TYPES = {18, 19}
FAILED = 1

Direction = Literal["request", "response", "unsolicited"]


def security_name(code: int) -> str:
    if code in SECURITY_TYPES:
        return SECURITY_TYPES[code]
    if 3 <= code <= 15 or 128 <= code <= 255:
        return f"realvnc_{code}"
    if 30 <= code <= 35:
        return f"apple_{code}"
    return f"type_{code}"


def _minor(raw_minor: int) -> int:
    """The protocol minor version a peer's announced version means (RFC 6143 7.1.1: unknown
    versions are handled as 3.3; Apple's 3.889 behaves as 3.8)."""
    if raw_minor in (7, 8):
        return raw_minor
    if raw_minor == 889:
        return 8
    return 3


class _NeedMore(Exception):
    """The message continues in bytes that have not arrived yet."""


class _Bad(Exception):
    """The bytes are not the RFB handshake message expected here."""


class _Side:
    """Reads the buffered handshake bytes of one direction."""

    def __init__(self, buf: bytearray) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise _NeedMore
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def text(self, limit: int) -> str:
        n = self.u32()
        if n > limit:
            raise _Bad(f"string length {n} too long")
        return self.take(n).decode("utf-8", errors="replace")[:MAX_TEXT]

    def left(self) -> int:
        return len(self.buf) - self.pos


class VncAnalyzer:
    """RFB handshake -> versions, security, result, client/server init; then stop."""

    name = NAME
    description = "VNC/RFB 3.3/3.7/3.8 handshake: versions, security types, desktop name"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "remote_access"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        c, s = VERSION.match(client[:12]), VERSION.match(server[:12])
        if c and s:
            return 0.99
        if s:
            return 0.95  # the server speaks first
        if c:
            return 0.9
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        """RFB has no framing: all bytes buffered so far; parse keeps what is incomplete."""
        return max(len(buf) - offset, 0)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        result = ParseResult()
        if state.get("done"):
            return result
        key = "client_buf" if from_client else "server_buf"
        buf: bytearray = state.setdefault(key, bytearray())
        buf += pdu
        side = _Side(buf)
        step = _client_step if from_client else _server_step
        try:
            for _ in range(len(STEPS) + 1):
                if side.left() == 0 or state.get("done"):
                    break
                mark = side.pos
                try:
                    if not step(side, state, result):
                        side.pos = mark
                        break
                except _NeedMore:
                    side.pos = mark
                    break
        except _Bad as exc:
            result.error = f"not an RFB handshake: {exc}"
            result.stop = True
            state["done"] = True
        del buf[: side.pos]
        if state.get("done"):
            buf.clear()  # framebuffer updates and input events: not decoded
        elif len(buf) > MAX_BUFFER:
            buf.clear()
            result.error = result.error or "RFB handshake message too long"
            result.stop = True
            state["done"] = True
        if state.get("done"):
            result.stop = True
        return result


def _op(result: ParseResult, name: str, from_client: bool, target: str | None = None,
        exception: int | None = None, **detail: Any) -> None:  # fmt: skip
    direction: Direction = "request" if from_client else "response"
    result.operations.append(Operation(NAME, CODE[name], name, direction, target=target,
                                       exception=exception, detail=detail or None))  # fmt: skip


def _version(side: _Side, state: dict[str, Any], result: ParseResult, who: str) -> None:
    raw = side.take(12)
    m = VERSION.fullmatch(raw)
    if m is None:
        raise _Bad("no ProtocolVersion")
    major, minor = int(m.group(1)), int(m.group(2))
    state[f"{who}_minor"] = minor
    text = f"{m.group(1).decode()}.{m.group(2).decode()}"
    _op(result, "protocol_version", who == "client", text, None, major=major, minor=minor)


def _negotiated(state: dict[str, Any]) -> int | None:
    """The version in use: the client's (it picks at most the server's), else the server's."""
    for key in ("client_minor", "server_minor"):
        if key in state:
            return _minor(state[key])
    return None


def _chosen(state: dict[str, Any], chosen: int) -> None:
    state["chosen"] = chosen
    if chosen not in (1, 2):  # type-specific handshakes are not followed
        state["done"] = True


def _server_step(side: _Side, state: dict[str, Any], result: ParseResult) -> bool:
    stage = state.get("server_stage", 0)
    if stage == 0:
        _version(side, state, result, "server")
        state["server_stage"] = 1
        return True
    if stage == 1:
        minor = _minor(state["client_minor"]) if "client_minor" in state else None
        if minor is None:  # client version not seen: tell 3.3 (a 32-bit type) by its zeros
            head = bytes(side.buf[side.pos : side.pos + 4])
            minor = 3 if len(head) == 4 and head[:3] == b"\0\0\0" and head[3] <= 2 else 8
        if minor == 3:
            decided = side.u32()
            if decided == 0:
                reason = side.text(MAX_REASON)
                _op(result, "security_types", False, "invalid", 0, types=[], reason=reason)
                state["done"] = True
                return True
            name = security_name(decided)
            _op(result, "security_types", False, name, None, types=[name], decided=True)
            _chosen(state, decided)
        else:
            count = side.u8()
            if count == 0:
                reason = side.text(MAX_REASON)
                _op(result, "security_types", False, "invalid", 0, types=[], reason=reason)
                state["done"] = True
                return True
            types = [security_name(t) for t in side.take(count)][:MAX_TYPES]
            state["offered"] = types
            _op(result, "security_types", False, ",".join(types), None, types=types)
        state["server_stage"] = 2
        return True
    chosen: int | None = state.get("chosen")
    minor = _negotiated(state) or 8
    if stage == 2:
        if chosen is None:
            return False  # wait for the client's choice
        if chosen == 2:
            side.take(16)  # the challenge: never stored
            _op(result, "vnc_auth_challenge", False)
        state["server_stage"] = 3
        return True
    if stage == 3:
        if chosen == 1 and minor < 8:  # no SecurityResult for "none" before 3.8
            state["server_stage"] = 4
            return True
        status = side.u32()
        why = side.text(MAX_REASON) if status == FAILED and minor >= 8 else None
        state["auth"] = status == 0
        target = "ok" if status == 0 else "failed"
        detail: dict[str, Any] = {"status": status}
        if why is not None:
            detail["reason"] = why
        _op(result, "security_result", False, target, status or None, **detail)
        if status:
            state["done"] = True
        state["server_stage"] = 4
        return True
    # stage 4: ServerInit
    head = bytes(side.buf[side.pos : side.pos + 24])
    if len(head) < 24:
        raise _NeedMore
    name_len = int.from_bytes(head[20:24], "big")
    if name_len > MAX_NAME:
        raise _Bad(f"desktop name length {name_len}")
    side.take(24)
    name = side.take(name_len).decode("utf-8", errors="replace")[:MAX_TEXT]
    width, height = int.from_bytes(head[0:2], "big"), int.from_bytes(head[2:4], "big")
    _op(result, "server_init", False, name or None, None, width=width, height=height,
        bits_per_pixel=head[4], depth=head[5], desktop_name=name)  # fmt: skip
    if name:
        result.identities.append(IdentityFact(NAME, "product_name", name, 0.7, "sender",
                                              "rfb desktop name"))  # fmt: skip
    state["done"] = True
    return True


def _client_step(side: _Side, state: dict[str, Any], result: ParseResult) -> bool:
    stage = state.get("client_stage", 0)
    if stage == 0:
        _version(side, state, result, "client")
        state["client_stage"] = 1
        return True
    minor = _negotiated(state) or 3
    if stage == 1:
        if minor >= 7:
            chosen = side.u8()
            name = security_name(chosen)
            _op(result, "security_choice", True, name, None, security_type=name)
            _chosen(state, chosen)
        elif state.get("chosen") is None:
            # RFB 3.3 and the server's decision not seen: the sizes tell
            _chosen(state, 2 if side.left() >= 16 else 1)
        state["client_stage"] = 2
        return True
    if stage == 2:
        if state.get("chosen") == 2:
            side.take(16)  # the response to the challenge: never stored
            _op(result, "vnc_auth_response", True)
        state["client_stage"] = 3
        return True
    if stage == 3:
        shared = side.u8()
        _op(result, "client_init", True, "shared" if shared else "exclusive", None,
            shared=bool(shared))  # fmt: skip
        state["client_stage"] = 4
        return True
    side.take(side.left())  # client messages after ClientInit: not decoded
    return True


ANALYZER = VncAnalyzer()
