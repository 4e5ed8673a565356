"""TLP 2.0 levels, and the level each kind of fact in a report carries by default.

The Traffic Light Protocol 2.0 (FIRST, 2022) has five labels, ordered from free to share to
named recipients only: CLEAR < GREEN < AMBER < AMBER+STRICT < RED. A report marks every
section, every finding and every identifying value with one of them; an audience may read a
value only when its marking is at or below the audience's level (``Tlp.admits``).

The default level of a fact depends on what it identifies (``FACT_MARKING``):

- aggregate figures (counts, shares, moves per hour at risk) and the method are CLEAR, so a
  public summary can say what was found without saying where;
- indicators that point outside the port (a remote-management cloud's name, a C2 address, a
  DHCP vendor class) are AMBER: a partner port can hunt for them in its own cranes;
- anything that identifies the port's own equipment (crane and component ids, internal IP and
  MAC addresses, serial numbers, IMEI/ICCID/IMSI, firmware hashes, capture hashes) is
  AMBER+STRICT: the organisation and those who must act on it, not its clients;
- people (inspectors, analysts, who set a verdict and why) are RED.

STIX 2.1 has only TLP 1.0 marking constants in the stix2 library; the TLP 2.0 marking
definitions are the ones published with the OASIS TLP 2.0 extension (fixed ids below), so a
bundle from cranewatch matches any other tool's TLP 2.0 markings.
"""

from __future__ import annotations

from enum import StrEnum


class Tlp(StrEnum):
    CLEAR = "TLP:CLEAR"
    GREEN = "TLP:GREEN"
    AMBER = "TLP:AMBER"
    AMBER_STRICT = "TLP:AMBER+STRICT"
    RED = "TLP:RED"

    @property
    def rank(self) -> int:
        return list(Tlp).index(self)

    def admits(self, marking: Tlp) -> bool:
        """True when a reader cleared for this level may read content marked ``marking``."""
        return marking.rank <= self.rank

    @property
    def slug(self) -> str:
        """The lower-case form STIX and file names use: ``clear`` ... ``amber+strict``."""
        return self.value.removeprefix("TLP:").lower()

    @property
    def stix_id(self) -> str:
        return STIX_MARKING_IDS[self]

    @property
    def meaning(self) -> str:
        return MEANINGS[self]

    @classmethod
    def parse(cls, text: str) -> Tlp:
        """``TLP:AMBER+STRICT``, ``amber+strict`` or ``AMBER_STRICT`` -> Tlp.AMBER_STRICT."""
        wanted = text.strip().upper().removeprefix("TLP:").replace("_", "+")
        for level in cls:
            if level.value.removeprefix("TLP:") == wanted:
                return level
        names = ", ".join(level.value for level in cls)
        raise ValueError(f"unknown TLP level {text!r}; use one of {names}")


#: TLP 2.0 marking-definition ids of the OASIS TLP 2.0 STIX extension
STIX_TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
STIX_MARKING_CREATED = "2022-10-01T00:00:00.000Z"
STIX_MARKING_IDS: dict[Tlp, str] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

#: the sharing rule of each label, in our words (FIRST TLP 2.0 defines them)
MEANINGS: dict[Tlp, str] = {
    Tlp.CLEAR: "No limit on disclosure beyond copyright.",
    Tlp.GREEN: "Share within the community, not publicly.",
    Tlp.AMBER: "Share within the recipient's organisation and its clients, on a need-to-know basis.",
    Tlp.AMBER_STRICT: "Share within the recipient's organisation only, on a need-to-know basis.",
    Tlp.RED: "For the named recipients only; no further sharing.",
}


class Fact(StrEnum):
    """What a value in a report identifies; decides its default marking."""

    AGGREGATE = "aggregate"  # counts, shares, scores summed over the fleet, the method
    PORT = "port"  # the port's own name
    INDICATOR = "indicator"  # points outside the port: external name, address, vendor class
    TERMINAL = "terminal"  # terminal ids and names
    CRANE = "crane"  # crane ids, manufacturer/model of a named crane
    COMPONENT = "component"  # declared or found component ids and names
    ADDRESS = "address"  # internal IP and MAC addresses
    IDENTIFIER = "identifier"  # serial, IMEI, ICCID, IMSI, firmware hash
    CAPTURE = "capture"  # capture file names and SHA-256, frame numbers
    PERSON = "person"  # inspectors, analysts, who decided a verdict and why


FACT_MARKING: dict[Fact, Tlp] = {
    Fact.AGGREGATE: Tlp.CLEAR,
    Fact.PORT: Tlp.CLEAR,
    Fact.INDICATOR: Tlp.AMBER,
    Fact.TERMINAL: Tlp.AMBER_STRICT,
    Fact.CRANE: Tlp.AMBER_STRICT,
    Fact.COMPONENT: Tlp.AMBER_STRICT,
    Fact.ADDRESS: Tlp.AMBER_STRICT,
    Fact.IDENTIFIER: Tlp.AMBER_STRICT,
    Fact.CAPTURE: Tlp.AMBER_STRICT,
    Fact.PERSON: Tlp.RED,
}
