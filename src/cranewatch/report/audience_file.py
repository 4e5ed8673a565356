"""Audiences of one's own, from a YAML file (``cranewatch report --audiences FILE``).

Each entry is a name, a TLP level, the sections and a description; they are added to the
built-in four of ``report.audience``, which cannot be redefined here, so a file can never widen
what "public" means. Every mistake is reported with its line, as for the port model. A module of
its own so the CLI loads the YAML reader only when a file is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cranewatch.fleet.problems import FleetInputError
from cranewatch.fleet.yaml_model import read_model
from cranewatch.report.audience import AUDIENCES, SECTIONS, Audience
from cranewatch.report.marking import Tlp


class _AudienceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]  # also a file name part
    tlp: str
    sections: list[str] = Field(min_length=1)
    description: str = Field(min_length=1)

    @field_validator("tlp")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return Tlp.parse(value).value

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SECTIONS]
        if unknown:
            raise ValueError(
                f"unknown section {', '.join(unknown)}; the sections are {', '.join(SECTIONS)}"
            )
        return value


class _AudienceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audiences: list[_AudienceEntry] = Field(min_length=1)


def load_audiences(path: Path) -> dict[str, Audience]:
    """The built-in audiences and those of the YAML file at ``path``; ``FleetInputError``
    lists every mistake with its line (an unknown level or section, a built-in or repeated
    name)."""
    located = read_model(Path(path), _AudienceFile, "audience file (see docs/reports.md)")
    problems = []
    found = dict(AUDIENCES)
    for index, entry in enumerate(located.model.audiences):
        if entry.name in found or entry.name == "all":
            taken = "a built-in audience" if entry.name in AUDIENCES or entry.name == "all" else (
                "defined twice in this file")  # fmt: skip
            problems.append(
                located.problem(("audiences", index, "name"), f"{entry.name!r} is {taken}")
            )
            continue
        found[entry.name] = Audience(
            entry.name,
            Tlp(entry.tlp),
            tuple(s for s in SECTIONS if s in entry.sections),  # reading order
            entry.description,
        )
    if problems:
        raise FleetInputError(problems)
    return found
