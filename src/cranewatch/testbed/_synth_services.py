"""Port and network services in the synthetic crane capture: the plumbing around the cranes.

ICMP monitoring from the NOC (one crane's pings cross a provider bridge in QinQ), ARP, LLDP from
the crane switches, DNS, TLS uploads to the crane vendor's telemetry service, IPv6 (neighbour
discovery, NTP, syslog) and fragmented IPv4 syslog datagrams. :class:`TrafficBase` holds what
every flow builder shares (the seed, the plant, the list of flows).
"""

from __future__ import annotations

import ipaddress

import numpy as np

from cranewatch.testbed import _synth_apps as app
from cranewatch.testbed._synth_conv import (
    CLIENT,
    OPTS_DESKTOP,
    SERVER,
    Host,
    Path,
    TcpConversation,
    UdpConversation,
)
from cranewatch.testbed._synth_flows import Flow, ms, periodic, sessions
from cranewatch.testbed._synth_plant import (
    PORT_NAMES,
    QINQ_TAGS,
    VENDOR_TELEMETRY,
    Crane,
    Plant,
    build_plant,
    link_local,
)
from cranewatch.testbed._synth_wire import (
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    FrameBuilder,
    Link,
    ipv4_fragments,
)

ETH_LLDP = 0x88CC
BROADCAST = "ff:ff:ff:ff:ff:ff"
NTP_UNIX_OFFSET = 2_208_988_800
S = 1_000_000_000  # one second in ns


class TrafficBase:
    """The seed, the plant and the flows built so far."""

    def __init__(self, seed: int, epoch_ns: int, plant: Plant | None = None):
        self.seed = seed
        self.epoch_ns = epoch_ns
        self.rng = np.random.default_rng([seed, 0xC4A1E])  # template randomness
        self.plant: Plant = build_plant() if plant is None else plant
        self.flows: list[Flow] = []

    def flow(self, name: str, kind: str, delay_ns: int = 0) -> Flow:
        rng = np.random.default_rng([self.seed, len(self.flows)])
        f = Flow(name, kind, rng, delay_ns=delay_ns)
        self.flows.append(f)
        return f

    def noise(self, n: int) -> bytes:
        return self.rng.bytes(n)


