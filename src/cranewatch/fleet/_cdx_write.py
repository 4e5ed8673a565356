"""cranewatch components to a CycloneDX 1.6 BOM, serialised and validated by cyclonedx-python-lib.

Each Component becomes one ``device`` component; its firmware version and SHA-256 a nested
``firmware`` component; the fields CycloneDX has no element for travel in properties
(``_cdx_props``). The library serialises (JSON or XML) and its schema validator checks the
result before anything is written: a document that fails is never written.

The library keeps components and properties in sorted sets, so a BOM lists them sorted, not in
the order given, and drops exact duplicates. ``round_trip_form`` is what a round trip keeps.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.dependency import Dependency
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion

from cranewatch._version import __version__
from cranewatch.errors import CranewatchError
from cranewatch.fleet._cdx_doc import schema_validator
from cranewatch.fleet._cdx_props import capability_text, component_properties
from cranewatch.fleet._cdx_schema import json_schema_errors
from cranewatch.fleet.model import Component

SPEC = SchemaVersion.V1_6


class BomExportError(CranewatchError, RuntimeError):
    """A CycloneDX document could not be produced or written (the message says what to do)."""


class RefAllocator:
    """Unique bom-refs for one document: the wished one if free, else a numbered variant."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, *wishes: str) -> str:
        for wish in wishes:
            if wish not in self.used:
                self.used.add(wish)
                return wish
        count = 2
        while f"{wishes[-1]}#{count}" in self.used:
            count += 1
        ref = f"{wishes[-1]}#{count}"
        self.used.add(ref)
        return ref


def to_cdx(
    component: Component,
    refs: RefAllocator,
    extra: Iterable[tuple[str, str]] = (),
    *,
    by_id: bool = False,
) -> CdxComponent:
    """One Component as a CycloneDX ``device`` (with ``firmware``), plus ``extra`` properties.

    Its bom-ref is its own ``bom_ref`` when free (or always its id with ``by_id``), else its id.
    """
    own = None if by_id else component.bom_ref
    wishes = [own, component.id] if own is not None else [component.id]
    ref = refs.take(*wishes)
    supplier = OrganizationalEntity(name=component.supplier) if component.supplier else None
    manufacturer = (
        OrganizationalEntity(name=component.manufacturer) if component.manufacturer else None
    )
    pairs = component_properties(component, ref=ref, has_supplier=supplier is not None)
    pairs += list(extra)
    nested = []
    if component.firmware_version is not None or component.firmware_sha256 is not None:
        hashes = (
            [HashType(alg=HashAlgorithm.SHA_256, content=component.firmware_sha256)]
            if component.firmware_sha256
            else []
        )
        label = component.model or component.name or component.id
        nested.append(
            CdxComponent(
                type=ComponentType.FIRMWARE,
                name=f"{label} firmware",
                version=component.firmware_version,
                hashes=hashes,
                bom_ref=refs.take(f"{ref}#firmware"),
            )
        )
    return CdxComponent(
        type=ComponentType.DEVICE,
        name=component.model or component.name or component.id,
        version=component.hardware_version,
        manufacturer=manufacturer,
        supplier=supplier,
        bom_ref=ref,
        properties=[Property(name=name, value=value) for name, value in pairs],
        components=nested,
    )


def new_bom(subject: CdxComponent, properties: Iterable[tuple[str, str]] = ()) -> Bom:
    """An empty BOM about ``subject``, made by this version of cranewatch."""
    bom = Bom()
    bom.metadata.component = subject
    bom.metadata.tools.components.add(
        CdxComponent(type=ComponentType.APPLICATION, name="cranewatch", version=__version__)
    )
    bom.metadata.properties = [Property(name=name, value=value) for name, value in properties]
    return bom


def add_components(bom: Bom, components: list[CdxComponent]) -> None:
    """Add ``components`` and record that the BOM's subject is made of them.

    The subject's dependency is built directly: the library's ``register_dependency`` scans all
    dependencies per call, which is quadratic for a port's thousand components.
    """
    bom.components.update(components)
    subject = bom.metadata.component
    if subject is not None and components:
        parts = [Dependency(ref=component.bom_ref) for component in components]
        bom.dependencies.add(Dependency(ref=subject.bom_ref, dependencies=parts))


def components_to_bom(components: list[Component], *, name: str, version: str | None = None) -> Bom:
    """A CycloneDX BOM of ``components`` whose subject is a device ``name`` (e.g. a crane model)."""
    refs = RefAllocator()
    subject = CdxComponent(
        type=ComponentType.DEVICE, name=name, version=version, bom_ref=refs.take("bom-subject")
    )
    bom = new_bom(subject)
    add_components(bom, [to_cdx(component, refs) for component in components])
    return bom


def write_bom(bom: Bom, path: Path | None, fmt: Literal["json", "xml"] = "json") -> str:
    """Serialise ``bom`` as CycloneDX 1.6 JSON or XML, validate it, write it to ``path`` if given."""
    output_format = OutputFormat.JSON if fmt == "json" else OutputFormat.XML
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the library's notes on its own deprecated calls
            text = make_outputter(bom, output_format, SPEC).output_as_string(indent=2)
    except Exception as exc:  # ElementTree writes control characters lxml then cannot parse
        raise _invalid(fmt, exc) from exc
    if not text.endswith("\n"):
        text += "\n"
    _validate(text, output_format, fmt)
    if path is not None:
        try:
            path.write_text(text, encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise BomExportError(
                f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}; "
                "choose a writable path"
            ) from None
    return text


def _validate(text: str, output_format: OutputFormat, fmt: str) -> None:
    """Check the serialised document against the CycloneDX 1.6 schema before it is written.

    XML goes through the library's validator; JSON through the same schema with a linear
    uniqueItems (``_cdx_schema``), because the library's pairwise check needs seconds for the
    as-found inventory of a whole port.
    """
    error: object
    try:
        if output_format is OutputFormat.JSON:
            error = next(json_schema_errors(json.loads(text), SPEC.to_version()), None)
        else:
            error = schema_validator(output_format, SPEC.to_version()).validate_str(text)
    except Exception as exc:  # lxml cannot even parse it: control characters in a text field
        error = exc
    if error is not None:
        raise _invalid(fmt, error)


def _invalid(fmt: str, detail: object) -> BomExportError:
    hint = (
        "XML cannot carry control characters: if a text field of the port model holds one, "
        "remove it or export JSON; otherwise this "
        if fmt == "xml"
        else "This "
    )
    return BomExportError(
        f"cannot produce a valid CycloneDX 1.6 {fmt.upper()} document ({str(detail)[:300]}). "
        f"{hint}is a bug in cranewatch: please report it with the command you ran"
    )


def round_trip_form(component: Component) -> Component:
    """``component`` as a CycloneDX round trip gives it back.

    List fields come back sorted and without duplicates (the library sorts properties), and a
    ``bom_ref`` equal to the id is not kept (the id already says it).
    """
    capabilities = {capability_text(c): c for c in component.capabilities}
    return component.model_copy(
        update={
            "macs": sorted(set(component.macs)),
            "ips": sorted(set(component.ips)),
            "capabilities": [capabilities[key] for key in sorted(capabilities)],
            "bom_ref": None if component.bom_ref == component.id else component.bom_ref,
        }
    )
