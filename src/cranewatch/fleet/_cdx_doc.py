"""Open a CycloneDX file safely: size cap, JSON or XML by content, schema validation, raw nodes.

The whole document is first checked against the schema of its own spec version (XML by the
library's validator, JSON by ``_cdx_schema``: the library's schema with a linear uniqueItems), so
a malformed BOM is reported with the JSON path or XML line of each mistake instead of failing
somewhere inside deserialisation. XML is parsed with defusedxml
(no DTD, no entities, no network) before lxml validates it with the library's safe parser.

Each component is then deserialised on its own by the library (``Component.from_json`` /
``Component.from_xml``, children left out), because the library keeps components, properties and
dependencies in sorted sets: reading node by node keeps the document order (the order of a
device's MAC addresses, of the components in the file) and a JSON pointer for every problem.
Properties and dependency refs are read from the raw nodes for the same reason: they are plain
name/value pairs the schema has already checked.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import Element, ParseError

from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_xml

from cranewatch.fleet._cdx_schema import json_schema_errors
from cranewatch.fleet.problems import FleetInputError, Problem, display

MAX_BOM_BYTES = 100 * 1024 * 1024
SUPPORTED = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")  # firmware exists since 1.2
_XML_NS = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")
_MAX_SCHEMA_PROBLEMS = 50
_LIBRARY: Any = CdxComponent  # from_json / from_xml are added by the library's decorator


@dataclass
class Node:
    """One raw component of the document, deserialised by the library without its children."""

    where: str  # JSON pointer, or an XPath-like path for XML
    component: CdxComponent
    properties: list[tuple[str, str | None, str]]  # name, value, where
    children: list[Node] = field(default_factory=list)


@dataclass
class Document:
    format: Literal["json", "xml"]
    spec_version: str
    components: list[Node]
    dependencies: set[tuple[str, str]]  # (ref, depends-on ref)
    problems: list[Problem]


def load(path: Path) -> Document:
    """Read and validate ``path``; raise FleetInputError when it is no usable CycloneDX BOM."""
    name = display(path)
    data = _read_capped(path, name)
    text = _decode(data, name)
    start = text.lstrip()[:1]
    if start == "{":
        return _load_json(text, name)
    if start == "<":
        return _load_xml(text, name)
    raise _fail(name, None, "not a CycloneDX BOM: expected a JSON object ('{') or XML ('<')")


def _fail(name: str, line: int | None, message: str, field_: str = "") -> FleetInputError:
    return FleetInputError([Problem(name, line, field_, message)])


def _read_capped(path: Path, name: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BOM_BYTES + 1)
    except OSError as exc:
        raise _fail(name, None, f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > MAX_BOM_BYTES:
        raise _fail(name, None, f"larger than {MAX_BOM_BYTES // 2**20} MB: split the BOM")
    if not data.strip():
        raise _fail(name, None, "the file is empty: expected a CycloneDX BOM")
    return data


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(name, None, f"not UTF-8 text (byte {exc.start}): binary or corrupt") from None
    if "\x00" in text:
        raise _fail(name, None, "contains NUL bytes: binary or corrupt, not a CycloneDX BOM")
    return text


@lru_cache(maxsize=16)
def schema_validator(fmt: OutputFormat, version: str) -> Any:
    """The library's validator of one format and spec version (built once, kept); JSON input
    is checked with ``_cdx_schema`` instead, whose uniqueItems is linear."""
    return make_schemabased_validator(fmt, SchemaVersion.from_version(version))


def _short(text: object, limit: int = 200) -> str:
    value = str(text)
    return value if len(value) <= limit else value[:limit] + "..."


# ---------------------------------------------------------------------------------- JSON
def _load_json(text: str, name: str) -> Document:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(name, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise _fail(name, None, "JSON nested too deeply to be a BOM") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise _fail(name, None, f"not valid JSON: {_short(exc)}") from None
    if not isinstance(raw, dict) or raw.get("bomFormat") != "CycloneDX":
        raise _fail(
            name, None, 'not a CycloneDX BOM: expected an object with "bomFormat": "CycloneDX"'
        )
    version = raw.get("specVersion")
    if version not in SUPPORTED:
        raise _fail(
            name,
            None,
            f"CycloneDX specVersion {_short(version, 20)!r} is not supported: "
            f"expected one of {', '.join(SUPPORTED)}",
            "/specVersion",
        )
    problems = _schema_problems(OutputFormat.JSON, version, raw, name)
    if problems:
        raise FleetInputError(problems)
    problems = []
    nodes = _json_nodes(raw.get("components") or [], "/components", name, problems)
    dependencies: set[tuple[str, str]] = set()
    for entry in raw.get("dependencies") or []:
        dependencies.update((entry["ref"], other) for other in entry.get("dependsOn") or [])
    return Document("json", version, nodes, dependencies, problems)


def _json_nodes(
    items: list[dict[str, Any]], where: str, name: str, problems: list[Problem]
) -> list[Node]:
    top: list[Node] = []
    stack: list[tuple[list[dict[str, Any]], str, list[Node]]] = [(items, where, top)]
    while stack:
        entries, base, into = stack.pop()
        for index, raw in enumerate(entries):
            pointer = f"{base}/{index}"
            shallow = {k: v for k, v in raw.items() if k != "components"}
            component = _deserialise(lambda s=shallow: _LIBRARY.from_json(s), pointer)
            if isinstance(component, str):
                problems.append(Problem(name, None, pointer, component))
                continue
            properties = [
                (p["name"], p.get("value"), f"{pointer}/properties/{i}")
                for i, p in enumerate(raw.get("properties") or [])
            ]
            node = Node(pointer, component, properties)
            into.append(node)
            if raw.get("components"):
                stack.append((raw["components"], f"{pointer}/components", node.children))
    return top


# ----------------------------------------------------------------------------------- XML
def _load_xml(text: str, name: str) -> Document:
    try:
        root = safe_xml(text, forbid_dtd=True)
    except ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise _fail(name, line, f"not well-formed XML: {_short(exc)}") from None
    except DefusedXmlException as exc:
        raise _fail(name, None, f"XML with a DTD or entities is not accepted ({exc})") from None
    match = _XML_NS.match(root.tag) if isinstance(root.tag, str) else None
    if match is None:
        raise _fail(
            name,
            None,
            "not a CycloneDX BOM: the root element must be <bom> in a "
            "http://cyclonedx.org/schema/bom/1.x namespace",
        )
    version = match.group(1)
    if version not in SUPPORTED:
        raise _fail(
            name,
            None,
            f"CycloneDX {version} is not supported: expected one of {', '.join(SUPPORTED)}",
        )
    problems = _schema_problems(OutputFormat.XML, version, text, name)
    if problems:
        raise FleetInputError(problems)
    ns = f"http://cyclonedx.org/schema/bom/{version}"
    problems = []
    holder = root.find(f"{{{ns}}}components")
    nodes = _xml_nodes(holder, "/bom/components", ns, name, problems)
    dependencies: set[tuple[str, str]] = set()
    deps = root.find(f"{{{ns}}}dependencies")
    for entry in deps if deps is not None else []:
        ref = entry.get("ref", "")
        dependencies.update((ref, inner.get("ref", "")) for inner in entry)
    return Document("xml", version, nodes, dependencies, problems)


def _xml_nodes(
    holder: Element | None, where: str, ns: str, name: str, problems: list[Problem]
) -> list[Node]:
    top: list[Node] = []
    if holder is None:
        return top
    tag = f"{{{ns}}}component"
    stack: list[tuple[Element, str, list[Node]]] = [(holder, where, top)]
    while stack:
        parent, base, into = stack.pop()
        for index, element in enumerate(parent.findall(tag), start=1):
            path = f"{base}/component[{index}]"
            shallow = Element(element.tag, element.attrib)
            shallow.extend(child for child in element if child.tag != f"{{{ns}}}components")
            component = _deserialise(
                lambda e=shallow: _LIBRARY.from_xml(e, default_namespace=ns), path
            )
            if isinstance(component, str):
                problems.append(Problem(name, None, path, component))
                continue
            node = Node(path, component, list(_xml_properties(element, ns, path)))
            into.append(node)
            nested = element.find(f"{{{ns}}}components")
            if nested is not None:
                stack.append((nested, f"{path}/components", node.children))
    return top


def _xml_properties(element: Element, ns: str, path: str) -> Iterator[tuple[str, str | None, str]]:
    holder = element.find(f"{{{ns}}}properties")
    if holder is None:
        return
    for index, prop in enumerate(holder.findall(f"{{{ns}}}property"), start=1):
        yield prop.get("name", ""), prop.text, f"{path}/properties/property[{index}]"


# ------------------------------------------------------------------------------- shared
def _deserialise(make: Any, where: str) -> CdxComponent | str:
    """The library's component, or a message when it cannot deserialise it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation notes about old spec fields
            component = make()
    except RecursionError:
        return "nested too deeply"
    except Exception as exc:  # the library raises many kinds on malformed input
        return f"cannot be read as a CycloneDX component: {_short(exc)}"
    if not isinstance(component, CdxComponent):
        return "cannot be read as a CycloneDX component"
    return component


