"""OPC UA Binary wire format: the built-in types, the message headers and the few service
bodies whose contents matter for operations and identities.

Follows OPC 10000-6 (OPC UA Part 6: Mappings), section 5.2 "OPC UA Binary" (built-in type
encodings: String, ByteString, NodeId and ExpandedNodeId, LocalizedText, QualifiedName,
DiagnosticInfo, ExtensionObject, Variant, DataValue) and section 7.1 "OPC UA Connection
Protocol" / 6.7 "OPC UA Secure Conversation" (message header, asymmetric and symmetric
security headers, sequence header); the service structures are those of OPC 10000-4 (Part 4:
Services), section 7 (RequestHeader, ResponseHeader, ApplicationDescription,
EndpointDescription) and the service parameter tables of section 5.

Every reader raises :class:`Malformed` when the bytes run out or a count is hostile; the
analyzer turns that into a ``ParseResult`` error. Recursion (nested DiagnosticInfo, Variants
inside Variants, DataValues) is capped at :data:`MAX_DEPTH`; no array may claim more elements
than the chunk has bytes left.
"""

from __future__ import annotations

import base64
import struct
import uuid
from dataclasses import dataclass

MAX_DEPTH = 8
MAX_LISTED = 8  # node ids listed in a target

HEADER_LEN = 8
MESSAGE_TYPES = (b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO")
SINGLE_CHUNK = (b"HEL", b"ACK", b"ERR", b"RHE")
MIN_SIZE = {b"HEL": 32, b"ACK": 28, b"ERR": 16, b"RHE": 16, b"OPN": 24, b"MSG": 24, b"CLO": 24}
MAX_CHUNK = 1 << 24  # 16 MiB; larger chunk sizes are not plausible on the wire

SECURITY_MODES = {0: "Invalid", 1: "None", 2: "Sign", 3: "SignAndEncrypt"}
POLICY_NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"


class Malformed(Exception):
    """The bytes do not hold what the structure being read says they should."""


def header(buf: bytes | memoryview, offset: int = 0) -> tuple[bytes, int, int] | None:
    """(message type, chunk type, size) of a plausible message header at ``offset``."""
    if len(buf) - offset < HEADER_LEN:
        return None
    kind = bytes(buf[offset : offset + 3])
    chunk = buf[offset + 3]
    size = int.from_bytes(buf[offset + 4 : offset + 8], "little")
    if kind not in MESSAGE_TYPES or chunk not in b"FCA":
        return None
    if kind in SINGLE_CHUNK and chunk != ord("F"):
        return None
    if not MIN_SIZE[kind] <= size <= MAX_CHUNK:
        return None
    return kind, chunk, size


class Reader:
    """Little-endian reader over one chunk."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise Malformed(f"needs {n} bytes at {self.pos}, has {len(self.data) - self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self.take(n)

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def i32(self) -> int:
        return int.from_bytes(self.take(4), "little", signed=True)

    def f64(self) -> float:
        value: float = struct.unpack("<d", self.take(8))[0]
        return value

    def length(self) -> int:
        """An Int32 length or array count; -1 means null."""
        n = self.i32()
        if n < -1 or n > len(self.data) - self.pos:  # every element takes at least one byte
            raise Malformed(f"length {n} at {self.pos - 4}")
        return n

    def bytestring(self) -> bytes | None:
        n = self.length()
        return None if n < 0 else self.take(n)

    def string(self) -> str | None:
        raw = self.bytestring()
        return None if raw is None else raw.decode("utf-8", errors="replace")

    def count(self) -> int:
        """An array length, with null read as empty."""
        return max(self.length(), 0)

    def strings(self) -> list[str]:
        return [s for s in (self.string() for _ in range(self.count())) if s is not None]

    # -- structured built-in types ---------------------------------------------------------
    def nodeid(self) -> NodeId:
        mask = self.u8()
        kind = mask & 0x3F
        if kind == 0:
            node = NodeId(0, self.u8())
        elif kind == 1:
            node = NodeId(self.u8(), self.u16())
        elif kind == 2:
            node = NodeId(self.u16(), self.u32())
        elif kind == 3:
            node = NodeId(self.u16(), self.string() or "")
        elif kind == 4:
            node = NodeId(self.u16(), uuid.UUID(bytes_le=self.take(16)))
        elif kind == 5:
            node = NodeId(self.u16(), self.bytestring() or b"")
        else:
            raise Malformed(f"NodeId encoding {mask:#04x}")
        if mask & 0x80:  # ExpandedNodeId: NamespaceUri
            self.string()
        if mask & 0x40:  # ExpandedNodeId: ServerIndex
            self.u32()
        return node

    def localized_text(self) -> str | None:
        mask = self.u8()
        if mask & 0x01:
            self.string()
        return self.string() if mask & 0x02 else None

    def qualified_name(self) -> str:
        ns = self.u16()
        name = self.string() or ""
        return f"{ns}:{name}" if ns else name

    def diagnostic_info(self, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise Malformed("DiagnosticInfo nested too deep")
        mask = self.u8()
        for bit in (0x01, 0x02, 0x08, 0x04):  # SymbolicId, NamespaceUri, Locale, LocalizedText
            if mask & bit:
                self.i32()
        if mask & 0x10:
            self.string()
        if mask & 0x20:
            self.u32()
        if mask & 0x40:
            self.diagnostic_info(depth + 1)

    def extension_object(self) -> tuple[NodeId, bytes | None]:
        type_id = self.nodeid()
        encoding = self.u8()
        if encoding in (1, 2):
            return type_id, self.bytestring()
        if encoding != 0:
            raise Malformed(f"ExtensionObject encoding {encoding}")
        return type_id, None

    def variant(self, depth: int = 0) -> None:
        """Skip one Variant (the analyzer never needs written values, only where they go)."""
        if depth > MAX_DEPTH:
            raise Malformed("Variant nested too deep")
        mask = self.u8()
        kind = mask & 0x3F
        if mask & 0x80:
            count = self.count()
            if kind in _FIXED:
                self.skip(_FIXED[kind] * count)
            elif kind != 0:  # an array of nulls has no bytes to skip
                for _ in range(count):
                    self._scalar(kind, depth)
            if mask & 0x40:  # ArrayDimensions
                self.skip(4 * self.count())
        else:
            self._scalar(kind, depth)

    def data_value(self, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise Malformed("DataValue nested too deep")
        mask = self.u8()
        if mask & 0x01:
            self.variant(depth + 1)
        if mask & 0x02:
            self.u32()
        for bit, size in ((0x04, 8), (0x10, 2), (0x08, 8), (0x20, 2)):
            if mask & bit:
                self.skip(size)

    def _scalar(self, kind: int, depth: int) -> None:
        size = _FIXED.get(kind)
        if size is not None:
            self.skip(size)
        elif kind in (12, 15, 16):  # String, ByteString, XmlElement
            self.bytestring()
        elif kind in (17, 18):
            self.nodeid()
        elif kind == 20:
            self.qualified_name()
        elif kind == 21:
            self.localized_text()
        elif kind == 22:
            self.extension_object()
        elif kind == 23:
            self.data_value(depth + 1)
        elif kind == 24:
            self.variant(depth + 1)
        elif kind == 25:
            self.diagnostic_info(depth + 1)
        elif kind != 0:
            raise Malformed(f"Variant type {kind}")


_FIXED = {1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 8, 10: 4, 11: 8, 13: 8, 14: 16, 19: 4}


@dataclass(frozen=True, slots=True)
class NodeId:
    namespace: int
    identifier: int | str | uuid.UUID | bytes

    def __str__(self) -> str:
        ns = f"ns={self.namespace};" if self.namespace else ""
        ident = self.identifier
        if isinstance(ident, int):
            return f"{ns}i={ident}"
        if isinstance(ident, str):
            return f"{ns}s={ident}"
        if isinstance(ident, uuid.UUID):
            return f"{ns}g={ident}"
        return f"{ns}b={base64.b64encode(ident).decode()}"

    @property
    def numeric(self) -> int | None:
        return self.identifier if self.namespace == 0 and isinstance(self.identifier, int) else None


# -- request and response structures (OPC 10000-4, section 7) ------------------------------
def request_header(r: Reader) -> None:
    r.nodeid()  # AuthenticationToken
    r.skip(8 + 4 + 4)  # Timestamp, RequestHandle, ReturnDiagnostics
    r.string()  # AuditEntryId
    r.u32()  # TimeoutHint
    r.extension_object()  # AdditionalHeader


def response_header(r: Reader) -> int:
    """Reads a ResponseHeader; returns its ServiceResult status code."""
    r.skip(8 + 4)  # Timestamp, RequestHandle
    result = r.u32()
    r.diagnostic_info()
    r.strings()  # StringTable
    r.extension_object()
    return result


@dataclass(slots=True)
class Application:
    """An ApplicationDescription."""

    uri: str | None
    product_uri: str | None
    name: str | None
    kind: int


def application(r: Reader) -> Application:
    uri, product = r.string(), r.string()
    name = r.localized_text()
    kind = r.u32()
    r.string()  # GatewayServerUri
    r.string()  # DiscoveryProfileUri
    r.strings()  # DiscoveryUrls
    return Application(uri, product, name, kind)


@dataclass(slots=True)
class Endpoint:
    """An EndpointDescription, without certificate and token policies."""

    url: str | None
    server: Application
    security_mode: int
    security_policy: str | None


def endpoint(r: Reader) -> Endpoint:
    url = r.string()
    server = application(r)
    r.bytestring()  # ServerCertificate
    mode = r.u32()
    policy = r.string()
    for _ in range(r.count()):  # UserIdentityTokens: UserTokenPolicy
        r.string()
        r.u32()
        r.string()
        r.string()
        r.string()
    r.string()  # TransportProfileUri
    r.u8()  # SecurityLevel
    return Endpoint(url, server, mode, policy)


def policy_name(uri: str | None) -> str:
    if not uri:
        return "unknown"
    return uri.rsplit("#", 1)[-1]


def node_list(nodes: list[NodeId], total: int) -> str | None:
    if not nodes:
        return None
    text = ",".join(str(n) for n in nodes[:MAX_LISTED])
    return f"{text} (+{total - MAX_LISTED} more)" if total > MAX_LISTED else text
