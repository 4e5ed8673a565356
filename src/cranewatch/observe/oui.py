"""MAC vendor lookup from the IEEE registry bundled with netaddr (MA-L assignments).

The registry is a maintained copy of the IEEE's public listing; no hand-typed vendor table is
kept here. netaddr's own lookup parses its whole index in Python on first use (0.2 s per
process); this module reads the same index file into numpy arrays (a few milliseconds) and
reads one record of netaddr's ``oui.txt`` per distinct OUI looked up. Group (multicast,
broadcast) and locally administered addresses have no vendor by definition.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import numpy as np

GROUP_BIT = 1 << 40  # I/G bit of the first octet
LOCAL_BIT = 1 << 41  # U/L bit of the first octet


@cache
def _registry() -> tuple[Path, np.ndarray, np.ndarray]:
    import netaddr.eui

    folder = Path(netaddr.eui.__file__).parent
    raw = (folder / "oui.idx").read_bytes().replace(b"\n", b",").strip(b",")
    table = np.array(raw.split(b","), dtype=np.int64).reshape(-1, 3)
    order = np.argsort(table[:, 0], kind="stable")
    return folder / "oui.txt", table[order, 0], table[order, 1]


@lru_cache(maxsize=65536)
def vendor_for_oui(oui: int) -> str | None:
    """Registered organisation of a 24-bit OUI, or None when the IEEE has no entry."""
    text, ouis, offsets = _registry()
    i = int(np.searchsorted(ouis, oui))
    if i >= len(ouis) or ouis[i] != oui:
        return None
    with open(text, "rb") as fh:
        fh.seek(int(offsets[i]))
        first = fh.readline().decode("utf-8", "replace")
    _, _, org = first.partition("(hex)")
    return org.strip() or None


def vendor_for_mac(mac: int) -> str | None:
    """Vendor of a 48-bit MAC given as an integer; None for group or local addresses."""
    if mac & (GROUP_BIT | LOCAL_BIT):
        return None
    return vendor_for_oui(mac >> 24)
