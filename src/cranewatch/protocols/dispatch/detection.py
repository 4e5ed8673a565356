"""Decides which analyzer a flow belongs to, by content first and by port only as a hint.

Every enabled analyzer of the flow's transport looks at the first bytes of each direction
(TCP) or at a datagram (UDP, layer 2) and gives a confidence. The best one at or above
``ACCEPT`` wins. Whether the content alone carried the decision is checked by asking the winner
again without the port (``server_port=0``): ``content`` if it still accepts, ``port`` if only
the well-known port tipped it. When no analyzer accepts, a flow to an analyzer's well-known
port whose bytes do not contradict that analyzer (confidence above zero) is assigned by
``port``; otherwise the flow is ``unknown``. The analyzers of the flow's well-known port are
asked first, and one at least ``CONFIDENT`` decides without asking the others. A detector that raises counts as a "no" (a broken
plugin must not stop the run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cranewatch.protocols._base import DatagramAnalyzer, StreamAnalyzer

ACCEPT = 0.5
CONFIDENT = 0.9  # a port's own analyzer this sure needs no comparison with the others

CONTENT = "content"
PORT = "port"
UNKNOWN = "unknown"
METHODS = ("", CONTENT, PORT, UNKNOWN)  # index 0: not decided yet


@dataclass(frozen=True)
class Decision:
    index: int  # position of the analyzer in the candidate list, -1 none
    method: str
    confidence: float


def _safe(call: object, *args: object) -> float:
    try:
        score = float(call(*args))  # type: ignore[operator]
    except Exception:
        return 0.0
    return score if 0.0 <= score <= 1.0 else 0.0


def decide_stream(
    candidates: Sequence[tuple[int, StreamAnalyzer]],
    client: bytes,
    server: bytes,
    server_port: int,
    final: bool,
) -> Decision | None:
    """The analyzer of a TCP flow from its first bytes, or None to wait for more bytes
    (never when ``final``: then the answer is an analyzer or ``unknown``)."""
    # the analyzers of the well-known port first: one that is sure of the bytes ends the search
    # (a crane network opens thousands of short connections to the same few ports)
    for index, analyzer in candidates:
        if server_port in analyzer.ports:
            score = _safe(analyzer.detect, client, server, server_port)
            if score >= CONFIDENT:
                alone = _safe(analyzer.detect, client, server, 0)
                return Decision(index, CONTENT if alone >= ACCEPT else PORT, score)
    best, best_score = -1, 0.0
    fallback = -1
    for index, analyzer in candidates:
        score = _safe(analyzer.detect, client, server, server_port)
        if score > best_score:
            best, best_score = index, score
        if score > 0.0 and server_port in analyzer.ports and fallback < 0:
            fallback = index
    if best_score >= ACCEPT:
        analyzer = dict(candidates)[best]
        alone = _safe(analyzer.detect, client, server, 0)
        return Decision(best, CONTENT if alone >= ACCEPT else PORT, best_score)
    if not final:
        return None
    if fallback >= 0:
        return Decision(fallback, PORT, best_score if best == fallback else 0.0)
    return Decision(-1, UNKNOWN, 0.0)


def decide_datagram(
    candidates: Sequence[tuple[int, DatagramAnalyzer]],
    payload: bytes,
    from_client: bool,
    port: int,
) -> Decision | None:
    """The analyzer of one datagram or layer-2 frame, or None when none accepts it."""
    # as for streams: an analyzer of the datagram's port that is sure of it decides alone
    # (DNS, DHCP, NTP and syslog flows are many and short; asking all twenty-odd UDP analyzers
    # about each first datagram would cost more than parsing it)
    if port:
        for index, analyzer in candidates:
            if port in analyzer.ports:
                score = _safe(analyzer.detect, payload, from_client, port)
                if score >= CONFIDENT:
                    alone = _safe(analyzer.detect, payload, from_client, 0)
                    return Decision(index, CONTENT if alone >= ACCEPT else PORT, score)
    best, best_score = -1, 0.0
    for index, analyzer in candidates:
        score = _safe(analyzer.detect, payload, from_client, port)
        if score > best_score:
            best, best_score = index, score
    if best_score < ACCEPT:
        return None
    analyzer = dict(candidates)[best]
    alone = _safe(analyzer.detect, payload, from_client, 0)
    return Decision(best, CONTENT if alone >= ACCEPT else PORT, best_score)
