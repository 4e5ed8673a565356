"""CIP explicit messages: request and response headers, and the services that nest.

Follows *The CIP Networks Library* Volume 1: the message router request/response format
(chapter 2; paths are decoded by :mod:`._epath`), Multiple Service Packet (Appendix A), the
Connection Manager's Unconnected Send, Forward Open, Large Forward Open and Forward Close
(chapter 3), and the Identity object's attributes (chapter 5). Rockwell's tag services follow
publication 1756-PM020. Nesting (Multiple Service Packet inside Unconnected Send inside ...)
is capped at :data:`MAX_DEPTH`; every nested service becomes its own :class:`Message`, so
callers count each one, as tshark does for ``cip.sc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.protocols.enip import _codes as C
from cranewatch.protocols.enip._epath import Path, parse_path
from cranewatch.protocols.enip._wire import Reader, WireError, short_string

MAX_DEPTH = 4  # nesting levels decoded below the outermost message
MAX_NESTED = 256  # services in one Multiple Service Packet

#: (attribute, value, confidence, about) for an IdentityFact.
Fact = tuple[str, str, float, str]


@dataclass(slots=True)
class ReqInfo:
    """What a response needs to know about its request (kept in the per-flow state)."""

    service: int
    class_id: int | None
    instance_id: int | None
    attribute_id: int | None
    symbolic: bool
    target: str | None = None
    attributes: tuple[int, ...] = ()
    nested: list[ReqInfo | None] = field(default_factory=list)


@dataclass(slots=True)
class Message:
    """One CIP service request or response (nested ones are in ``nested``, in wire order)."""

    service: int  # without the response bit
    response: bool
    name: str
    path: Path | None = None
    status: int | None = None
    ext_status: tuple[int, ...] = ()
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    nested: list[Message] = field(default_factory=list)
    info: ReqInfo | None = None  # requests only
    error: str | None = None

    def walk(self) -> list[Message]:
        """This message and every nested one, depth first, in wire order."""
        out = [self]
        for m in self.nested:
            out.extend(m.walk())
        return out


def service_name(service: int, class_id: int | None, symbolic: bool) -> tuple[str, bool]:
    """Name of a service code for the addressed class; True when guessed (class unknown)."""
    if service in C.COMMON_SERVICES:
        return C.COMMON_SERVICES[service], False
    table: dict[int, str] | None = None
    if class_id == C.CLASS_CONNECTION_MANAGER:
        table = C.CONNECTION_MANAGER_SERVICES
    elif class_id == C.CLASS_FILE:
        table = C.FILE_SERVICES
    elif class_id == C.CLASS_PCCC:
        table = C.PCCC_SERVICES
    elif symbolic or class_id in (C.CLASS_SYMBOL, C.CLASS_TEMPLATE):
        table = C.LOGIX_SERVICES
    if table is not None:
        return table.get(service, f"service_0x{service:02x}"), False
    if class_id is None:  # a response whose request was not seen: the likeliest meaning
        for candidates in (C.LOGIX_SERVICES, C.CONNECTION_MANAGER_SERVICES, C.PCCC_SERVICES,
                           C.FILE_SERVICES):  # fmt: skip
            if service in candidates:
                return candidates[service], True
    return f"service_0x{service:02x}", False


# -- messages ---------------------------------------------------------------------------------
def parse_message(data: bytes, req: ReqInfo | None = None, depth: int = 0) -> Message:
    """Decode one CIP message. A request carries its :class:`ReqInfo` in ``info``; a response
    is named and decoded with the ``req`` of its request when that is known."""
    r = Reader(data)
    first = r.u8()
    service = first & 0x7F
    if first & 0x80:
        return _response(r, service, req, depth)
    return _request(r, service, depth)


def _request(r: Reader, service: int, depth: int) -> Message:
    path = parse_path(r.take(2 * r.u8()))
    name, _ = service_name(service, path.class_id, bool(path.symbol))
    msg = Message(service, False, name, path=path, target=path.text())
    msg.info = ReqInfo(service, path.class_id, path.instance_id, path.attribute_id,
                       bool(path.symbol))  # fmt: skip
    body = Reader(r.rest())
    try:
        _request_body(msg, body, depth)
    except WireError as exc:
        msg.error = f"{name}: {exc}"
    msg.info.target = msg.target
    return msg


def _request_body(msg: Message, r: Reader, depth: int) -> None:
    name, d = msg.name, msg.detail
    assert msg.info is not None
    if name == "multiple_service_packet":
        msg.nested, msg.error = _packet_list(r, depth)
        msg.info.nested = [m.info for m in msg.nested]
    elif name == "unconnected_send":
        d["priority_time_tick"], d["timeout_ticks"] = r.u8(), r.u8()
        size = r.u16()
        embedded = r.take(size)
        if size & 1:
            r.u8()
        route = parse_path(r.take(_route_len(r)))
        d["route"] = [list(x) for x in route.route]
        via = ", ".join(f"port {p} link {a}" for p, a in route.route)
        msg.target = f"route {via}" if via else None
        msg.nested.append(_nested(embedded, None, depth))
        msg.info.nested = [msg.nested[0].info]
    elif name in ("forward_open", "large_forward_open"):
        _forward_open(msg, r, large=name == "large_forward_open")
    elif name == "forward_close":
        d["priority_time_tick"], d["timeout_ticks"] = r.u8(), r.u8()
        d["connection_serial"], d["originator_vendor_id"] = r.u16(), r.u16()
        d["originator_serial"] = r.u32()
        words = r.u8()
        r.u8()
        conn = parse_path(r.take(2 * words))
        msg.target = conn.text()
    elif name == "get_attribute_list":
        count = r.u16()
        attrs = tuple(r.u16() for _ in range(min(count, 255)))
        msg.info.attributes = attrs
        d["attributes"] = list(attrs)
    elif name == "set_attribute_list":
        d["attribute_count"] = r.u16()
    elif name == "reset" and r.left:
        kind = r.u8()
        d["reset_type"] = C.RESET_TYPES.get(kind, str(kind))
    elif name == "read_tag":
        d["elements"] = r.u16()
    elif name == "read_tag_fragmented":
        d["elements"], d["offset"] = r.u16(), r.u32()
    elif name in ("write_tag", "write_tag_fragmented", "read_modify_write_tag"):
        if name == "read_modify_write_tag":
            d["mask_size"] = r.u16()
            return
        dtype = r.u16()
        if dtype == 0x02A0:
            d["structure_handle"] = r.u16()
        d["data_type"], d["elements"] = dtype, r.u16()
        if name == "write_tag_fragmented":
            d["offset"] = r.u32()
        d["data_bytes"] = r.left


def _route_len(r: Reader) -> int:
    words = r.u8()
    r.u8()  # reserved
    return 2 * words


def _forward_open(msg: Message, r: Reader, large: bool) -> None:
    d = msg.detail
    d["priority_time_tick"], d["timeout_ticks"] = r.u8(), r.u8()
    d["o_t_connection_id"], d["t_o_connection_id"] = r.u32(), r.u32()
    d["connection_serial"], vendor, serial = r.u16(), r.u16(), r.u32()
    d["originator_vendor_id"], d["originator_serial"] = vendor, serial
    d["timeout_multiplier"] = r.u8()
    r.take(3)
    d["o_t_rpi_us"] = r.u32()
    o_t = r.u32() if large else r.u16()
    d["t_o_rpi_us"] = r.u32()
    t_o = r.u32() if large else r.u16()
    size_mask, type_shift = (0xFFFF, 29) if large else (0x01FF, 13)
    d["o_t_size"], d["t_o_size"] = o_t & size_mask, t_o & size_mask
    types = ("null", "multicast", "point_to_point", "reserved")
    d["o_t_type"], d["t_o_type"] = types[(o_t >> type_shift) & 3], types[(t_o >> type_shift) & 3]
    trigger = r.u8()
    d["transport_class"] = trigger & 0x0F
    conn = parse_path(r.take(2 * r.u8()))
    msg.target = conn.text()
    if vendor:
        msg.facts.append(("vendor_id", str(vendor), 0.5, "sender"))
        msg.facts.append(("serial", f"0x{serial:08x}", 0.5, "sender"))
    key = conn.key
    if key is not None:
        d["electronic_key"] = {"vendor_id": key.vendor_id, "device_type": key.device_type,
                               "product_code": key.product_code,
                               "revision": f"{key.major}.{key.minor}"}  # fmt: skip
        if key.vendor_id:
            msg.facts.append(("vendor_id", str(key.vendor_id), 0.5, "receiver"))
        if key.product_code:
            msg.facts.append(("product_code", str(key.product_code), 0.5, "receiver"))
        if key.major:
            msg.facts.append(("firmware", f"{key.major}.{key.minor}", 0.5, "receiver"))


def _packet_list(
    r: Reader, depth: int, reqs: list[ReqInfo | None] | None = None
) -> tuple[list[Message], str | None]:
    """The services of a Multiple Service Packet (request or response body), and why some
    could not be located (an offset outside the packet)."""
    if depth >= MAX_DEPTH:
        raise WireError("nesting too deep")
    base = r.pos
    count = r.u16()
    if count > MAX_NESTED:
        raise WireError(f"{count} services in one packet")
    offsets = [r.u16() for _ in range(count)]
    body_end = r.end
    out: list[Message] = []
    bad = []
    for i, off in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < count else body_end - base
        if off < 2 + 2 * count or base + end > body_end or end <= off:
            bad.append(str(i + 1))
            continue
        req = reqs[i] if reqs is not None and i < len(reqs) else None
        out.append(_nested(r.buf[base + off : base + end], req, depth))
    error = f"multiple_service_packet: service {', '.join(bad)} outside the packet" if bad else None
    return out, error


def _nested(data: bytes, req: ReqInfo | None, depth: int) -> Message:
    if depth + 1 > MAX_DEPTH:
        raise WireError("nesting too deep")
    try:
        return parse_message(data, req, depth + 1)
    except WireError as exc:
        if not data:
            raise
        return _broken(f"embedded message: {exc}", data)


def _broken(reason: str, data: bytes) -> Message:
    """A nested message that could not be decoded: still counted under its service code."""
    service = data[0] & 0x7F
    name = C.COMMON_SERVICES.get(service, f"service_0x{service:02x}")
    msg = Message(service, bool(data[0] & 0x80), name)
    msg.error = reason
    return msg


def _response(r: Reader, service: int, req: ReqInfo | None, depth: int) -> Message:
    r.u8()  # reserved
    status = r.u8()
    ext = tuple(r.u16() for _ in range(r.u8()))
    if req is not None and req.service != service:
        req = None
    class_id = req.class_id if req else None
    name, guessed = service_name(service, class_id, req.symbolic if req else False)
    msg = Message(service, True, name, status=status, ext_status=ext)
    msg.target = req.target if req else None
    if guessed:
        msg.detail["name_guessed"] = True
    body = Reader(r.rest())
    try:
        _response_body(msg, body, req, depth)
    except WireError as exc:
        msg.error = f"{name}: {exc}"
    return msg


def _response_body(msg: Message, r: Reader, req: ReqInfo | None, depth: int) -> None:
    name, status = msg.name, msg.status
    if name == "multiple_service_packet" and r.left >= 2:
        reqs = req.nested if req else None
        msg.nested, msg.error = _packet_list(r, depth, reqs)
        return
    if status != 0 or req is None:
        if name in ("forward_open", "large_forward_open") and status and r.left >= 8:
            msg.detail["connection_serial"] = r.u16()
            msg.detail["originator_vendor_id"], msg.detail["originator_serial"] = r.u16(), r.u32()
        return
    if name in ("forward_open", "large_forward_open"):
        d = msg.detail
        d["o_t_connection_id"], d["t_o_connection_id"] = r.u32(), r.u32()
        d["connection_serial"], d["originator_vendor_id"] = r.u16(), r.u16()
        d["originator_serial"], d["o_t_api_us"], d["t_o_api_us"] = r.u32(), r.u32(), r.u32()
    elif req.class_id == C.CLASS_IDENTITY:
        if name == "get_attributes_all":
            msg.facts.extend(_identity_all(r))
        elif name == "get_attribute_single" and req.attribute_id is not None:
            msg.facts.extend(_identity_attribute(req.attribute_id, r) or [])
        elif name == "get_attribute_list":
            count = r.u16()
            for _ in range(min(count, len(req.attributes))):
                attr, attr_status = r.u16(), r.u16()
                if attr_status != 0:
                    continue
                facts = _identity_attribute(attr, r)
                if facts is None:
                    break  # an attribute whose size we do not know: the rest is unreadable
                msg.facts.extend(facts)
    elif name == "get_attribute_single" and req.attribute_id is not None:
        if req.class_id == C.CLASS_TCPIP and req.attribute_id == 6:
            host = r.take(r.u16()).decode("latin-1")
            if host:
                msg.facts.append(("hostname", host, 1.0, "sender"))
        elif req.class_id == C.CLASS_ETHERNET_LINK and req.attribute_id == 3:
            mac = r.take(6)
            msg.facts.append(("mac_address", ":".join(f"{b:02x}" for b in mac), 1.0, "sender"))


def identity_facts(vendor: int, device_type: int, product_code: int, revision: tuple[int, int],
                   serial: int, product_name: str) -> list[Fact]:  # fmt: skip
    """Identity facts of the Identity object's first seven attributes, about the sender."""
    role = C.DEVICE_TYPES.get(device_type, f"device type {device_type}")
    facts: list[Fact] = [
        ("vendor_id", str(vendor), 1.0, "sender"),
        ("device_role", role, 1.0, "sender"),
        ("product_code", str(product_code), 1.0, "sender"),
        ("firmware", f"{revision[0]}.{revision[1]}", 1.0, "sender"),
        ("serial", f"0x{serial:08x}", 1.0, "sender"),
    ]
    if product_name:
        facts.append(("product_name", product_name, 1.0, "sender"))
    return facts


