"""Audiences: who a report is for, as a redaction profile (a TLP level and the sections).

A report is built once with everything marked, then cut for one audience: every section,
finding, row and value marked above the audience's level is **removed** from the content before
any renderer sees it (not hidden with CSS, not blacked out in a PDF layer), and sections the
profile does not list are left out. The built-in profiles:

- ``internal`` (TLP:RED): everything, including who inspected and who decided each verdict;
- ``ministry`` (TLP:AMBER+STRICT): everything about the port's equipment, without people;
- ``partner`` (TLP:AMBER): indicators only, for a partner port to hunt for the same equipment,
  plus the summary and method;
- ``public`` (TLP:CLEAR): the summary in aggregate figures and the method.

An organisation adds its own audiences in a YAML file (``cranewatch report --audiences FILE``,
``load_audiences``): a name, a TLP level, the sections and a description each. The built-in
four cannot be redefined there, so a file can never widen what "public" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cranewatch.fleet.problems import FleetInputError
from cranewatch.fleet.yaml_model import read_model
from cranewatch.report.marking import Tlp

#: every section a report can have, in reading order
SECTIONS: tuple[str, ...] = (
    "summary",  # executive summary
    "fleet",  # fleet table
    "cranes",  # per crane: declared vs as-found
    "findings",  # findings with evidence
    "proof-of-use",  # proof-of-use table
    "risk",  # risk per crane and slice
    "resilience",  # what the port loses (simulation scenarios), when any exist
    "indicators",  # indicators of the hidden equipment (external names, addresses, classes)
    "method",  # method and coverage limits
    "captures",  # appendix: captures with hashes
)


@dataclass(frozen=True)
class Audience:
    name: str
    tlp: Tlp
    sections: tuple[str, ...]  # the sections this audience gets, in reading order
    description: str

    def admits(self, marking: Tlp) -> bool:
        return self.tlp.admits(marking)

    def wants(self, section: str) -> bool:
        return section in self.sections


AUDIENCES: dict[str, Audience] = {
    a.name: a
    for a in (
        Audience(
            "internal",
            Tlp.RED,
            SECTIONS,
            "The investigation team: everything, including people and verdict reasons.",
        ),
        Audience(
            "ministry",
            Tlp.AMBER_STRICT,
            SECTIONS,
            "The supervising ministry: every fact about the equipment, no personal data.",
        ),
        Audience(
            "partner",
            Tlp.AMBER,
            ("summary", "indicators", "method"),
            "A partner port or CERT: indicators to hunt for, no facts about our cranes.",
        ),
        Audience(
            "public",
            Tlp.CLEAR,
            ("summary", "resilience", "method"),
            "The public: aggregate figures and the method only.",
        ),
    )
}


def audience_named(name: str) -> Audience:
    try:
        return AUDIENCES[name]
    except KeyError:
        known = ", ".join(AUDIENCES)
        raise ValueError(f"unknown audience {name!r}; use one of {known}") from None


# ------------------------------------------------------------------------ audience files
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
