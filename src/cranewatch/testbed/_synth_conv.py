"""Hosts and conversations: TCP and UDP exchanges between two hosts, built into a flow's variants.

A :class:`TcpConversation` keeps, per variant, how far each side's sequence number and IP id
have moved, so a variant reads like the exchange it models::

    v = flow.variant("fc3")
    conv.send(v, CLIENT, request, at=0)
    conv.send(v, SERVER, response, at=ms(2), jit=True)

and the flow's registers advance by exactly the bytes sent, so sequence and acknowledgement
numbers stay consistent across millions of cycles, handshakes, FINs and reconnects (a close
variant makes both initial sequence numbers jump, as a new connection on the same 4-tuple does).
"""

from __future__ import annotations

from dataclasses import dataclass

from cranewatch.testbed._synth_flows import Flow
from cranewatch.testbed._synth_wire import (
    ETH_IPV4,
    ETH_IPV6,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_SYN,
    FrameBuilder,
    Link,
    Part,
    Ref,
    cat,
)

CLIENT, SERVER = 0, 1

#: SYN options of a desktop stack (MSS 1460, window scale 8, SACK permitted) and of an
#: embedded one (MSS only).
OPTS_DESKTOP = bytes.fromhex("020405b40103030801010402")
OPTS_EMBEDDED = bytes.fromhex("020405b4")


@dataclass(frozen=True)
class Host:
    name: str
    mac: str
    ip: str
    ttl: int = 64
    ip6: str = ""


@dataclass(frozen=True)
class Path:
    """How the two ends of a conversation look on the captured segment."""

    a: Host
    b: Host
    tags: tuple[tuple[int, int, int], ...] = ()
    gateway: Host | None = None  # router on the segment when ``b`` is elsewhere
    hops: int = 0  # routers between ``b`` and the segment (lowers ``b``'s TTL)

    def link(self, side: int) -> Link:
        far = self.gateway.mac if self.gateway else self.b.mac
        if side == CLIENT:
            return Link(self.a.mac, far, self.tags)
        return Link(far, self.a.mac, self.tags)

    def ends(self, side: int, v6: bool = False) -> tuple[str, str, int]:
        """(source address, destination address, TTL) of a packet sent by ``side``."""
        a, b = (self.a.ip6, self.b.ip6) if v6 else (self.a.ip, self.b.ip)
        if side == CLIENT:
            return a, b, self.a.ttl
        return b, a, self.b.ttl - self.hops - (1 if self.gateway else 0)


class TcpConversation:
    """A TCP connection (and its reconnects on the same 4-tuple) inside one flow."""

    def __init__(
        self,
        flow: Flow,
        path: Path,
        sport: int | Ref,
        dport: int,
        *,
        client_window: int = 64240,
        server_window: int = 8192,
        client_opts: bytes = OPTS_DESKTOP,
        server_opts: bytes = OPTS_EMBEDDED,
    ):
        self.flow, self.path = flow, path
        self.ports = (sport, dport)
        self.window = (client_window, server_window)
        self.opts = (client_opts, server_opts)
        self.seq = (flow.counter(jump=1 << 32), flow.counter(jump=1 << 32))
        self.ipid = (flow.counter(span=1 << 16), flow.counter(span=1 << 16))
        self._off: dict[int, list[int]] = {}  # variant -> [seq c, seq s, id c, id s]

    def _frame(
        self, v: int, side: int, flags: int, payload: Part, at: int, jit: bool, opts: bytes = b""
    ) -> None:
        off = self._off.setdefault(v, [0, 0, 0, 0])
        src, dst, ttl = self.path.ends(side)
        sport, dport = self.ports if side == CLIENT else self.ports[::-1]
        fb = FrameBuilder(self.flow.kind).eth(self.path.link(side), ETH_IPV4)
        fb.ipv4(src, dst, 6, ttl=ttl, ident=self.ipid[side] + off[2 + side])
        ack = self.seq[1 - side] + off[1 - side]
        window = self.window[side]
        if not flags & TCP_SYN and self.opts[side] == OPTS_DESKTOP:
            window = 1026 if side == CLIENT else 501  # scaled by 256 as agreed in the handshake
        fb.tcp(sport, dport, self.seq[side] + off[side], ack, flags, window=window, options=opts)
        body = cat(payload)
        fb.payload(body)
        self.flow.add(v, fb.finish(), at, jit)
        off[side] += len(body) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        off[2 + side] += 1
        for i in range(2):
            self.flow.step(v, self.seq[i], off[i])
            self.flow.step(v, self.ipid[i], off[2 + i])

    def send(self, v: int, side: int, payload: Part, at: int, jit: bool = False) -> None:
        """A data segment (PSH, ACK) from ``side`` carrying ``payload``."""
        self._frame(v, side, TCP_PSH | TCP_ACK, payload, at, jit)

    def ack(self, v: int, side: int, at: int, jit: bool = False) -> None:
        self._frame(v, side, TCP_ACK, b"", at, jit)

    def handshake(self, v: int, at: int, rtt: int) -> int:
        """SYN, SYN-ACK, ACK; returns the time of the last one. Registers hold the ISNs here."""
        self._frame(v, CLIENT, TCP_SYN, b"", at, False, self.opts[0])
        # The SYN carries no ACK: step() counted its sequence number, the ACK field is zero.
        self._frame(v, SERVER, TCP_SYN | TCP_ACK, b"", at + rtt, False, self.opts[1])
        self._frame(v, CLIENT, TCP_ACK, b"", at + rtt + 60_000, False)
        return at + rtt + 60_000

    def close(self, v: int, at: int, rtt: int, by: int = CLIENT) -> int:
        """FIN from ``by``, FIN back, last ACK; the next use of this flow is a new connection."""
        self._frame(v, by, TCP_FIN | TCP_ACK, b"", at, False)
        self._frame(v, 1 - by, TCP_FIN | TCP_ACK, b"", at + rtt, False)
        self._frame(v, by, TCP_ACK, b"", at + rtt + 40_000, False)
        for ref in self.seq:
            self.flow.jump_on(ref, v)
        return at + rtt + 40_000


class UdpConversation:
    """Datagrams between two hosts (IPv4 or IPv6) inside one flow."""

    def __init__(
        self, flow: Flow, path: Path, aport: int | Ref, bport: int | Ref, *, v6: bool = False
    ) -> None:
        self.flow, self.path, self.v6 = flow, path, v6
        self.ports = (aport, bport)
        self.ipid = (flow.counter(span=1 << 16), flow.counter(span=1 << 16))
        self._off: dict[int, list[int]] = {}

    def send(
        self, v: int, side: int, payload: Part, at: int, jit: bool = False, kind: str = ""
    ) -> None:
        off = self._off.setdefault(v, [0, 0])
        src, dst, ttl = self.path.ends(side, self.v6)
        sport, dport = self.ports if side == CLIENT else self.ports[::-1]
        fb = FrameBuilder(kind or self.flow.kind)
        if self.v6:
            fb.eth(self.path.link(side), ETH_IPV6).ipv6(src, dst, 17, hop_limit=ttl)
        else:
            fb.eth(self.path.link(side), ETH_IPV4)
            fb.ipv4(src, dst, 17, ttl=ttl, ident=self.ipid[side] + off[side], df=False)
            off[side] += 1
            self.flow.step(v, self.ipid[side], off[side])
        fb.udp(sport, dport).payload(payload)
        self.flow.add(v, fb.finish(), at, jit)