def _identity_all(r: Reader) -> list[Fact]:
    vendor, dtype, product = r.u16(), r.u16(), r.u16()
    revision = (r.u8(), r.u8())
    r.u16()  # status
    serial = r.u32()
    return identity_facts(vendor, dtype, product, revision, serial, short_string(r))


def _identity_attribute(attr: int, r: Reader) -> list[Fact] | None:
    """Facts of one Identity object attribute value (Get_Attribute_Single/List), reading past
    it; None for an attribute whose size is not known here."""
    if attr == 1:
        return [("vendor_id", str(r.u16()), 1.0, "sender")]
    if attr == 2:
        dtype = r.u16()
        return [("device_role", C.DEVICE_TYPES.get(dtype, f"device type {dtype}"), 1.0, "sender")]
    if attr == 3:
        return [("product_code", str(r.u16()), 1.0, "sender")]
    if attr == 4:
        major, minor = r.u8(), r.u8()
        return [("firmware", f"{major}.{minor}", 1.0, "sender")]
    if attr == 6:
        return [("serial", f"0x{r.u32():08x}", 1.0, "sender")]
    if attr == 7:
        name = short_string(r)
        return [("product_name", name, 1.0, "sender")] if name else []
    sizes = {5: 2, 8: 1, 9: 2, 10: 1}  # status, state, configuration consistency, heartbeat
    if attr in sizes:
        r.take(sizes[attr])
        return []
    return None
