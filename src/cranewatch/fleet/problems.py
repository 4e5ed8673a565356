"""One mistake in an input file, located so a user can fix it: file, line, field, what is expected.

Every fleet input (port YAML, CycloneDX, CSV, evidence) reports its mistakes as a list of
``Problem`` and raises ``FleetInputError`` with all of them at once, so a user fixes a file in one
pass instead of one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cranewatch.errors import CranewatchError


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based; None when the format has no lines (or the file is unreadable)
    field: str  # dotted path inside the file, e.g. "terminals[0].cranes[3].components[1].imei"
    message: str  # what is wrong and what is expected

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class FleetInputError(CranewatchError):
    """An input file of the fleet registry has mistakes; ``problems`` lists each of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=sort_key)
        count = len(self.problems)
        head = "\n".join(str(p) for p in self.problems[:50])
        more = f"\n... and {count - 50} more" if count > 50 else ""
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found:\n{head}{more}")


def sort_key(problem: Problem) -> tuple[str, int, str, str]:
    """File, then line (problems without a line first), then field and message."""
    return (problem.file, problem.line or 0, problem.field, problem.message)


def display(path: Path | str) -> str:
    """How a file is named in problems: as given, not resolved."""
    return str(path)
