"""OPC UA Binary (opc.tcp): which services an HMI, SCADA or remote client called on a crane PLC.

OPC UA is how HMIs and MES read and write a crane PLC's tags. Each chunk of an ``opc.tcp``
stream becomes one operation: the transport messages (Hello with its endpoint URL, Acknowledge,
Error, ReverseHello), OpenSecureChannel with its security policy and mode, CloseSecureChannel,
and every secure-conversation message with its service (Read, Write, Call, Browse,
CreateSession, Publish, ...) taken from the encoding NodeId of the body. Write and Call are the
operations that change a crane; CreateSession requests name the client application, and
CreateSession and GetEndpoints responses the server (application URI, product URI, application
name); the user name of ActivateSession says who logged on. When a secure channel encrypts its messages
the body cannot be read; the chunk still counts as an operation and the result carries the
error ``encrypted`` for ``coverage``.

Specification: OPC 10000-6 (Part 6: Mappings) sections 5.2 (UA Binary), 6.7 (UA Secure
Conversation) and 7.1 (UA Connection Protocol); OPC 10000-4 (Part 4: Services) for the service
parameters. Wire decoding lives in :mod:`._wire`, the service table in :mod:`._services`, the
service bodies that carry targets and identities in :mod:`._bodies`; this module maps decoded
chunks to :class:`~cranewatch.protocols._base.Operation` and
:class:`~cranewatch.protocols._base.IdentityFact`.

Hand-written because the maintained Python stacks do not fit: asyncua and opcua-asyncio decode
only messages of their own sessions (and need the keys of encrypted ones), and scapy has no
OPC UA layer; a per-chunk parser over a reassembled stream is also far faster than either.
"""

from __future__ import annotations

from typing import Any, Literal

from cranewatch.protocols._base import CompiledTier, IdentityFact, Operation, ParseResult
from cranewatch.protocols.opcua import _bodies as B
from cranewatch.protocols.opcua import _kernel
from cranewatch.protocols.opcua import _services as S
from cranewatch.protocols.opcua import _wire as W

NAME = "opcua"
PORT = 4840
MAX_OPEN_CHUNKS = 64

#: code of transport-level messages: the three ASCII octets of the MessageType, big-endian
TRANSPORT = {
    b"HEL": ("hello", "request"),
    b"ACK": ("acknowledge", "response"),
    b"ERR": ("error", "response"),
    b"RHE": ("reverse_hello", "unsolicited"),
}


def transport_code(kind: bytes) -> int:
    """HEL -> 0x48454C: the code of a transport message in ``Operation.code``."""
    return int.from_bytes(kind, "big")


def operation_name(code: int) -> str:
    """The ``Operation.name`` ``parse`` gives a service code (the compiled tier's codes)."""
    service = S.SERVICES.get(code)
    return service.name if service is not None else f"service_{code}"


def describe_target(unit: int, lo: int, hi: int) -> str | None:
    """The target ``parse`` gives a node list the compiled tier could derive: the NodeIds
    ``ns=<unit>;i=<lo>`` to ``ns=<unit>;i=<hi>`` (``i=...`` in namespace 0), as ``W.node_list``
    writes them; None when the kernel left the target at -1."""
    if unit < 0 or lo < 0 or not 0 <= hi - lo < W.MAX_LISTED:
        return None
    return W.node_list([W.NodeId(unit, ident) for ident in range(lo, hi + 1)], hi - lo + 1)


