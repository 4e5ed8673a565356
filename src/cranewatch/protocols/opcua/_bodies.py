"""Service bodies that name what a request is about, or who the peer is.

Reads, from OPC 10000-4 (Part 4: Services) section 5, only the leading parameters needed for
an operation's target (the nodes of Read, Write, Browse, HistoryRead, CreateMonitoredItems, the
methods of Call, the endpoint URL of GetEndpoints, FindServers and CreateSession, the user of
ActivateSession) and the ApplicationDescriptions of CreateSession and GetEndpoints, which
become identity facts. Everything else in a body is left unread.
"""

from __future__ import annotations

from typing import Any

from cranewatch.protocols._base import IdentityFact, ParseResult
from cranewatch.protocols.opcua import _services as S
from cranewatch.protocols.opcua import _wire as W

NAME = "opcua"


def request_body(name: str, r: W.Reader, result: ParseResult, detail: dict[str, Any]) -> str | None:
    """Reads what the target and identities need from a request body; returns the target."""
    if name in ("get_endpoints", "find_servers"):
        return r.string()
    if name == "create_session":
        client = W.application(r)
        result.identities += _application_facts(client)
        r.string()  # ServerUri
        url = r.string()
        detail["session_name"] = r.string()
        return url
    if name == "activate_session":
        r.string()  # ClientSignature.Algorithm
        r.bytestring()  # ClientSignature.Signature
        for _ in range(r.count()):  # ClientSoftwareCertificates
            r.bytestring()
            r.bytestring()
        r.strings()  # LocaleIds
        type_id, body = r.extension_object()
        token = S.IDENTITY_TOKENS.get(type_id.numeric or 0, str(type_id))
        detail["user_token"] = token
        if token == "username" and body is not None:
            inner = W.Reader(body)
            inner.string()  # PolicyId
            user = inner.string()
            detail["user_name"] = user
            return f"user={user}"
        return token
    if name in ("read", "create_monitored_items", "write", "browse", "history_read", "call"):
        return _nodes(name, r)
    return None


def _nodes(name: str, r: W.Reader) -> str | None:
    """The node ids a Read, Write, Browse, Call, HistoryRead or CreateMonitoredItems is about."""
    if name == "read":
        r.skip(8 + 4)  # MaxAge, TimestampsToReturn
    elif name == "create_monitored_items":
        r.skip(4 + 4)  # SubscriptionId, TimestampsToReturn
    elif name == "browse":
        r.nodeid()  # View.ViewId
        r.skip(8 + 4 + 4)  # View.Timestamp, View.ViewVersion, RequestedMaxReferencesPerNode
    elif name == "history_read":
        r.extension_object()  # HistoryReadDetails
        r.skip(4 + 1)  # TimestampsToReturn, ReleaseContinuationPoints
    total = r.count()
    nodes: list[W.NodeId] = []
    listed: list[str] = []
    for _ in range(min(total, W.MAX_LISTED)):
        if name == "call":
            obj, method = r.nodeid(), r.nodeid()
            for _ in range(r.count()):
                r.variant()
            listed.append(f"{method}@{obj}")
            continue
        nodes.append(r.nodeid())
        if name in ("read", "create_monitored_items"):
            r.u32()  # AttributeId
            r.string()  # IndexRange
            r.qualified_name()  # DataEncoding
            if name == "create_monitored_items":
                r.skip(4 + 4)  # MonitoringMode, ClientHandle
                r.f64()  # SamplingInterval
                r.extension_object()  # Filter
                r.skip(4 + 1)  # QueueSize, DiscardOldest
        elif name == "write":
            r.u32()
            r.string()
            r.data_value()
        elif name == "browse":
            r.u32()  # BrowseDirection
            r.nodeid()  # ReferenceTypeId
            r.skip(1 + 4 + 4)  # IncludeSubtypes, NodeClassMask, ResultMask
        elif name == "history_read":
            r.string()
            r.qualified_name()
            r.bytestring()
    if listed:
        text = ",".join(listed)
        return f"{text} (+{total - W.MAX_LISTED} more)" if total > W.MAX_LISTED else text
    return W.node_list(nodes, total)


def response_body(name: str, r: W.Reader, result: ParseResult, detail: dict[str, Any],
                   exception: int | None) -> int | None:  # fmt: skip
    """Identities and per-operation status codes of a response; returns the exception."""
    if name == "create_session":
        r.nodeid()  # SessionId
        r.nodeid()  # AuthenticationToken
        r.f64()  # RevisedSessionTimeout
        r.bytestring()  # ServerNonce
        r.bytestring()  # ServerCertificate
        _endpoints(r, result, detail)
    elif name == "get_endpoints":
        _endpoints(r, result, detail)
    elif name == "find_servers":
        servers = [W.application(r) for _ in range(min(r.count(), W.MAX_LISTED))]
        detail["servers"] = [s.uri for s in servers]
    elif name == "write" and exception is None:
        codes = [r.u32() for _ in range(r.count())]
        bad = [c for c in codes if c & 0x80000000]
        if bad:
            exception = bad[0]
    return exception


def _endpoints(r: W.Reader, result: ParseResult, detail: dict[str, Any]) -> None:
    total = r.count()
    endpoints = [W.endpoint(r) for _ in range(min(total, W.MAX_LISTED))]
    if not endpoints:
        return
    detail["endpoints"] = [
        f"{W.SECURITY_MODES.get(e.security_mode, e.security_mode)} {W.policy_name(e.security_policy)}"
        for e in endpoints
    ]
    result.identities += _application_facts(endpoints[0].server)


def _application_facts(app: W.Application) -> list[IdentityFact]:
    """ApplicationUri, ProductUri and ApplicationName of an ApplicationDescription."""
    facts = []
    if app.uri:
        facts.append(IdentityFact(NAME, "application_uri", app.uri))
    if app.product_uri:
        facts.append(IdentityFact(NAME, "product_code", app.product_uri))
    if app.name:
        facts.append(IdentityFact(NAME, "software", app.name))
    return facts
