"""The checks rules name: each answers one kind of question over an ``AnalysisContext``.

A check is ``def check(ctx: AnalysisContext, rule: Rule, pack: RulePack) -> list[Finding]``,
registered under its name with ``@check("name")``; a rule pack names it in ``check:`` and
gives it ``params:``. A check reads the rule's ``params`` (documented in its docstring) and
rejects unknown ones with ``CheckParamError``. Importing this package registers every built-in
check (the modules below).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cranewatch.errors import CranewatchError
from cranewatch.findings.context import AnalysisContext
from cranewatch.findings.model import Finding, Rule, RulePack

Check = Callable[[AnalysisContext, Rule, RulePack], list[Finding]]
CHECKS: dict[str, Check] = {}


class CheckParamError(CranewatchError):
    """A rule gives its check a parameter it does not know, or a value of the wrong kind."""


def check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        CHECKS[name] = fn
        return fn

    return register


def params(rule: Rule, defaults: dict[str, Any]) -> dict[str, Any]:
    """The rule's params over ``defaults``; an unknown name or a wrong type is an error."""
    unknown = sorted(set(rule.params) - set(defaults))
    if unknown:
        raise CheckParamError(
            f"rule {rule.id}: unknown param(s) {', '.join(unknown)} for check {rule.check}; "
            f"known: {', '.join(sorted(defaults))}"
        )
    merged = dict(defaults)
    for key, value in rule.params.items():
        default = defaults[key]
        if (
            default is not None
            and not isinstance(value, type(default))
            and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise CheckParamError(
                f"rule {rule.id}: param {key} must be {type(default).__name__}, got {value!r}"
            )
        merged[key] = value
    return merged


def load_builtin_checks() -> dict[str, Check]:
    """Every built-in check, registered (importing the modules registers them)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return CHECKS
