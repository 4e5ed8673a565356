"""The hidden cellular modem in the synthetic crane capture (a Teltonika router on STS03).

It boots on the crane LAN (DHCP DORA with a cellular-router vendor class, a gratuitous ARP),
resolves its management cloud, keeps a TLS session to it, sends UDP heartbeats at a fixed
interval with small jitter from its carrier-grade-NAT address, pings the carrier gateway, and
holds an OpenVPN tunnel (UDP 1194) with a full control-channel handshake, keepalives and bursts
of tunnel data: the evidence a finding about a hidden remote-access path rests on.
"""

from __future__ import annotations

from cranewatch.testbed import _synth_apps as app
from cranewatch.testbed._synth_conv import (
    CLIENT,
    OPTS_DESKTOP,
    SERVER,
    Path,
    TcpConversation,
    UdpConversation,
)
from cranewatch.testbed._synth_flows import ms, periodic, sessions
from cranewatch.testbed._synth_plant import MODEM_CLOUD, Crane, imei
from cranewatch.testbed._synth_services import BROADCAST, S, ServiceTraffic
from cranewatch.testbed._synth_wire import (
    ETH_ARP,
    ETH_IPV4,
    FrameBuilder,
    FrameTemplate,
    Link,
    Payload,
    Var,
    cat,
    ip_bytes,
)


