"""CycloneDX import and export of the fleet registry, through cyclonedx-python-lib.

Suppliers declare a crane model's hardware as a CycloneDX HBOM; cranewatch reads its ``device``
components (with their ``firmware``) into Components, and exports components, or the as-found
inventory of a port or crane, as CycloneDX 1.6 JSON or XML that passes the library's schema
validator. docs/fleet-formats.md tables which element or property carries which field.

- ``read_bom(path)`` -> ``BomReadResult``: components (ids are local ids) and the skips, each
  with its reason (applications, operating systems, firmware without a device ...);
  ``read_components(path)`` is the same without the skips.
- ``components_to_bom(components, name=..., version=...)`` -> ``Bom``; ``write_bom(bom, path,
  fmt)`` serialises, validates and writes it; ``round_trip_form(component)`` is what a round
  trip gives back (list fields sorted, duplicates merged).
- ``as_found_bom(port, links, evidence, crane=None)`` -> ``Bom`` of the as-found inventory.

The work is split by direction: ``_cdx_doc`` (open, validate, raw nodes), ``_cdx_schema``
(linear-time JSON schema validation), ``_cdx_read``, ``_cdx_props`` (the property mapping),
``_cdx_write`` and ``_cdx_asfound``.
"""

from __future__ import annotations

from pathlib import Path

from cranewatch.fleet._cdx_asfound import as_found_bom
from cranewatch.fleet._cdx_doc import MAX_BOM_BYTES
from cranewatch.fleet._cdx_read import BomReadResult, read_bom
from cranewatch.fleet._cdx_write import (
    BomExportError,
    components_to_bom,
    round_trip_form,
    write_bom,
)
from cranewatch.fleet.model import Component

__all__ = [
    "MAX_BOM_BYTES",
    "BomExportError",
    "BomReadResult",
    "as_found_bom",
    "components_to_bom",
    "read_bom",
    "read_components",
    "round_trip_form",
    "write_bom",
]


def read_components(path: Path) -> list[Component]:
    """The devices of a CycloneDX JSON or XML BOM as Components (local ids), in file order."""
    return read_bom(path).components