class OpcUaAnalyzer:
    """UA Connection Protocol and Secure Conversation chunks -> operations and identities."""

    name = NAME
    description = "OPC UA Binary (opc.tcp): transport messages, secure channels and services"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    #: plain single-chunk MSG services in numba; everything else goes to ``parse`` (_kernel.py)
    compiled = CompiledTier(
        framing="opcua",
        classify=_kernel.classify,
        classify_pdu=_kernel.classify_pdu,
        operation_name=operation_name,
        describe_target=describe_target,
    )

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        score = 0.0
        head = W.header(client)
        if head is not None and head[0] == b"HEL":
            score = 0.95 if _hello_consistent(client, head[2]) else 0.6
        elif head is not None and head[0] in (b"OPN", b"MSG", b"CLO"):
            score = 0.7  # capture started after the Hello
        elif not client:
            server_head = W.header(server)
            score = 0.5 if server_head is not None and server_head[0] == b"ACK" else 0.0
        if score and W.header(server) is not None:
            score = min(score + 0.15, 0.99)
        if score and server_port == PORT:
            score = min(score + 0.05, 0.99)
        return score

    def pdu_length(self, buf: bytes, offset: int) -> int:
        available = len(buf) - offset
        if available < W.HEADER_LEN:
            prefix = bytes(buf[offset : offset + min(available, 3)])
            return 0 if any(t.startswith(prefix) for t in W.MESSAGE_TYPES) else -1
        head = W.header(buf, offset)
        return -1 if head is None else head[2]

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        head = W.header(pdu)
        if head is None:
            return ParseResult(error="not an OPC UA message header")
        kind, chunk, size = head
        if size != len(pdu):
            return ParseResult(error=f"chunk says {size} bytes, has {len(pdu)}")
        try:
            if kind in TRANSPORT:
                return _transport(kind, pdu)
            if kind == b"OPN":
                return _open(pdu, from_client, state)
            return _secure(kind, chr(chunk), pdu, from_client, state)
        except W.Malformed as exc:
            return ParseResult(error=f"malformed {kind.decode()}: {exc}")


def _hello_consistent(data: bytes, size: int) -> bool:
    """A Hello whose EndpointUrl is an opc.* URL ending exactly at the message size."""
    try:
        r = W.Reader(data[:size], 8)
        r.skip(20)
        url = r.string()
    except W.Malformed:
        return False
    return r.pos == size and url is not None and url.lower().startswith("opc.")


def _op(code: int, name: str, direction: str, **kw: Any) -> Operation:
    return Operation(protocol=NAME, code=code, name=name, direction=direction, **kw)  # type: ignore[arg-type]


def _transport(kind: bytes, pdu: bytes) -> ParseResult:
    name, direction = TRANSPORT[kind]
    r = W.Reader(pdu, 8)
    result = ParseResult()
    detail: dict[str, Any] = {"message_type": kind.decode()}
    target = exception = None
    if kind in (b"HEL", b"ACK"):
        keys = ("protocol_version", "receive_buffer_size", "send_buffer_size",
                "max_message_size", "max_chunk_count")  # fmt: skip
        detail.update({k: r.u32() for k in keys})
        if kind == b"HEL":
            target = r.string()
            detail["endpoint_url"] = target
    elif kind == b"ERR":
        exception = r.u32()
        detail["reason"] = r.string()
    else:  # RHE
        server_uri, target = r.string(), r.string()
        detail["endpoint_url"] = target
        if server_uri:
            result.identities.append(IdentityFact(NAME, "application_uri", server_uri))
    result.operations.append(
        _op(
            transport_code(kind), name, direction, target=target, exception=exception, detail=detail
        )
    )
    return result