class ModemTraffic(ServiceTraffic):
    """Flows of the hidden modem (see the module docstring)."""

    def modem(self) -> None:
        p = self.plant
        if p.modem_at is None:
            return
        c = p.cranes[p.modem_at]
        self.dhcp(c)
        wan_path = Path(p.modem_wan, p.carrier_dns, c.tags, c.gw, hops=3)
        f = self.flow("dns modem", "dns", delay_ns=ms(30))
        conv = UdpConversation(f, wan_path, f.random(lo=32768, span=28232), 53)
        variants = self.dns_variants(f, conv, MODEM_CLOUD)
        f.schedule = periodic(f, start_ns=ms(600), period_ns=60 * S, jitter_ns=S,
                              variants=variants)  # fmt: skip

        f = self.flow("heartbeat modem", "heartbeat", delay_ns=ms(30))
        conv = UdpConversation(
            f, Path(p.modem_wan, p.heartbeat, c.tags, c.gw, hops=12), 40123, 17001
        )
        seq = f.counter(init=1)
        v = f.variant("beat")
        conv.send(v, CLIENT, app.heartbeat(imei(), seq, -71), 0)
        conv.send(v, SERVER, cat(b"HBACK", Var(seq, 4)), ms(60), jit=True)
        f.step(v, seq, 1)
        f.schedule = periodic(f, start_ns=ms(900), period_ns=15 * S, jitter_ns=ms(40), variants=[v])

        f = self.flow("icmp modem ping-check", "icmp", delay_ns=ms(20))
        path = Path(p.modem_wan, p.carrier_gw, c.tags, c.gw)
        self.echo(f, path, ident=0x0A11, from_b=False, interval=60 * S, start=ms(1300))

        f = self.flow("tls modem > rms", "tls", delay_ns=ms(25))
        sport = f.counter(lo=49152, span=16384, jump=9)
        path = Path(p.modem, p.rms, c.tags, c.gw, hops=12)
        tcp = TcpConversation(f, path, sport, 443, server_window=65535, server_opts=OPTS_DESKTOP)
        v_open, v_close, polls = self.tls_variants(f, tcp, "rms.modem-cloud.example", ms(48), 1)
        f.jump_on(sport, v_close)
        f.schedule = sessions(
            f, start_ns=ms(1200), period_ns=5 * S, jitter_ns=ms(500), open_v=v_open,
            close_v=v_close, polls=polls, weights=[0.3, 0.7], length=(3, 10),
            gap_ns=(60 * S, 180 * S), begin_open=True,
        )  # fmt: skip
        self.openvpn(c)

    def dhcp(self, c: Crane) -> None:
        p = self.plant
        f = self.flow("dhcp modem", "dhcp", delay_ns=ms(2))
        xid = f.random()
        m, gw = p.modem, c.gw
        client = [
            (61, b"\x01" + bytes(int(x, 16) for x in m.mac.split(":"))),
            (12, b"RUT240"),
            (60, b"Teltonika-RUT240"),
            (55, bytes([1, 3, 6, 12, 15, 28, 42, 51, 58, 59])),
        ]
        lease = [
            (54, ip_bytes(gw.ip)), (51, (600).to_bytes(4, "big")), (58, (300).to_bytes(4, "big")),
            (59, (525).to_bytes(4, "big")), (1, ip_bytes("255.255.255.0")),
            (3, ip_bytes(gw.ip)), (6, ip_bytes(p.dns.ip)), (15, f"{c.name}.crane.port.example".encode()),
        ]  # fmt: skip
        to_server, to_client = Link(m.mac, BROADCAST, c.tags), Link(gw.mac, m.mac, c.tags)

        def udp(
            link: Link, src: str, dst: str, sport: int, body: Payload, kind: str = "dhcp"
        ) -> FrameTemplate:
            fb = FrameBuilder(kind).eth(link, ETH_IPV4)
            fb.ipv4(src, dst, 17, ttl=64, ident=0, df=False, tos=0x10 if sport == 68 else 0)
            return fb.udp(sport, 135 - sport).payload(body).finish()

        dora = f.variant("dora")
        steps = [
            (to_server, "0.0.0.0", "255.255.255.255", 68, app.dhcp(1, xid, m.mac, [(53, b"\x01"), (57, b"\x02\x40"), *client])),
            (to_client, gw.ip, m.ip, 67, app.dhcp(2, xid, m.mac, [(53, b"\x02"), *lease], yiaddr=m.ip, siaddr=gw.ip)),
            (to_server, "0.0.0.0", "255.255.255.255", 68, app.dhcp(1, xid, m.mac, [(53, b"\x03"), (50, ip_bytes(m.ip)), (54, ip_bytes(gw.ip)), *client])),
            (to_client, gw.ip, m.ip, 67, app.dhcp(2, xid, m.mac, [(53, b"\x05"), *lease], yiaddr=m.ip, siaddr=gw.ip)),
        ]  # fmt: skip
        for k, (link, src, dst, sport, body) in enumerate(steps):
            f.add(dora, udp(link, src, dst, sport, body), ms(2) * k, jit=k > 0)
        garp = app.arp(1, m.mac, m.ip, "00:00:00:00:00:00", m.ip)
        f.add(dora, FrameBuilder("arp").eth(to_server, ETH_ARP).payload(garp).finish(), ms(60))
        renew = f.variant("renew")
        unicast = Link(m.mac, gw.mac, c.tags)
        body = app.dhcp(1, xid, m.mac, [(53, b"\x03"), *client], ciaddr=m.ip)
        f.add(renew, udp(unicast, m.ip, gw.ip, 68, body), 0)
        body = app.dhcp(2, xid, m.mac, [(53, b"\x05"), *lease], ciaddr=m.ip, yiaddr=m.ip)
        f.add(renew, udp(to_client, gw.ip, m.ip, 67, body), ms(1.5), jit=True)
        f.schedule = periodic(f, start_ns=ms(350), period_ns=300 * S, jitter_ns=S,
                              variants=[renew], first=[dora])  # fmt: skip

    def openvpn(self, c: Crane) -> None:
        """The modem's OpenVPN tunnel: handshake, keepalives every 10 s, bursts of tunnel data."""
        p = self.plant
        path = Path(p.modem, p.vpn, c.tags, c.gw, hops=12)
        rtt = ms(52)
        sc, ss = self.noise(8), self.noise(8)
        noise = self.noise(512)
        f = self.flow("openvpn modem control", "openvpn", delay_ns=ms(15))
        conv = UdpConversation(f, path, 41873, 1194)
        hello = app.tls_client_hello("vpn.modem-cloud.example", self.noise(96))
        flight = app.tls_server_hello(hello[44:76], self.noise(96), noise, 980)
        ctl = app.ovpn_control
        hs = f.variant("handshake")
        msgs = [
            (CLIENT, 0, ctl(app.P_HARD_RESET_CLIENT_V2, sc, [], ss, 0)),
            (SERVER, rtt, ctl(app.P_HARD_RESET_SERVER_V2, ss, [0], sc, 0)),
            (CLIENT, rtt + ms(0.3), ctl(app.P_ACK_V1, sc, [0], ss, None)),
            (CLIENT, rtt + ms(0.5), ctl(app.P_CONTROL_V1, sc, [], ss, 1, hello)),
            (SERVER, 2 * rtt, ctl(app.P_CONTROL_V1, ss, [1], sc, 1, flight)),
            (CLIENT, 2 * rtt + ms(0.4), ctl(app.P_ACK_V1, sc, [1], ss, None)),
            (CLIENT, 2 * rtt + ms(3), ctl(app.P_CONTROL_V1, sc, [], ss, 2,
                                          app.tls_record(20, b"\x01") + app.tls_app_data(noise, 53))),
            (SERVER, 3 * rtt, ctl(app.P_CONTROL_V1, ss, [2], sc, 2, app.tls_app_data(noise, 250))),
            (CLIENT, 3 * rtt + ms(0.4), ctl(app.P_ACK_V1, sc, [2], ss, None)),
            (CLIENT, 3 * rtt + ms(2), ctl(app.P_CONTROL_V1, sc, [], ss, 3, app.tls_app_data(noise, 61))),
            (SERVER, 4 * rtt, ctl(app.P_CONTROL_V1, ss, [3], sc, 3, app.tls_app_data(noise, 420))),
            (CLIENT, 4 * rtt + ms(0.4), ctl(app.P_ACK_V1, sc, [3], ss, None)),
        ]  # fmt: skip
        for side, at, msg in msgs:
            conv.send(hs, side, msg, at)
        pid = f.counter(init=1), f.counter(init=1)
        keep = f.variant("keepalive")
        conv.send(keep, CLIENT, app.ovpn_data(5, pid[0], noise, 49), 0)
        conv.send(keep, SERVER, app.ovpn_data(5, pid[1], noise, 49), rtt, jit=True)
        f.step(keep, pid[0], 1)
        f.step(keep, pid[1], 1)
        f.schedule = periodic(f, start_ns=ms(2000), period_ns=10 * S, jitter_ns=ms(20),
                              variants=[keep], first=[hs])  # fmt: skip

        f = self.flow("openvpn modem data", "openvpn", delay_ns=ms(20))
        conv = UdpConversation(f, path, 41873, 1194)
        pid = f.counter(init=100), f.counter(init=100)
        variants = []
        for name, sizes in [("start", [(CLIENT, 120)]), ("end", [(CLIENT, 88)]),
                            ("c2s", [(CLIENT, 136), (SERVER, 88)]),
                            ("s2c", [(CLIENT, 88), (SERVER, 1180), (SERVER, 1180), (SERVER, 540)]),
                            ("both", [(CLIENT, 420), (SERVER, 310)])]:  # fmt: skip
            v = f.variant(name)
            count = [0, 0]
            for k, (side, size) in enumerate(sizes):
                at = 0 if k == 0 else rtt + 200_000 * (k - 1)
                conv.send(
                    v, side, app.ovpn_data(5, pid[side] + count[side], noise, size), at, k > 0
                )
                count[side] += 1
            f.step(v, pid[0], count[0])
            f.step(v, pid[1], count[1])
            variants.append(v)
        f.schedule = sessions(
            f, start_ns=ms(5000), period_ns=ms(120), jitter_ns=ms(30), open_v=variants[0],
            close_v=variants[1], polls=variants[2:], weights=[0.5, 0.3, 0.2], length=(150, 900),
            gap_ns=(60 * S, 200 * S), begin_open=True,
        )  # fmt: skip
