"""BACnet service parameters: the object a service addresses, and what devices say of
themselves.

Decodes the parameters of the services named in clauses 13 to 17 of ANSI/ASHRAE 135-2020
far enough to give each operation a target (object, property, array index; file; device
range; reinitialization or communication state) and to collect identity: I-Am (device
instance, vendor id), I-Have, Who-Am-I (vendor id, model, serial number) and the device
object's identifying properties (vendor-name, model-name, firmware-revision,
application-software-version, serial-number, object-name) in ReadProperty and
ReadPropertyMultiple acknowledgements. Values are read from the tag encoding of clause 20.2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cranewatch.protocols.bacnet import _codes as C
from cranewatch.protocols.bacnet._wire import (
    Apdu,
    Element,
    character_string,
    elements,
    elements_until_error,
    object_id,
    read_tag,
    unsigned,
)

#: (attribute, value, confidence, about) for an IdentityFact.
Fact = tuple[str, str, float, str]


@dataclass(slots=True)
class Decoded:
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    exception: int | None = None
    error: str | None = None  # parameters after a malformed tag were not read


def _ctx(els: list[Element], number: int) -> Element | None:
    for el in els:
        if el.tag.context and el.tag.number == number:
            return el
    return None


def _app(els: list[Element], number: int, nth: int = 0) -> Element | None:
    for el in els:
        if not el.tag.context and el.tag.number == number and el.tag.kind == "value":
            if nth == 0:
                return el
            nth -= 1
    return None


def _uint(buf: bytes, el: Element | None) -> int | None:
    return None if el is None or el.constructed else unsigned(buf[el.start : el.end])


def _oid(buf: bytes, el: Element | None) -> tuple[int, int] | None:
    return None if el is None or el.constructed else object_id(buf[el.start : el.end])


def _object_text(buf: bytes, el: Element | None) -> str | None:
    oid = _oid(buf, el)
    return None if oid is None else C.object_name(*oid)


def _property_ref(buf: bytes, els: list[Element], obj: int, prop: int, idx: int) -> str | None:
    """ "analog-output 101 present-value[3]" from the object, property and index elements."""
    text = _object_text(buf, _ctx(els, obj))
    prop_id = _uint(buf, _ctx(els, prop))
    if prop_id is not None:
        text = f"{text} {C.property_name(prop_id)}" if text else C.property_name(prop_id)
        index = _uint(buf, _ctx(els, idx))
        if index is not None:
            text += f"[{index}]"
    return text


def _first_value(buf: bytes, start: int, end: int) -> tuple[int, bytes] | None:
    """The first application-tagged primitive inside a constructed value."""
    pos = start
    while pos < end:
        tag, nxt = read_tag(buf, pos, end)
        if tag.kind == "value" and not tag.context:
            return tag.number, tag.value(buf)
        pos = nxt
    return None


def _device_fact(prop: int, buf: bytes, start: int, end: int, confidence: float) -> Fact | None:
    """An identity fact from the value of a device object property, if it is one."""
    attribute = C.DEVICE_IDENTITY_PROPERTIES.get(prop)
    if attribute is None:
        return None
    found = _first_value(buf, start, end)
    if found is None:
        return None
    tag, data = found
    if tag == 7:
        value = character_string(data).strip("\0 ")
    elif tag == 2:
        value = str(unsigned(data))
    else:
        return None
    return (attribute, value, confidence, "sender") if value else None


# -- confirmed requests -----------------------------------------------------------------------
def _object_property(buf: bytes, els: list[Element], out: Decoded) -> None:
    out.target = _property_ref(buf, els, 0, 1, 2)


def _write_property(buf: bytes, els: list[Element], out: Decoded) -> None:
    out.target = _property_ref(buf, els, 0, 1, 2)
    priority = _uint(buf, _ctx(els, 4))
    if priority is not None:
        out.detail["priority"] = priority


def _multiple(buf: bytes, els: list[Element], out: Decoded) -> None:
    """ReadPropertyMultiple / WritePropertyMultiple: the first object and how many."""
    objects = [el for el in els if el.tag.context and el.tag.number == 0]
    if objects:
        out.target = _object_text(buf, objects[0])
        if len(objects) > 1:
            out.target = f"{out.target} (+{len(objects) - 1} objects)"
        out.detail["objects"] = len(objects)


def _subscribe(buf: bytes, els: list[Element], out: Decoded) -> None:
    out.target = _object_text(buf, _ctx(els, 1))


def _file_access(buf: bytes, els: list[Element], out: Decoded) -> None:
    out.target = _object_text(buf, _app(els, 12))
    for number, access in ((0, "stream"), (1, "record")):
        el = _ctx(els, number)
        if el is not None and el.constructed:
            out.detail["access"] = access
            inner = elements(buf, el.start, el.end)
            if inner and not inner[0].tag.context:
                out.detail["start"] = int.from_bytes(buf[inner[0].start : inner[0].end], "big",
                                                     signed=True)  # fmt: skip
            octets = _app(inner, 6)
            if octets is not None:
                out.detail["data_bytes"] = octets.end - octets.start


def _create_object(buf: bytes, els: list[Element], out: Decoded) -> None:
    spec = _ctx(els, 0)
    if spec is not None and spec.constructed:
        inner = elements(buf, spec.start, spec.end)
        kind = _uint(buf, _ctx(inner, 0))
        out.target = (_object_text(buf, _ctx(inner, 1)) if kind is None
                      else C.name_of(C.OBJECT_TYPES, kind, "object-type"))  # fmt: skip


def _delete_object(buf: bytes, els: list[Element], out: Decoded) -> None:
    out.target = _object_text(buf, _app(els, 12))


def _device_control(buf: bytes, els: list[Element], out: Decoded) -> None:
    """DeviceCommunicationControl: [0] duration, [1] enable-disable, [2] password."""
    state = _uint(buf, _ctx(els, 1))
    if state is not None:
        out.target = C.name_of(C.COMMUNICATION_STATES, state, "state")
    duration = _uint(buf, _ctx(els, 0))
    if duration is not None:
        out.detail["duration_min"] = duration
    out.detail["password"] = _password(buf, _ctx(els, 2))


def _password(buf: bytes, el: Element | None) -> bool:
    """Whether a non-empty password was sent (its value is never kept)."""
    return el is not None and not el.constructed and bool(character_string(buf[el.start : el.end]))


def _reinitialize(buf: bytes, els: list[Element], out: Decoded) -> None:
    state = _uint(buf, _ctx(els, 0))
    if state is not None:
        out.target = C.name_of(C.REINITIALIZED_STATES, state, "state")
    out.detail["password"] = _password(buf, _ctx(els, 1))


def _private_transfer(buf: bytes, els: list[Element], out: Decoded) -> None:
    vendor, number = _uint(buf, _ctx(els, 0)), _uint(buf, _ctx(els, 1))
    if vendor is not None:
        out.target = f"vendor {vendor} service {number}"


def _notification(buf: bytes, els: list[Element], out: Decoded) -> None:
    """COV and event notifications: [1] initiating device, [2] monitored / event object."""
    out.target = _object_text(buf, _ctx(els, 2))
    device = _oid(buf, _ctx(els, 1))
    if device is not None and device[0] == C.OBJECT_DEVICE:
        out.facts.append(("device_id", str(device[1]), 0.9, "sender"))


def _life_safety(buf: bytes, els: list[Element], out: Decoded) -> None:
    out.target = _object_text(buf, _ctx(els, 3))


# -- unconfirmed requests ---------------------------------------------------------------------
def _i_am(buf: bytes, els: list[Element], out: Decoded) -> None:
    """I-Am: device identifier, max APDU, segmentation, vendor identifier (all application)."""
    device = _oid(buf, _app(els, 12))
    vendor = _uint(buf, _app(els, 2, 1))
    if device is not None:
        out.target = C.object_name(*device)
        out.facts.append(("device_id", str(device[1]), 1.0, "sender"))
    if vendor is not None:
        out.facts.append(("vendor_id", str(vendor), 1.0, "sender"))
        out.detail["vendor_id"] = vendor


def _i_have(buf: bytes, els: list[Element], out: Decoded) -> None:
    device = _oid(buf, _app(els, 12))
    out.target = _object_text(buf, _app(els, 12, 1))
    if device is not None:
        out.facts.append(("device_id", str(device[1]), 1.0, "sender"))


def _who_is(buf: bytes, els: list[Element], out: Decoded) -> None:
    low, high = _uint(buf, _ctx(els, 0)), _uint(buf, _ctx(els, 1))
    if low is not None and high is not None:
        out.target = f"devices {low}-{high}"
        out.detail["range"] = [low, high]


def _who_has(buf: bytes, els: list[Element], out: Decoded) -> None:
    name = _ctx(els, 3)
    if name is not None and not name.constructed:
        out.target = f"name {character_string(buf[name.start : name.end])!r}"
    else:
        out.target = _object_text(buf, _ctx(els, 2))


def _who_am_i(buf: bytes, els: list[Element], out: Decoded) -> None:
    """Who-Am-I: vendor identifier, model name, serial number of the device asking."""
    vendor = _uint(buf, _app(els, 2))
    model, serial = _app(els, 7), _app(els, 7, 1)
    if vendor is not None:
        out.facts.append(("vendor_id", str(vendor), 1.0, "sender"))
    for attribute, el in (("model", model), ("serial", serial)):
        if el is not None and (text := character_string(buf[el.start : el.end])):
            out.facts.append((attribute, text, 1.0, "sender"))


def _write_group(buf: bytes, els: list[Element], out: Decoded) -> None:
    group = _uint(buf, _ctx(els, 0))
    if group is not None:
        out.target = f"group {group}"


# -- acknowledgements -------------------------------------------------------------------------
def _read_property_ack(buf: bytes, els: list[Element], out: Decoded, confidence: float) -> None:
    out.target = _property_ref(buf, els, 0, 1, 2)
    oid, prop, value = _oid(buf, _ctx(els, 0)), _uint(buf, _ctx(els, 1)), _ctx(els, 3)
    if oid and oid[0] == C.OBJECT_DEVICE and prop is not None and value and value.constructed:
        fact = _device_fact(prop, buf, value.start, value.end, confidence)
        if fact is not None:
            out.facts.append(fact)
        if fact is not None or prop == C.PROP_OBJECT_IDENTIFIER:
            out.facts.append(("device_id", str(oid[1]), confidence, "sender"))


def _rpm_ack(buf: bytes, els: list[Element], out: Decoded, confidence: float) -> None:
    """ReadPropertyMultiple-ACK: ([0] object, [1] ([2] property, [3] index, [4] value |
    [5] error)...)..."""
    _multiple(buf, els, out)
    current: tuple[int, int] | None = None
    for el in els:
        if el.tag.context and el.tag.number == 0:
            current = _oid(buf, el)
        elif el.tag.context and el.tag.number == 1 and el.constructed and current:
            if current[0] != C.OBJECT_DEVICE:
                continue
            prop = None
            for item in elements(buf, el.start, el.end):
                if item.tag.number == 2 and not item.constructed:
                    prop = unsigned(buf[item.start : item.end])
                elif item.tag.number == 4 and item.constructed and prop is not None:
                    fact = _device_fact(prop, buf, item.start, item.end, confidence)
                    if fact is not None:
                        out.facts.append(fact)
                        out.facts.append(("device_id", str(current[1]), confidence, "sender"))


def _error(buf: bytes, pos: int, end: int, out: Decoded) -> None:
    """Error PDU: the first error class and code (application enumerated), wherever the
    service nests them."""
    found: list[int] = []
    while pos < end and len(found) < 2:
        tag, nxt = read_tag(buf, pos, end)
        if tag.kind == "value" and not tag.context and tag.number == 9:
            found.append(unsigned(tag.value(buf)))
        pos = nxt
    if len(found) == 2:
        out.detail["error_class"] = C.name_of(C.ERROR_CLASSES, found[0], "error-class")
        out.detail["error_code"] = C.name_of(C.ERROR_CODES, found[1], "error-code")
        out.exception = found[1]


Decoder = Callable[[bytes, list[Element], Decoded], None]
CONFIRMED: dict[int, Decoder] = {
    0: lambda b, e, o: setattr(o, "target", _object_text(b, _ctx(e, 1))),
    1: _notification,
    2: _notification,
    5: _subscribe,
    6: _file_access,
    7: _file_access,
    8: _object_property,
    9: _object_property,
    10: _create_object,
    11: _delete_object,
    12: _object_property,
    14: _multiple,
    15: _write_property,
    16: _multiple,
    17: _device_control,
    18: _private_transfer,
    20: _reinitialize,
    26: _object_property,
    27: _life_safety,
    28: _subscribe,
}
UNCONFIRMED: dict[int, Decoder] = {
    0: _i_am,
    1: _i_have,
    2: _notification,
    3: _notification,
    4: _private_transfer,
    7: _who_has,
    8: _who_is,
    10: _write_group,
    13: _who_am_i,
}


def decode(apdu: Apdu, buf: bytes, confidence: float = 1.0) -> Decoded:
    """Target, detail and identity facts of one APDU's service parameters."""
    out = Decoded()
    pos, end = apdu.body, len(buf)
    service = apdu.service
    if apdu.pdu_type == 5:
        _error(buf, pos, end, out)
        return out
    if service is None:
        return out
    els, out.error = elements_until_error(buf, pos, end)
    if apdu.pdu_type == 0 and service in CONFIRMED:
        CONFIRMED[service](buf, els, out)
    elif apdu.pdu_type == 1 and service in UNCONFIRMED:
        UNCONFIRMED[service](buf, els, out)
    elif apdu.pdu_type == 3:
        if service == 12:
            _read_property_ack(buf, els, out, confidence)
        elif service == 14:
            _rpm_ack(buf, els, out, confidence)
        elif service == 10:
            out.target = _object_text(buf, _app(els, 12))
        elif service == 6:
            _file_access(buf, els, out)
    return out