def _open(pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
    """OpenSecureChannel: the asymmetric security header is always readable, the body only
    with SecurityPolicy None."""
    r = W.Reader(pdu, 8)
    r.u32()  # SecureChannelId
    policy = r.string()
    r.bytestring()  # SenderCertificate
    r.bytestring()  # ReceiverCertificateThumbprint
    state["policy"] = policy
    code = S.OPEN_REQUEST if from_client else S.OPEN_RESPONSE
    direction = "request" if from_client else "response"
    detail: dict[str, Any] = {"message_type": "OPN", "security_policy_uri": policy}
    target = W.policy_name(policy)
    if policy != W.POLICY_NONE:
        detail["encrypted"] = True
        op = _op(code, "open_secure_channel", direction, target=target, detail=detail)
        return ParseResult(operations=[op], error="encrypted")
    r.skip(8)  # SequenceHeader
    type_id = r.nodeid().numeric
    exception = None
    if type_id == S.OPEN_REQUEST:
        W.request_header(r)
        r.u32()  # ClientProtocolVersion
        detail["request_type"] = "renew" if r.u32() == 1 else "issue"
        mode = r.u32()
        detail["security_mode"] = W.SECURITY_MODES.get(mode, str(mode))
        state["security_mode"] = detail["security_mode"]
        target = f"{target} {detail['security_mode']}"
    elif type_id == S.OPEN_RESPONSE:
        status = W.response_header(r)
        exception = status if status & 0x80000000 else None
    else:
        return ParseResult(error=f"OpenSecureChannel body has type id {type_id}")
    op = _op(type_id, "open_secure_channel", direction, target=target, exception=exception,
             detail=detail)  # fmt: skip
    return ParseResult(operations=[op])


def _secure(
    kind: bytes, chunk: str, pdu: bytes, from_client: bool, state: dict[str, Any]
) -> ParseResult:
    """MSG and CLO chunks: symmetric security header, sequence header, service body."""
    r = W.Reader(pdu, 8)
    r.skip(8)  # SecureChannelId, TokenId
    r.u32()  # SequenceNumber
    request_id = r.u32()
    chunks: dict[tuple[bool, int], int] = state.setdefault("chunks", {})
    key = (from_client, request_id)
    if chunk == "A" or key in chunks:  # abort, or a later chunk of a message already counted
        if chunk != "C":
            chunks.pop(key, None)
        return ParseResult()
    start = r.pos
    try:
        type_id = r.nodeid().numeric
    except W.Malformed:
        type_id = None
    service = S.SERVICES.get(type_id) if type_id is not None else None
    if service is None or (service.is_request != from_client and type_id != S.SERVICE_FAULT):
        return _opaque(kind, pdu, start, from_client, state, type_id)
    assert type_id is not None
    if chunk == "C" and len(chunks) < MAX_OPEN_CHUNKS:
        chunks[key] = type_id  # the message's later chunks carry no type id of their own
    result = ParseResult()
    flags = {
        "is_read": service.kind == S.READ,
        "is_write": service.kind == S.WRITE,
        "is_control": service.kind == S.CONTROL,
        "is_diagnostic": service.kind == S.DIAGNOSTIC,
    }
    detail: dict[str, Any] = {"message_type": kind.decode(), "request_id": request_id}
    target: str | None = None
    exception: int | None = None
    try:
        if service.is_request:
            W.request_header(r)
            target = B.request_body(service.name, r, result, detail)
        else:
            status = W.response_header(r)
            if status & 0x80000000 or type_id == S.SERVICE_FAULT:
                exception = status
            exception = B.response_body(service.name, r, result, detail, exception)
    except W.Malformed as exc:
        if chunk == "F":
            result.error = f"malformed {service.name} body: {exc}"
    direction = "request" if service.is_request else "response"
    result.operations.insert(
        0,
        _op(
            type_id,
            service.name,
            direction,
            target=target,
            exception=exception,
            detail=detail,
            **flags,
        ),
    )
    return result


def _opaque(kind: bytes, pdu: bytes, start: int, from_client: bool, state: dict[str, Any],
            type_id: int | None) -> ParseResult:  # fmt: skip
    """A body whose type id is not a service of this direction: encrypted, or unknown."""
    direction = "request" if from_client else "response"
    plain = state.get("policy") == W.POLICY_NONE
    detail: dict[str, Any] = {"message_type": kind.decode()}
    if kind == b"CLO":
        if not plain:
            detail["encrypted"] = True
        op = _op(S.CLOSE_REQUEST, "close_secure_channel", direction, detail=detail)
        return ParseResult(operations=[op], error=None if plain else "encrypted")
    if plain and type_id is not None:
        op = _op(type_id, f"service_{type_id}", direction, detail=detail)
        return ParseResult(operations=[op], error=f"unknown service encoding id {type_id}")
    detail["encrypted"] = True
    op = _op(0, "encrypted_message", direction, detail=detail)
    return ParseResult(operations=[op], error="encrypted")


ANALYZER = OpcUaAnalyzer()

__all__ = ["ANALYZER", "OpcUaAnalyzer", "describe_target", "operation_name", "transport_code"]