def _schema_problems(fmt: OutputFormat, version: str, document: Any, name: str) -> list[Problem]:
    """Schema errors of the parsed JSON document (``_cdx_schema``) or the XML text (library)."""
    kind = "JSON" if fmt is OutputFormat.JSON else "XML"
    try:
        if fmt is OutputFormat.JSON:
            errors: Any = json_schema_errors(document, version)
        else:
            found_xml = schema_validator(fmt, version).validate_str(document, all_errors=True)
            errors = (e.data for e in found_xml) if found_xml is not None else iter(())
        found = list(_first(errors, _MAX_SCHEMA_PROBLEMS + 1))
    except RecursionError:
        return [Problem(name, None, "", "nested too deeply to validate")]
    except Exception as exc:  # lxml's parse errors on input defusedxml accepted, and the like
        return [Problem(name, None, "", f"cannot be validated as CycloneDX {kind}: {_short(exc)}")]
    problems: list[Problem] = []
    for data in found[:_MAX_SCHEMA_PROBLEMS]:
        line = getattr(data, "line", None)
        where = str(getattr(data, "json_path", "") or getattr(data, "path", "") or "")
        message = _short(getattr(data, "message", data))
        problems.append(
            Problem(
                name,
                line if isinstance(line, int) else None,
                where,
                f"does not follow the CycloneDX {version} {kind} schema: {message}",
            )
        )
    if len(found) > _MAX_SCHEMA_PROBLEMS:
        problems.append(Problem(name, None, "", "more schema errors follow; fix these first"))
    return problems


def _first(items: Any, count: int) -> Iterator[Any]:
    for index, item in enumerate(items):
        if index >= count:
            return
        yield item
