"""Validation of the values of check parameters that ``params()`` can only type-check.

``checks.params`` rejects unknown names and wrong types; these helpers reject a severity that is
no severity, a component kind that is no kind, or a role that the ``roles`` table never writes,
with a ``CheckParamError`` naming the rule and the parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cranewatch.findings.checks import CheckParamError
from cranewatch.findings.model import Rule, Severity
from cranewatch.fleet.model import ComponentKind


def severity(rule: Rule, name: str, value: Any) -> Severity:
    try:
        return Severity(str(value))
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise CheckParamError(
            f"rule {rule.id}: param {name} must be a severity ({known}), got {value!r}"
        ) from None


def kinds(rule: Rule, name: str, values: Iterable[Any]) -> frozenset[ComponentKind]:
    out = set()
    for value in values:
        try:
            out.add(ComponentKind(str(value)))
        except ValueError:
            known = ", ".join(k.value for k in ComponentKind)
            raise CheckParamError(
                f"rule {rule.id}: param {name}: {value!r} is no component kind ({known})"
            ) from None
    return frozenset(out)


def choices(rule: Rule, name: str, values: Iterable[Any], allowed: Iterable[str]) -> list[str]:
    allowed = list(allowed)
    out = []
    for value in values:
        text = str(value).replace("-", "_")
        if text not in allowed:
            raise CheckParamError(
                f"rule {rule.id}: param {name}: {value!r} is not one of {', '.join(allowed)}"
            )
        out.append(text)
    return out


def number(rule: Rule, name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not low <= float(value) <= high:
        raise CheckParamError(
            f"rule {rule.id}: param {name} must be in {low}..{high}, got {value!r}"
        )
    return float(value)
