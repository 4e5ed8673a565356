"""CycloneDX components to cranewatch components: devices with their firmware, the rest reported.

A ``device`` becomes one Component; its nested ``firmware`` gives the firmware version and
SHA-256; nested devices (sub-assemblies) become components of their own. A top-level ``firmware``
is attached to the device its ``cranewatch:device`` property or a dependency names. Everything
else (applications, operating systems, libraries, a second firmware of one device, a firmware
that names no device) cannot be represented by a Component and is returned as a skip with the
reason, never dropped silently. Invalid values (a bad MAC, an IMEI with a wrong check digit) are
collected as Problems located by JSON pointer and raised together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cyclonedx.model import HashAlgorithm
from cyclonedx.model.component import ComponentType
from pydantic import ValidationError

from cranewatch.fleet import _cdx_doc
from cranewatch.fleet._cdx_doc import Node
from cranewatch.fleet._cdx_props import FieldValues, gather
from cranewatch.fleet.model import Component
from cranewatch.fleet.problems import FleetInputError, Problem, display

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)*$")
_NOT_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class BomReadResult:
    """What one CycloneDX file gave: components (local ids), and what could not be kept, why."""

    components: list[Component]
    skipped: list[str] = field(default_factory=list)
    spec_version: str = ""
    format: Literal["json", "xml"] = "json"


def read_bom(path: Path) -> BomReadResult:
    """Read the devices of a CycloneDX JSON or XML BOM; raise FleetInputError on any mistake."""
    name = display(path)
    document = _cdx_doc.load(path)
    problems = list(document.problems)
    skipped: list[str] = []
    devices, loose_firmware = _sort_nodes(document.components, skipped)
    attached = _attach_top_level_firmware(devices, loose_firmware, document.dependencies, skipped)
    components: list[Component] = []
    taken: dict[str, str] = {}
    reserved = {
        (value or "").strip()
        for device in devices
        for name_, value, _ in device.properties
        if name_ == "cranewatch:local-id"
    }
    for index, device in enumerate(devices, start=1):
        built = _component(
            device, attached.get(id(device)), index, path, taken, reserved, problems, skipped
        )
        if built is not None:
            components.append(built)
    if problems:
        raise FleetInputError([_named(p, name) for p in problems])
    return BomReadResult(components, skipped, document.spec_version, document.format)


def _named(problem: Problem, name: str) -> Problem:
    return problem if problem.file else Problem(name, problem.line, problem.field, problem.message)


def _label(node: Node) -> str:
    text = " ".join(x for x in (node.component.name, node.component.version) if x)
    return f"{node.component.type.value} {text!r}"


def _sort_nodes(top: list[Node], skipped: list[str]) -> tuple[list[Node], list[Node]]:
    """Devices (nested ones flattened, in document order) and top-level firmware."""
    devices: list[Node] = []
    firmware: list[Node] = []
    top_level = {id(node) for node in top}
    pending = list(reversed(top))
    while pending:
        node = pending.pop()
        kind = node.component.type
        if kind is ComponentType.DEVICE:
            devices.append(node)
            pending.extend(reversed([c for c in node.children if c.component.type is kind]))
        elif kind is ComponentType.FIRMWARE and id(node) in top_level:
            firmware.append(node)
        else:
            skipped.append(f"{node.where}: {_label(node)} is not a device; not imported")
    return devices, firmware


def _attach_top_level_firmware(
    devices: list[Node],
    firmware: list[Node],
    dependencies: set[tuple[str, str]],
    skipped: list[str],
) -> dict[int, Node]:
    """Map id(device node) to the firmware node that describes it (nested first)."""
    by_ref = {str(d.component.bom_ref.value): d for d in devices if d.component.bom_ref.value}
    chosen: dict[int, Node] = {}
    for device in devices:
        nested = [c for c in device.children if c.component.type is ComponentType.FIRMWARE]
        others = [
            c
            for c in device.children
            if c.component.type not in (ComponentType.FIRMWARE, ComponentType.DEVICE)
        ]
        if nested:
            chosen[id(device)] = nested[0]
        for extra in nested[1:]:
            skipped.append(f"{extra.where}: a second firmware of one device; not imported")
        for other in others:
            skipped.append(
                f"{other.where}: {_label(other)} on a device is not kept "
                "(a cranewatch component carries its firmware only)"
            )
    linked: dict[str, list[str]] = {}
    for a, b in dependencies:
        linked.setdefault(a, []).append(b)
        linked.setdefault(b, []).append(a)
    for node in firmware:
        ref = str(node.component.bom_ref.value or "")
        named = gather(iter(node.properties)).device_ref
        targets = [named] if named else linked.get(ref, [])
        target = next((by_ref[t] for t in targets if t in by_ref), None)
        if target is None:
            skipped.append(f"{node.where}: {_label(node)} names no device; not imported")
        elif id(target) in chosen:
            skipped.append(f"{node.where}: {_label(node)}: its device already has a firmware")
        else:
            chosen[id(target)] = node
    return chosen


def _component(
    node: Node,
    firmware: Node | None,
    index: int,
    path: Path,
    taken: dict[str, str],
    reserved: set[str],
    problems: list[Problem],
    skipped: list[str],
) -> Component | None:
    found = gather(iter(node.properties))
    problems += [Problem("", None, where, message) for where, message in found.problems]
    skipped += [f"{where}: unknown property {name}; ignored" for name, where in found.unknown]
    cdx = node.component
    data: dict[str, Any] = {}
    where: dict[str, str] = {}

    def put(name: str, value: object, at: str) -> None:
        if value not in (None, ""):
            data[name] = value
            where[name] = at

    scalar = {k: v for k, v in found.scalar.items() if not k.startswith("source.")}
    manufacturer = cdx.manufacturer.name if cdx.manufacturer else None
    supplier = cdx.supplier.name if cdx.supplier else None
    put("manufacturer", manufacturer or supplier or cdx.publisher, node.where)
    put("model", cdx.name, f"{node.where}/name")
    put("hardware_version", cdx.version, f"{node.where}/version")
    put("supplier", supplier, f"{node.where}/supplier")
    for name, (value, at) in found.fallback.items():
        put(name, value, at)
    for name, (value, at) in scalar.items():
        data.pop(name, None)  # our own property wins, and an empty one means "unknown"
        put(name, value, at)
    for name, values in found.lists.items():
        data[name] = list(values)
    if found.cellular:
        cellular = {k: v for k, (v, _) in found.cellular.items() if v}
        data.setdefault("capabilities", []).append({"type": "cellular", **cellular})
        found.list_where.setdefault("capabilities", []).append(
            next(iter(found.cellular.values()))[1]
        )
    if firmware is not None:
        put("firmware_version", firmware.component.version, f"{firmware.where}/version")
        for digest in firmware.component.hashes:
            if digest.alg is HashAlgorithm.SHA_256:
                put("firmware_sha256", digest.content, f"{firmware.where}/hashes")
                break
    data["source"] = _source(found, path)
    where["source"] = next(
        (at for k, (_, at) in found.scalar.items() if k.startswith("source.")), node.where
    )
    ref = str(cdx.bom_ref.value) if cdx.bom_ref.value else None
    data["id"] = _component_id(data, ref, index, node.where, taken, reserved, problems)
    if "bom_ref" not in found.scalar and ref is not None and ref != data["id"]:
        data["bom_ref"] = ref
    try:
        return Component.model_validate(data)
    except ValidationError as exc:
        problems += _locate(exc, node.where, where, found)
        return None


def _source(found: FieldValues, path: Path) -> dict[str, Any]:
    values = {
        k.removeprefix("source."): v
        for k, (v, _) in found.scalar.items()
        if k.startswith("source.")
    }
    source = {k: values[k] for k in ("kind", "document", "date") if values.get(k)}
    if "kind" not in source:
        return {
            "kind": "import",
            "document": source.get("document", path.name),
            **({"date": source["date"]} if "date" in source else {}),
        }
    return source


def _component_id(
    data: dict[str, Any],
    ref: str | None,
    index: int,
    where: str,
    taken: dict[str, str],
    reserved: set[str],
    problems: list[Problem],
) -> str:
    """The given local id, else one from the bom-ref (last part first), else maker-model-index.

    ``taken`` maps ids already used to where; ``reserved`` holds every explicit local id of the
    document, so a generated id never takes one a later component names.
    """
    given = data.get("id")
    if given is not None:
        if not _ID.match(given):
            problems.append(
                Problem(
                    "",
                    None,
                    where,
                    f"cranewatch:local-id {given!r}: expected letters, "
                    "digits, '.', '_' or '-' (full ids: parts joined by '/')",
                )
            )
        elif given in taken:
            problems.append(
                Problem("", None, where, f"component id {given!r} is also used at {taken[given]}")
            )
        taken.setdefault(given, where)
        return str(given)
    fallback = f"{data.get('manufacturer') or ''}-{data.get('model') or 'device'}-{index}"
    wishes = [_sanitise(re.split(r"[/:#]", ref)[-1]), _sanitise(ref)] if ref else []
    wishes = [w for w in wishes if w] + [_sanitise(fallback) or f"device-{index}"]
    candidate = next((w for w in wishes if w not in taken and w not in reserved), wishes[-1])
    base, count = candidate, 1
    while candidate in taken or candidate in reserved:
        count += 1
        candidate = f"{base}-{count}"
    taken[candidate] = where
    return candidate


def _sanitise(text: str) -> str:
    cleaned = _NOT_ID.sub("-", text).strip("-._")
    return cleaned[:100].rstrip("-._")


def _locate(
    exc: ValidationError, node_where: str, where: dict[str, str], found: FieldValues
) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors():
        loc = error["loc"]
        name = str(loc[0]) if loc else ""
        at = where.get(name, node_where)
        if len(loc) > 1 and isinstance(loc[1], int) and name in found.list_where:
            items = found.list_where[name]
            at = items[loc[1]] if loc[1] < len(items) else at
        detail = ".".join(str(part) for part in loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        shown = f" (got {str(value)[:60]!r})" if isinstance(value, str | int | float) else ""
        problems.append(Problem("", None, at, f"{detail}: {message}{shown}"))
    return problems
