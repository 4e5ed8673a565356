"""CycloneDX JSON schema validation in linear time: the library's schemas, a hashing uniqueItems.

cyclonedx-python-lib validates JSON with jsonschema's Draft 7 validator over the CycloneDX schema
files it ships. The schema marks ``components``, ``dependencies`` and many other arrays of
objects ``uniqueItems``, and jsonschema checks that by comparing every pair of objects: 2,000
components take 15 seconds, and a crafted 100 MB BOM of many such arrays would take hours.
This module builds the same validator over the same schema files (the library's resource
table ``cyclonedx.schema._res``, with the SPDX, JSF and cryptography schemas they reference),
extended with a ``uniqueItems`` that compares canonical JSON texts in a set. Everything else
is jsonschema's own Draft 7 behaviour, so the errors are the library's errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.schema._res import BOM_JSON, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON
from jsonschema import ValidationError
from jsonschema.validators import Draft7Validator, extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

_PREFIX = "http://cyclonedx.org/schema/"
_REFERENCED = {
    "spdx.SNAPSHOT.schema.json": SPDX_JSON,
    "jsf-0.82.SNAPSHOT.schema.json": JSF,
    "cryptography-defs.SNAPSHOT.schema.json": CRYPTOGRAPHY_DEFS,
}


def _unique_items(
    validator: Any, unique: bool, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            yield ValidationError(f"has non-unique elements (one is {key[:80]})")
            return
        seen.add(key)


_Validator = extend(Draft7Validator, validators={"uniqueItems": _unique_items})


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=8)
def json_validator(version: str) -> Any:
    """The Draft 7 validator of CycloneDX ``version`` JSON (built once per version)."""
    schema_file = BOM_JSON.get(SchemaVersion.from_version(version))
    if schema_file is None:
        raise ValueError(f"no CycloneDX {version} JSON schema in the library")
    resources: list[tuple[str, Resource[Any]]] = [
        (_PREFIX + name, DRAFT7.create_resource(_load(path))) for name, path in _REFERENCED.items()
    ]
    return _Validator(
        _load(schema_file),
        registry=Registry().with_resources(resources),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def json_schema_errors(document: Any, version: str) -> Iterator[ValidationError]:
    """The schema errors of a parsed CycloneDX JSON document, lazily."""
    errors: Iterator[ValidationError] = json_validator(version).iter_errors(document)
    return errors