class ServiceTraffic(TrafficBase):
    """Flows of the port's network services (see the module docstring)."""

    def ping(self, c: Crane, target: Host, *, qinq: bool) -> None:
        kind = "icmp_qinq" if qinq else "icmp"
        f = self.flow(f"{kind} noc > {target.name}", kind, delay_ns=ms(0.6))
        path = Path(target, self.plant.noc, QINQ_TAGS if qinq else c.tags, c.gw, hops=2)
        self.echo(f, path, ident=0x1F00 + c.n, from_b=True, interval=S, start=ms(90 + 13 * c.n))

    def echo(
        self, f: Flow, path: Path, *, ident: int, from_b: bool, interval: int, start: int
    ) -> None:
        seq = f.counter(span=1 << 16)
        ids = f.counter(span=1 << 16), f.counter(span=1 << 16)
        data = bytes(range(0x10, 0x38))
        v = f.variant("echo")
        first, second = (SERVER, CLIENT) if from_b else (CLIENT, SERVER)
        for k, (side, icmp_type) in enumerate([(first, 8), (second, 0)]):
            src, dst, ttl = path.ends(side)
            fb = FrameBuilder(f.kind).eth(path.link(side), ETH_IPV4)
            fb.ipv4(src, dst, 1, ttl=ttl, ident=ids[k]).icmp(icmp_type, 0)
            f.add(v, fb.payload(app.icmp_echo_body(ident, seq, data)).finish(), ms(0.2) * k, k > 0)
            f.step(v, ids[k], 1)
        f.step(v, seq, 1)
        f.schedule = periodic(f, start_ns=start, period_ns=interval, jitter_ns=ms(2), variants=[v])

    def arp(self, c: Crane) -> None:
        f = self.flow(f"arp {c.name}", "arp", delay_ns=ms(0.8))
        variants = []
        for target in (c.gw, c.plc, *c.drives, *c.rio):
            v = f.variant(f"who-has {target.ip}")
            req = app.arp(1, c.cms.mac, c.cms.ip, "00:00:00:00:00:00", target.ip)
            rep = app.arp(2, target.mac, target.ip, c.cms.mac, c.cms.ip)
            f.add(v, FrameBuilder("arp").eth(Link(c.cms.mac, BROADCAST, c.tags), ETH_ARP)
                  .payload(req).finish(), 0)  # fmt: skip
            f.add(v, FrameBuilder("arp").eth(Link(target.mac, c.cms.mac, c.tags), ETH_ARP)
                  .payload(rep).finish(), ms(0.2), jit=True)  # fmt: skip
            variants.append(v)
        f.schedule = periodic(
            f, start_ns=ms(400 + 170 * c.n), period_ns=20 * S, jitter_ns=5 * S, variants=variants
        )

    def lldp(self, c: Crane) -> None:
        f = self.flow(f"lldp {c.gw.name}", "lldp")
        v = f.variant("lldp")
        for k, port in enumerate(("1/1", "1/8")):
            body = app.lldp(
                c.gw.mac, port, f"Module: 1 Port: {port[-1]}", c.gw.name,
                "Hirschmann Rail Switch Power Enhanced RSPE35 HiOS-3S 08.7.01", c.gw.ip, k + 1,
            )  # fmt: skip
            fb = FrameBuilder("lldp").eth(Link(c.gw.mac, "01:80:c2:00:00:0e"), ETH_LLDP)
            f.add(v, fb.payload(body).finish(), ms(0.3) * k)
        f.schedule = periodic(
            f, start_ns=ms(60 + 230 * c.n), period_ns=30 * S, jitter_ns=ms(5), variants=[v]
        )

    def dns_variants(self, f: Flow, conv: UdpConversation, names: dict[str, str]) -> list[int]:
        ident = f.random(span=1 << 16)
        out = []
        for name, addr in names.items():
            v = f.variant(name)
            conv.send(v, CLIENT, app.dns_query(ident, name), 0)
            conv.send(v, SERVER, app.dns_response(ident, name, [addr] if addr else []), ms(0.9),
                      jit=True)  # fmt: skip
            out.append(v)
        return out

    def dns_cms(self, c: Crane) -> None:
        f = self.flow(f"dns {c.cms.name}", "dns", delay_ns=ms(3))
        sport = f.random(lo=49152, span=16384)
        conv = UdpConversation(f, Path(c.cms, self.plant.dns, c.tags, c.gw, hops=1), sport, 53)
        variants = self.dns_variants(f, conv, PORT_NAMES)
        f.schedule = periodic(
            f, start_ns=ms(300 + 370 * c.n), period_ns=30 * S, jitter_ns=10 * S, variants=variants
        )

    def tls_variants(
        self, f: Flow, conv: TcpConversation, sni: str, rtt: int, upload: int
    ) -> tuple[int, int, list[int]]:
        noise = self.noise(256)
        v_open = f.variant("open")
        t = conv.handshake(v_open, 0, rtt)
        rand = self.noise(96)
        conv.send(v_open, CLIENT, app.tls_client_hello(sni, rand), t + 200_000)
        flight = app.tls_server_hello(rand[32:64], self.noise(96), noise, 1100)
        conv.send(v_open, SERVER, flight, t + rtt)
        conv.send(v_open, SERVER, app.tls_app_data(noise, 1320), t + rtt + 30_000)
        conv.ack(v_open, CLIENT, t + rtt + 150_000)
        finished = app.tls_record(20, b"\x01") + app.tls_app_data(noise, 53)
        conv.send(v_open, CLIENT, finished, t + rtt + 400_000)
        conv.send(v_open, SERVER, app.tls_app_data(noise, 233) * 2, t + 2 * rtt + 400_000)
        polls = []
        for name, sizes, reply in [("upload", upload, 120), ("poll", 1, 90)]:
            v = f.variant(name)
            for k in range(sizes):
                size = 1360 if k < sizes - 1 else 611
                conv.send(
                    v, CLIENT, app.tls_app_data(noise, size if sizes > 1 else 197), 80_000 * k
                )
            conv.send(v, SERVER, app.tls_app_data(noise, reply), rtt, jit=True)
            conv.ack(v, CLIENT, rtt + 200_000)
            polls.append(v)
        v_close = f.variant("close")
        conv.send(v_close, CLIENT, app.tls_app_data(noise, 19), 0)
        conv.close(v_close, 100_000, rtt)
        return v_open, v_close, polls

    def tls_telemetry(self, c: Crane) -> None:
        f = self.flow(f"tls {c.cms.name} > telemetry", "tls", delay_ns=ms(6))
        sport = f.counter(lo=49152, span=16384, jump=9)
        path = Path(c.cms, self.plant.telemetry, c.tags, c.gw, hops=11)
        conv = TcpConversation(f, path, sport, 443, server_window=65535, server_opts=OPTS_DESKTOP)
        v_open, v_close, polls = self.tls_variants(f, conv, VENDOR_TELEMETRY[0], ms(24), 3)
        f.jump_on(sport, v_close)
        f.schedule = sessions(
            f, start_ns=ms(500 + 410 * c.n), period_ns=2 * S, jitter_ns=ms(200), open_v=v_open,
            close_v=v_close, polls=polls, weights=[0.6, 0.4], length=(2, 7),
            gap_ns=(40 * S, 80 * S), begin_open=True,
        )  # fmt: skip

    def ipv6(self, c: Crane) -> None:
        """Neighbour discovery between the PC and the HMI, NTP and syslog over IPv6 on STS01.

        Only when the crane's PC and switch have IPv6 addresses (always in the fixed plant).
        """
        if not (c.cms.ip6 and c.gw.ip6):
            return
        f = self.flow(f"icmpv6 nd {c.name}", "icmpv6")
        variants = []
        for a, b in ((c.cms, c.hmi), (c.hmi, c.cms)):
            la, lb = link_local(a.mac), link_local(b.mac)
            v = f.variant(f"ns {a.name}")
            tail = ipaddress.ip_address(lb).packed[-3:]
            snm = str(ipaddress.ip_address(bytes.fromhex("ff0200000000000000000001ff") + tail))
            snm_mac = "33:33:ff:" + tail.hex(":")
            ns = FrameBuilder("icmpv6").eth(Link(a.mac, snm_mac, c.tags), ETH_IPV6)
            ns.ipv6(la, snm, 58, hop_limit=255).icmp(135, 0, v6=True)
            f.add(v, ns.payload(app.icmp6_ns(lb, a.mac)).finish(), 0)
            na = FrameBuilder("icmpv6").eth(Link(b.mac, a.mac, c.tags), ETH_IPV6)
            na.ipv6(lb, la, 58, hop_limit=255).icmp(136, 0, v6=True)
            f.add(v, na.payload(app.icmp6_na(lb, b.mac)).finish(), ms(0.4))
            variants.append(v)
        f.schedule = periodic(f, start_ns=ms(700), period_ns=30 * S, jitter_ns=3 * S,
                              variants=variants)  # fmt: skip

        f = self.flow(f"ntp ipv6 {c.name}", "ntp_ipv6", delay_ns=ms(2))
        stamp = f.counter(init=(self.epoch_ns // S + NTP_UNIX_OFFSET + 1) % (1 << 32))
        path = Path(c.cms, self.plant.ntp6, c.tags, c.gw, hops=1)
        conv = UdpConversation(f, path, 123, 123, v6=True)
        v = f.variant("ntp")
        conv.send(v, CLIENT, app.ntp(False, stamp), 0)
        conv.send(v, SERVER, app.ntp(True, stamp), ms(0.7), jit=True)
        f.step(v, stamp, 16)
        f.schedule = periodic(f, start_ns=ms(1100), period_ns=16 * S, jitter_ns=ms(200),
                              variants=[v])  # fmt: skip

        f = self.flow(f"syslog ipv6 {c.name}", "syslog_ipv6")
        path = Path(c.gw, self.plant.syslog6, c.tags, self.plant.core)
        conv = UdpConversation(f, path, 514, 514, v6=True)
        variants = []
        for k, msg in enumerate([
            "Link up on port 1/3", "Link down on port 1/3", "RSTP topology change on port 1/1",
            f"SNMP authentication failure from {c.gw.ip.rsplit('.', 1)[0]}.77", "Port security violation on port 1/6",
        ]):  # fmt: skip
            v = f.variant(f"syslog {k}")
            line = f"<{188 + k % 3}>1 - {c.gw.name} HiOS - - - {msg}"
            conv.send(v, CLIENT, line.encode(), 0)
            variants.append(v)
        f.schedule = periodic(f, start_ns=ms(200), period_ns=S, jitter_ns=ms(400),
                              variants=variants, weights=[3, 3, 1, 1, 1])  # fmt: skip

    def fragments(self, c: Crane) -> None:
        """Large syslog datagrams (diagnostic dumps) from STS02's PC, fragmented by IPv4."""
        f = self.flow(f"syslog fragmented {c.name}", "syslog_fragmented")
        ident = f.counter(span=1 << 16)
        path = Path(c.cms, self.plant.syslog, c.tags, c.gw, hops=1)
        variants = []
        for size in (3900, 2650):
            v = f.variant(f"dump {size}")
            head = f"<134>1 - {c.cms.name} CraneDiag 4242 DUMP - ".encode()
            lines = b"".join(
                f"axis={ax} pos={k * 37 % 1000} speed={k % 90} temp={40 + k % 17}\n".encode()
                for k, ax in enumerate(("hoist", "trolley", "gantry", "boom") * 40)
            )
            frames = ipv4_fragments(
                path.link(CLIENT), c.cms.ip, self.plant.syslog.ip, 51514, 514,
                (head + lines)[:size], ttl=128, ident=ident, kind=f.kind,
            )  # fmt: skip
            for k, tpl in enumerate(frames):
                f.add(v, tpl, 15_000 * k)
            f.step(v, ident, 1)
            variants.append(v)
        f.schedule = periodic(f, start_ns=ms(1600), period_ns=20 * S, jitter_ns=2 * S,
                              variants=variants)  # fmt: skip
