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
``report.audience_file.load_audiences``).
"""

from __future__ import annotations

from dataclasses import dataclass

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
