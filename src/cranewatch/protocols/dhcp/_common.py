"""What DHCPv4 and DHCPv6 share: the protocol's name and limits, text and address decoders, the
DNS wire-format names of the client FQDN options, and the collector of a message's facts.

The client FQDN options (DHCPv4 option 81, RFC 4702; DHCPv6 option 39, RFC 4704) carry a name
in DNS wire format without compression, and may hold a partial name that ends without the root
label; labels are rendered with :mod:`cranewatch.protocols._dnswire`. ``_Facts`` keeps one copy
of each identity fact and name of a message.
"""

from __future__ import annotations

from typing import Literal

from cranewatch.protocols import _dnswire as W
from cranewatch.protocols._base import IdentityFact, NameFact, ParseResult

NAME = "dhcp"
MAX_OPTIONS = 128
MAX_TEXT = 255
MAX_ADDRS = 16


class Malformed(Exception):
    pass


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").rstrip("\x00").strip()[:MAX_TEXT]


def _mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def _wire_name(data: bytes) -> str | None:
    """A DNS wire-format name of an FQDN option; RFC 4702/4704 allow a partial name that ends
    without the root label. No compression in these options: a pointer ends the name."""
    labels: list[str] = []
    pos = total = 0
    while pos < len(data) and len(labels) < 64:
        n = data[pos]
        if n == 0 or n > W.MAX_LABEL:
            break
        label = data[pos + 1 : pos + 1 + n]
        total += n + 1
        if len(label) < n or total > W.MAX_NAME:
            return None
        labels.append(W.label_text(label))
        pos += 1 + n
    return ".".join(labels)[:MAX_TEXT] or None


class _Facts:
    """Identity and name facts of one message, without duplicates."""

    def __init__(self, result: ParseResult) -> None:
        self.result = result
        self.seen: set[tuple[str, str, str]] = set()

    def add(self, attribute: str, value: str, source: str, confidence: float = 1.0,
            about: Literal["sender", "receiver"] = "sender") -> None:  # fmt: skip
        value = value[:MAX_TEXT]
        if value and (attribute, value, about) not in self.seen:
            self.seen.add((attribute, value, about))
            self.result.identities.append(
                IdentityFact(NAME, attribute, value, confidence, about, source)
            )

    def announce(self, name: str) -> None:
        if name and not any(n.name == name for n in self.result.names):
            self.result.names.append(NameFact(NAME, name[:MAX_TEXT], "announced"))
