"""HTTP/1.x: which web servers a device talks to, with which client software, and what it does.

Cellular routers, IoT gateways and crane-side PCs talk HTTP to their management portals, update
servers and "phone home" endpoints, and many of them serve a web UI of their own. The request's
Host names the server the device reached; the User-Agent names the client software (a modem's
firmware updater, curl on an embedded Linux, a Windows browser on an HMI); the Server header of
a response names the web server of the responding device (lighttpd or GoAhead on a router,
Boa on an old modem, IIS on a server room PC).

Every request and response head of a reassembled TCP stream is one PDU, with its body when the
length is known: requests become an operation named after the method (lower-case; ``code`` is
the method's index in :data:`METHODS`, 0 for an extension method; GET, HEAD and the WebDAV
reads PROPFIND, SEARCH and REPORT ``is_read``, POST/PUT ``is_write``: they upload), with target ``host + path`` (truncated); responses become a
``response`` operation with the status as ``code`` and as ``exception`` from 400 on. Host is a
``connected`` name of the client; User-Agent a ``user_agent`` identity of the client (source
"http user-agent") plus its product token as ``software`` (confidence 0.8); Server a
``software`` identity of the server (source "http server"). Bodies, cookies and credentials are
never stored: an Authorization header is noted by its scheme only.

Framing (``pdu_length``): the header block up to the blank line (at most 64 KiB; longer is lost
framing), then the body when it is short (Content-Length up to 8 KiB, or a chunked body whose
chunks, walked one by one, end within 8 KiB). A longer body, or one read until the connection
closes, is not part of the PDU: the PDU is the head alone and the body bytes after it are
counted as undecoded by the dispatcher, which resynchronises at the next segment that starts a
message. This is deliberate: the dispatcher hands over a PDU only when all of it has arrived,
so a 50 MB download framed whole would wait past the buffer limit (or a TCP gap) and lose the
head, which holds everything cranewatch needs (host, user agent, server, status). A response
head followed directly by another response (the answer to HEAD) gets no body. HTTP/0.9 simple
requests ("GET /path") are framed as their line; the bodies HTTP/0.9 servers send back have no
head and stay undecoded.

Specifications: RFC 9110 (HTTP semantics: methods 9, status codes 15), RFC 9112 (HTTP/1.1
message syntax and framing, 6 and 7.1 chunked coding), RFC 4918 (WebDAV methods), RFC 5789
(PATCH).

Hand-written because the maintained parsers are either one side of a live connection (h11,
http.client, aiohttp) that stop at the first protocol violation a capture is full of, or far too
slow per packet (scapy's HTTP layer); ``httptools`` (llhttp) needs one parser object per
direction fed in order and raises on malformed input, while this stateless framing lets the
dispatcher frame and resynchronise any run of bytes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, NameFact, Operation, ParseResult

NAME = "http"
PORTS = (80, 8000, 8008, 8080, 8081, 8088, 8888)

#: the method table: ``code`` of a request is its index here (0: an extension method)
METHODS = ("", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
           "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
           "SEARCH", "SUBSCRIBE", "UNSUBSCRIBE", "NOTIFY", "M-SEARCH")  # fmt: skip
METHOD_CODES = {m.encode(): i for i, m in enumerate(METHODS) if m}
READ_METHODS = {"GET", "HEAD", "PROPFIND", "SEARCH", "REPORT"}
WRITE_METHODS = {"POST", "PUT"}  # methods that upload content
MAX_HEAD = 64 * 1024
MAX_INLINE_BODY = 8 * 1024  # bodies framed with their head; longer ones are left undecoded
MAX_CHUNKS = 4096
MAX_CHUNK_LINE = 1024
MAX_HEADERS = 128
MAX_TEXT = 255
MAX_LEADING_BLANK = 8  # empty lines tolerated before a request line (RFC 9112 2.2)

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) (\S{1,8192})(?: (HTTP/\d\.\d))?$")
_STATUS_LINE = re.compile(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?$")
_PRODUCT = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?")


def _starts_message(buf: bytes, pos: int) -> int:
    """1: a response, 2: a request (a known method, or an upper-case extension token followed
    by a path), 0: not HTTP, -1: too few bytes to tell."""
    head = bytes(buf[pos : pos + 40])
    if head.startswith(b"HTTP/"):
        return 1
    space = head.find(b" ")
    if space < 0:
        if len(head) >= 33:
            return 0
        if b"HTTP/".startswith(head) or any(m.startswith(head) for m in METHOD_CODES):
            return -1
        return -1 if _TOKEN.fullmatch(head) and head.isupper() else 0
    method = head[:space]
    if method in METHOD_CODES:
        return 2
    after = head[space + 1 : space + 2]
    if (
        len(method) >= 3
        and _TOKEN.fullmatch(method)
        and method.isupper()
        and after in (b"/", b"*", b"")
    ):
        return 2 if after else -1
    return 0


def _header_value(head: bytes, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case) in a header block."""
    for line in head.split(b"\n")[1 : MAX_HEADERS + 1]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _chunked_length(buf: bytes, start: int) -> int:
    """Bytes of a chunked body starting at ``start``: >0, 0 (need more), -1 (malformed)."""
    pos = start
    for _ in range(MAX_CHUNKS):
        eol = buf.find(b"\n", pos, pos + MAX_CHUNK_LINE)
        if eol < 0:
            return 0 if len(buf) - pos < MAX_CHUNK_LINE else -1
        size_text = bytes(buf[pos:eol]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return -1
        pos = eol + 1
        if size == 0:  # trailer fields up to an empty line
            for _ in range(MAX_HEADERS):
                eol = buf.find(b"\n", pos, pos + MAX_CHUNK_LINE)
                if eol < 0:
                    return 0 if len(buf) - pos < MAX_CHUNK_LINE else -1
                line, pos = buf[pos:eol], eol + 1
                if line in (b"", b"\r"):
                    return pos - start
            return -1
        pos += size
        if pos + 2 > len(buf):
            return 0
        if buf[pos : pos + 2] == b"\r\n":
            pos += 2
        elif buf[pos : pos + 1] == b"\n":
            pos += 1
        else:
            return -1
    return -1


def message_length(buf: bytes, offset: int) -> int:
    """Length of the HTTP message at ``offset`` (see the module docstring)."""
    pos = offset
    while pos < len(buf) and pos - offset < MAX_LEADING_BLANK and buf[pos] in (0x0D, 0x0A):
        pos += 1
    if pos >= len(buf):
        return 0
    kind = _starts_message(buf, pos)
    if kind <= 0:
        return 0 if kind < 0 else -1
    first_eol = buf.find(b"\n", pos, pos + MAX_HEAD)
    if first_eol < 0:
        return 0 if len(buf) - pos < MAX_HEAD else -1
    first = bytes(buf[pos:first_eol]).rstrip(b"\r")
    if kind == 2 and not first.endswith((b" HTTP/1.0", b" HTTP/1.1", b" HTTP/0.9")):
        simple = _REQUEST_LINE.match(first)
        if simple is None or simple.group(1) not in METHOD_CODES or simple.group(3):
            return -1
        if not simple.group(2).startswith(b"/"):
            return -1
        return first_eol + 1 - offset  # HTTP/0.9 simple request: the line alone
    end = buf.find(b"\r\n\r\n", pos, pos + MAX_HEAD)
    bare = buf.find(b"\n\n", pos, pos + MAX_HEAD)
    if end < 0 or (0 <= bare < end):
        end, sep = bare, 2
    else:
        sep = 4
    if end < 0:
        return 0 if len(buf) - pos < MAX_HEAD else -1
    head_end = end + sep
    head = bytes(buf[pos:end])
    if kind == 1:
        status = first[9:12]
        if status[:1] == b"1" or status in (b"204", b"304"):
            return head_end - offset
    encoding = _header_value(head, b"transfer-encoding")
    if encoding is not None and b"chunked" in encoding.lower():
        window = bytes(buf[: head_end + MAX_INLINE_BODY])
        body = _chunked_length(window, head_end)
        if body > 0:
            return head_end + body - offset
        if body == 0 and len(window) < head_end + MAX_INLINE_BODY:
            return 0  # a short chunked body still arriving
        return head_end - offset  # a long (or odd) chunked body: the head alone
    length = _header_value(head, b"content-length")
    if length is not None:
        try:
            size = int(length.split(b",")[0])
        except ValueError:
            return -1
        if size < 0:
            return -1
        if kind == 1 and size and bytes(buf[head_end : head_end + 5]) == b"HTTP/":
            return head_end - offset  # the answer to HEAD: no body follows
        if size <= MAX_INLINE_BODY:
            return head_end + size - offset
    return head_end - offset


def _clean(raw: bytes) -> str:
    return raw[:MAX_TEXT].decode("latin-1").strip()


def product_token(user_agent: str) -> str | None:
    """The first product/version token of a User-Agent or Server value ("Wget/1.10")."""
    match = _PRODUCT.match(user_agent.strip())
    return match.group(0)[:MAX_TEXT] if match else None


class HttpAnalyzer:
    """HTTP/1.x requests and responses -> operations, Host names, User-Agent/Server identities."""

    name = NAME
    description = "HTTP/1.x requests and responses: method, host, user agent, server"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        request = _REQUEST_LINE.match(client.split(b"\n", 1)[0].rstrip(b"\r"))
        known = request is not None and request.group(1) in METHOD_CODES
        versioned = request is not None and request.group(3) is not None
        response = _STATUS_LINE.match(server.split(b"\n", 1)[0].rstrip(b"\r")) is not None
        if known and versioned:
            return 0.97 if response or not server else 0.9
        if response and (known or not client):
            return 0.9
        if known and request is not None and request.group(2).startswith(b"/"):
            return 0.7  # HTTP/0.9 simple request
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return message_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        text = pdu.lstrip(b"\r\n")
        eol = text.find(b"\n")
        first = (text if eol < 0 else text[:eol]).rstrip(b"\r")
        end = text.find(b"\r\n\r\n")
        bare = text.find(b"\n\n")
        if end < 0 or (0 <= bare < end):
            end = bare
        head = text[: end if end >= 0 else len(text)]
        status = _STATUS_LINE.match(first)
        if status is not None:
            return _response(status, head)
        request = _REQUEST_LINE.match(first)
        if request is not None:
            return _request(request, head)
        return ParseResult(error="not an HTTP request or status line")


def _request(match: re.Match[bytes], head: bytes) -> ParseResult:
    method_raw, uri_raw, version = match.group(1), match.group(2), match.group(3)
    method = method_raw.decode("ascii", errors="replace").upper()
    code = METHOD_CODES.get(method.encode(), 0)
    result = ParseResult()
    uri = _clean(uri_raw)
    detail: dict[str, Any] = {"method": method[:32], "uri": uri,
                              "version": version.decode()[5:] if version else "0.9"}  # fmt: skip
    host_raw = _header_value(head, b"host") if version else None
    host = _clean(host_raw) if host_raw else None
    if host:
        detail["host"] = host
        bare_host = _strip_port(host)
        if bare_host:
            result.names.append(NameFact(NAME, bare_host, "connected"))
    ua_raw = _header_value(head, b"user-agent") if version else None
    if ua_raw:
        ua = detail["user_agent"] = _clean(ua_raw)
        result.identities.append(
            IdentityFact(NAME, "user_agent", ua, 1.0, "sender", "http user-agent")
        )
        product = product_token(ua)
        if product:
            result.identities.append(
                IdentityFact(NAME, "software", product, 0.8, "sender", "http user-agent")
            )
    _common_headers(head, detail)
    auth = _header_value(head, b"authorization") if version else None
    if auth is not None:
        detail["authorization_scheme"] = _clean(auth.split(b" ", 1)[0])[:32]  # never the token
    target = (host or "") + uri if uri.startswith("/") else uri
    result.operations.append(Operation(
        protocol=NAME, code=code, name=_op_name(method), direction="request",
        target=target[:MAX_TEXT] or None, is_read=method in READ_METHODS,
        is_write=method in WRITE_METHODS, detail=detail,
    ))  # fmt: skip
    return result


def _op_name(method: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", method.lower()).strip("_")
    return name[:32] or "other"


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _common_headers(head: bytes, detail: dict[str, Any]) -> None:
    for key, name in ((b"content-type", "content_type"), (b"content-length", "content_length"),
                      (b"transfer-encoding", "transfer_encoding")):  # fmt: skip
        value = _header_value(head, key)
        if value is not None:
            detail[name] = _clean(value)[:64]


def _response(match: re.Match[bytes], head: bytes) -> ParseResult:
    version, status = match.group(1).decode()[5:], int(match.group(2))
    reason = _clean(match.group(3) or b"")
    result = ParseResult()
    detail: dict[str, Any] = {"version": version, "status": status, "reason": reason}
    server_raw = _header_value(head, b"server")
    if server_raw:
        server = detail["server"] = _clean(server_raw)
        result.identities.append(
            IdentityFact(NAME, "software", server, 0.9, "sender", "http server")
        )
    _common_headers(head, detail)
    result.operations.append(Operation(
        protocol=NAME, code=status, name="response", direction="response",
        target=f"{status} {reason}".strip()[:MAX_TEXT],
        exception=status if status >= 400 else None, detail=detail,
    ))  # fmt: skip
    return result


ANALYZER = HttpAnalyzer()
