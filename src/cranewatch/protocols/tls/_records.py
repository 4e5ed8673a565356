"""TLS record layer: framing, the per-flow session state, record-level operations, reassembly.

Every TLS record of a reassembled TCP stream is one PDU (RFC 5246 6.2: content type, version,
a two-byte length of at most 2^14 + 2048); :func:`record_length` frames them for the
dispatcher. SSLv2-compatible ClientHellos (a two-byte record header with the high bit set, RFC
5246 appendix E.2) are not decoded: ``record_length`` reports lost framing for them, and no
current TLS stack sends them.

Handshake messages may span records and several may share one record, so each direction keeps
a bounded handshake buffer (64 KiB) in the flow state (``state["tls"]``, see :func:`_session`);
:func:`_handshake_record` cuts the whole messages out of it and hands each to the decoder the
package passes in. After a side's ChangeCipherSpec its handshake records are encrypted; once
application data flows, or both sides have sent ChangeCipherSpec (TLS 1.0-1.2; TLS 1.3 sends
one only for middlebox compatibility, RFC 8446 D.4), :func:`_stop` ends the flow's parsing.

Also here what the handshake decoders share: the bounded reader, the :class:`_Ctx` that
collects a record's operations, and alerts (RFC 5246 7.2, RFC 8446 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cranewatch.protocols._base import Operation, ParseResult

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CONTENT_TYPES = (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT)
MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext.length limit (RFC 5246 6.2.3)
MAX_HANDSHAKE_BUFFER = 64 * 1024
MAX_MESSAGES = 64  # handshake messages decoded from one record
MAX_TEXT = 255
MAX_LIST = 64  # ALPN values, certificate names kept
RECORD_OP = 256  # record-level operation codes are RECORD_OP + content type

HANDSHAKE_TYPES = {
    0: "hello_request", 1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
    4: "new_session_ticket", 5: "end_of_early_data", 8: "encrypted_extensions",
    11: "certificate", 12: "server_key_exchange", 13: "certificate_request",
    14: "server_hello_done", 15: "certificate_verify", 16: "client_key_exchange",
    20: "finished", 21: "certificate_url", 22: "certificate_status", 24: "key_update",
    254: "message_hash",
}  # fmt: skip
RECORD_NAMES = {CHANGE_CIPHER_SPEC: "change_cipher_spec", ALERT: "alert",
                HANDSHAKE: "encrypted_handshake", APPLICATION_DATA: "application_data",
                HEARTBEAT: "heartbeat"}  # fmt: skip
ALERT_DESCRIPTIONS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 112: "unrecognized_name", 113: "bad_certificate_status_response",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}  # fmt: skip


class Malformed(Exception):
    """A handshake message does not hold what its type says it should."""


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.left():
            raise Malformed(f"needs {n} bytes at {self.pos}, has {self.left()}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.uint(length_bytes))


def _text(raw: bytes) -> str:
    return raw[:MAX_TEXT].decode("utf-8", errors="replace")


# -- framing ------------------------------------------------------------------------------------
def record_length(buf: bytes, offset: int) -> int:
    """5 + the record's length; 0 when the header is not all there; -1 if no TLS record."""
    if len(buf) - offset < 5:
        if offset < len(buf) and buf[offset] not in CONTENT_TYPES:
            return -1
        if offset + 1 < len(buf) and buf[offset + 1] != 3:
            return -1
        return 0
    if buf[offset] not in CONTENT_TYPES or buf[offset + 1] != 3 or buf[offset + 2] > 4:
        return -1
    length = int.from_bytes(buf[offset + 3 : offset + 5], "big")
    if length > MAX_RECORD or (length == 0 and buf[offset] != APPLICATION_DATA):
        return -1
    return 5 + length


def _records_only(data: bytes) -> bool:
    """``data`` starts with whole records back to back: two or more, or exactly one."""
    pos = count = 0
    while count < 8 and pos < len(data):
        n = record_length(data, pos)
        if n <= 0 or pos + n > len(data):
            break
        pos, count = pos + n, count + 1
    return count >= 2 or (count == 1 and pos == len(data))


# -- record parsing -----------------------------------------------------------------------------
def _session(state: dict[str, Any]) -> dict[str, Any]:
    tls = state.get("tls")
    if tls is None:
        tls = state["tls"] = {"hs": [bytearray(), bytearray()], "ccs": [False, False],
                              "version": None, "stopped": False, "server_version": None}  # fmt: skip
    return tls


@dataclass(slots=True)
class _Ctx:
    protocol: str
    from_client: bool
    tls: dict[str, Any]
    result: ParseResult

    @property
    def direction(self) -> Literal["request", "response"]:
        return "request" if self.from_client else "response"

    def op(self, code: int, name: str, target: str | None = None, **kw: Any) -> None:
        if len(self.result.operations) < MAX_MESSAGES:
            self.result.operations.append(Operation(
                protocol=self.protocol, code=code, name=name,
                direction=kw.pop("direction", self.direction),
                target=target[:MAX_TEXT] if target else None, **kw,
            ))  # fmt: skip


def _stop(ctx: _Ctx) -> None:
    ctx.tls["stopped"] = True
    ctx.tls["hs"] = [bytearray(), bytearray()]
    ctx.result.stop = True
    if ctx.result.error is None:
        ctx.result.error = "encrypted"


def _alert(ctx: _Ctx, side: int, body: bytes) -> None:
    encrypted = ctx.tls["ccs"][side] or len(body) != 2
    if encrypted:
        ctx.op(RECORD_OP + ALERT, "alert", direction="unsolicited",
               detail={"encrypted": True, "length": len(body)})  # fmt: skip
        return
    level, desc = body[0], body[1]
    name = ALERT_DESCRIPTIONS.get(desc, str(desc))
    ctx.op(RECORD_OP + ALERT, "alert", name, direction="unsolicited",
           exception=desc if level == 2 else None,
           detail={"level": "fatal" if level == 2 else "warning", "description": name,
                   "description_code": desc})  # fmt: skip


def _handshake_record(ctx: _Ctx, side: int, body: bytes,
                      handle: Callable[[_Ctx, int, bytes], None]) -> None:  # fmt: skip
    """Append a cleartext handshake record to the side's buffer and ``handle`` (context,
    handshake type, message body) every whole message it now holds."""
    buf: bytearray = ctx.tls["hs"][side]
    buf += body
    if len(buf) > MAX_HANDSHAKE_BUFFER:
        buf.clear()
        raise Malformed("handshake message larger than 64 KiB")
    count = 0
    while len(buf) >= 4 and count < MAX_MESSAGES:
        length = int.from_bytes(buf[1:4], "big")
        if length > MAX_HANDSHAKE_BUFFER:
            buf.clear()
            raise Malformed(f"handshake message of {length} bytes")
        if len(buf) < 4 + length:
            return  # the rest comes in the next record(s)
        msg_type, message = buf[0], bytes(buf[4 : 4 + length])
        del buf[: 4 + length]
        count += 1
        handle(ctx, msg_type, message)
    if count >= MAX_MESSAGES and buf:
        buf.clear()
        raise Malformed(f"more than {MAX_MESSAGES} handshake messages in one record")
