"""The error a resilience study raises when it cannot run as asked.

Mistakes inside a traffic, scenario or schedule file are reported as located problems
(``FleetInputError``: file, line, field, what is expected), like every other input of cranewatch.
``ResilienceError`` is for what only shows once the files are combined with the port model and
the findings: a selection that matches no crane, a scenario that needs findings when no registry
was opened, a results folder that cannot be read.
"""

from __future__ import annotations

from cranewatch.errors import CranewatchError


class ResilienceError(CranewatchError):
    """A resilience study cannot run, or its stored results cannot be read; the message says
    what to do next."""
