"""Validate YAML data against the fleet's pydantic models and report every error a user can fix.

pydantic says *where* (a ``loc`` such as ``terminals, 0, cranes, 3, type``) and *what* (an error
type); this module turns each error into a ``Problem`` at the file and line of the offending key,
with a message that says what is expected ("unknown field 'manufactuer'; did you mean
'manufacturer'?", "expected one of STS, ASC, RMG, RTG, straddle (got 'sts')").

A user should fix a file in one pass, so the cross-reference checks must still run when some
records are wrong. ``validate_located`` therefore reports the errors of the first validation, then
leaves out what was wrong (the offending optional field, or the list entry holding a wrong
required field) and validates again, up to a few times, returning the model of everything that
was right together with a map from the new paths back to the paths in the file.
"""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from cranewatch.fleet._yaml_lines import Loc, SourceMap
from cranewatch.fleet.problems import Problem

M = TypeVar("M", bound=BaseModel)

_REPAIRS = 6  # validations at most: the first reports, the others only leave out what was wrong

_DATE = {"date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_type"}
_TIME = {"time_parsing", "time_type"}
_EXPECTED = {
    "dict_type": "expected a mapping (key: value lines)",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "list_type": "expected a list (- item lines or [a, b])",
    "string_type": "expected text",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
}


def validate_located(
    model: type[M], data: Any, sources: SourceMap, at: Loc, problems: list[Problem]
) -> tuple[M | None, dict[Loc, Loc] | None]:
    """``data`` (found at ``at`` in the combined document) validated as ``model``.

    Every error of the first validation is appended to ``problems``. Returns the model of what
    was right (None when even that fails) and, for each path in it, the path in ``data`` (None:
    the same paths, nothing was left out).
    """
    dropped: set[Loc] = set()
    for attempt in range(_REPAIRS):
        pruned, origin = _without(data, dropped)
        try:
            return model.model_validate(pruned), origin
        except ValidationError as exc:
            removable: set[Loc] = set()
            for error in exc.errors(include_url=False):
                loc = _data_path(tuple(error["loc"]), pruned)
                if attempt == 0:
                    problems.append(sources.problem((*at, *loc), _message(model, loc, error)))
                target = _removable(model, loc, pruned)
                if target is not None:
                    removable.add(_original(target, origin))
            if removable <= dropped:
                break
            dropped |= removable
    return None, None


# ---------------------------------------------------------------------------- paths


def _without(data: Any, dropped: set[Loc]) -> tuple[Any, dict[Loc, Loc] | None]:
    """A copy of ``data`` without the ``dropped`` paths, and each new path's original path
    (None when nothing is dropped: the paths are the same)."""
    if not dropped:
        return data, None
    origin: dict[Loc, Loc] = {}
    return _copy(data, dropped, (), (), origin), origin


def _copy(data: Any, dropped: set[Loc], old: Loc, new: Loc, origin: dict[Loc, Loc]) -> Any:
    origin[new] = old
    if isinstance(data, dict):
        return {
            key: _copy(value, dropped, (*old, key), (*new, key), origin)
            for key, value in data.items()
            if (*old, key) not in dropped
        }
    if isinstance(data, list):
        kept = [(index, value) for index, value in enumerate(data) if (*old, index) not in dropped]
        return [
            _copy(value, dropped, (*old, index), (*new, position), origin)
            for position, (index, value) in enumerate(kept)
        ]
    return data


def _original(loc: Loc, origin: dict[Loc, Loc] | None) -> Loc:
    if origin is None:
        return loc
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in origin:
            return (*origin[loc[:cut]], *loc[cut:])
    return loc


_ABSENT = object()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part, _ABSENT)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _data_path(loc: Loc, data: Any) -> Loc:
    """pydantic's ``loc`` as a path in the data: a union's tag segment is left out, a missing
    field (the last segment) is kept."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        child = _child(node, part)
        if child is not _ABSENT:
            node = child
        elif index < len(loc) - 1:
            continue  # a tag of a discriminated union: not in the data
        path.append(part)
    return tuple(path)


def _exists(data: Any, loc: Loc) -> bool:
    node = data
    for part in loc:
        node = _child(node, part)
        if node is _ABSENT:
            return False
    return True


def _removable(model: type[BaseModel], loc: Loc, data: Any) -> Loc | None:
    """The smallest part to leave out so that this error goes away: the offending field when it
    is optional, else the list entry (terminal, crane, component, ...) holding it."""
    path = loc
    while path:
        if _exists(data, path):
            if isinstance(path[-1], int):
                return path
            field = _field(model, path)
            if field is None or not field.is_required():
                return path
        path = path[:-1]
    return None


# ------------------------------------------------------------------------- model walk


def _members(annotation: Any) -> list[Any]:
    """The concrete types an annotation allows: Annotated, Optional and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation one path segment further down, or None when the model has no such place."""
    for member in _members(annotation):
        origin = get_origin(member)
        if isinstance(part, int) and origin is list:
            return get_args(member)[0]
        if isinstance(part, str) and _is_model(member) and part in member.model_fields:
            return member.model_fields[part].annotation
        if isinstance(part, str) and origin is dict:
            return get_args(member)[1]
    return None


def _annotation_at(model: type[BaseModel], loc: Loc) -> Any:
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return annotation


def _field(model: type[BaseModel], loc: Loc) -> FieldInfo | None:
    """The model field the last segment names (None for list items, dict keys, unknown names)."""
    if not loc or not isinstance(loc[-1], str):
        return None
    for member in _members(_annotation_at(model, loc[:-1])):
        if _is_model(member) and loc[-1] in member.model_fields:
            field: FieldInfo = member.model_fields[loc[-1]]
            return field
    return None


def _field_names(model: type[BaseModel], loc: Loc) -> list[str]:
    names: list[str] = []
    for member in _members(_annotation_at(model, loc)):
        if _is_model(member):
            names += [name for name in member.model_fields if name not in names]
    return names


def _tags(model: type[BaseModel], loc: Loc) -> list[str]:
    """The ``type`` values a discriminated union at ``loc`` accepts (capabilities)."""
    members = _members(_annotation_at(model, loc))
    return [str(m.model_fields["type"].default) for m in members if _is_model(m)]


# ----------------------------------------------------------------------------- messages


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(model: type[BaseModel], loc: Loc, error: Any) -> str:
    """What is wrong and what is expected, for one pydantic error at the data path ``loc``."""
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    name = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"required field '{name}' is missing"
    if kind == "extra_forbidden":
        allowed = _field_names(model, loc[:-1])
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.7)
        hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(allowed)}"
        return f"unknown field '{name}'; {hint}"
    if kind in ("enum", "literal_error"):
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        lead = "expected one of" if "," in choices else "expected"
        return f"{lead} {choices} (got {_shown(value)})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(_tags(model, loc))
        if kind == "union_tag_invalid":
            return f"unknown type {_shown(ctx.get('tag'))}; expected one of {tags}"
        return f"missing 'type'; expected one of {tags}"
    if kind in _DATE:
        why = f": {ctx['error']}" if ctx.get("error") else ""
        return f"expected a date like 2019-05-02 (got {_shown(value)}{why})"
    if kind in _TIME:
        return f"expected a time like 08:00 (got {_shown(value)})"
    if kind == "value_error":
        return f"{ctx.get('error', error['msg'])} (got {_shown(value)})"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]} (got {_shown(value)})"
    text = str(error["msg"]).replace("Input should be", "expected", 1)
    return f"{text[:1].lower()}{text[1:]} (got {_shown(value)})"
