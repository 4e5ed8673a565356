"""Which analyzer a TCP flow gets: content first, the port as a hint, a sure port analyzer first."""

from __future__ import annotations

from dataclasses import dataclass, field

from cranewatch.protocols.dispatch.detection import CONTENT, PORT, UNKNOWN, decide_stream


@dataclass
class Fake:
    """A stream analyzer that answers fixed confidences, with and without its port."""

    name: str
    ports: tuple[int, ...]
    with_port: float
    without_port: float
    calls: list[int] = field(default_factory=list)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        self.calls.append(server_port)
        return self.with_port if server_port in self.ports else self.without_port


def test_a_sure_analyzer_of_the_port_decides_without_asking_the_others() -> None:
    mine = Fake("mine", (502,), 1.0, 0.9)
    other = Fake("other", (102,), 0.95, 0.95)
    decision = decide_stream([(0, other), (1, mine)], b"x", b"y", 502, final=False)  # type: ignore[list-item]
    assert decision is not None
    assert (decision.index, decision.method, decision.confidence) == (1, CONTENT, 1.0)
    assert other.calls == []
    assert mine.calls == [502, 0]


def test_an_unsure_port_analyzer_is_compared_with_the_others() -> None:
    mine = Fake("mine", (502,), 0.6, 0.5)
    other = Fake("other", (102,), 0.95, 0.95)
    decision = decide_stream([(0, mine), (1, other)], b"x", b"y", 502, final=False)  # type: ignore[list-item]
    assert decision is not None
    assert (decision.index, decision.method) == (1, CONTENT)
    assert other.calls  # it was asked


def test_the_port_only_tips_a_close_call_and_says_so() -> None:
    mine = Fake("mine", (502,), 0.6, 0.4)
    decision = decide_stream([(0, mine)], b"x", b"y", 502, final=False)  # type: ignore[list-item]
    assert decision is not None and (decision.index, decision.method) == (0, PORT)


def test_nothing_sure_waits_then_ends_unknown() -> None:
    mine = Fake("mine", (502,), 0.0, 0.0)
    assert decide_stream([(0, mine)], b"x", b"", 502, final=False) is None  # type: ignore[list-item]
    final = decide_stream([(0, mine)], b"x", b"", 502, final=True)  # type: ignore[list-item]
    assert final is not None and (final.index, final.method) == (-1, UNKNOWN)
