"""The traffic of the synthetic crane capture: every flow, its variants, rates and timing.

Rates are those of a busy crane LAN (about 1,100 frames a second over six cranes): the
management PC polls each drive over Modbus/TCP every 100 ms and each remote I/O every 200 ms,
reads the PLC over S7comm every 50 ms, the HMI reads the PLC over OPC UA every 100 ms, the NOC
pings every crane each second. Rare traffic (DHCP, ARP, LLDP, PROFINET DCP, DNS, TLS, OpenVPN,
the modem heartbeat, IPv6, fragments) starts within the first three seconds, so even a
20,000-frame capture contains every protocol; it then repeats at its natural interval.
Sessions last minutes and reconnect on the same 4-tuple with new initial sequence numbers; one
drive (STS02 hoist) is flaky: its first reconnect comes within 6 s, then every 15-40 s.

With another plant (:func:`~cranewatch.testbed._synth_plant.plant_from_port`) the same rules
apply by crane number ``n`` (1-based in the plant): the first drive of crane 2 is flaky,
cranes 2, 5, 8, ... answer PROFINET DCP scans, IPv6 runs on the first crane, fragments on the
second (the first if there is one crane), and the modem sits where the plant puts it, if any.
"""

from __future__ import annotations

from cranewatch.testbed import _synth_apps as app
from cranewatch.testbed._synth_conv import CLIENT, SERVER, Host, Path, TcpConversation
from cranewatch.testbed._synth_flows import Flow, ms, periodic, sessions
from cranewatch.testbed._synth_modem import ModemTraffic
from cranewatch.testbed._synth_plant import Crane, Plant
from cranewatch.testbed._synth_services import S
from cranewatch.testbed._synth_wire import FrameBuilder, Link, Payload

ETH_PROFINET = 0x8892


class Traffic(ModemTraffic):
    """Builds all flows of one capture; :meth:`build` returns them."""

    def build(self) -> list[Flow]:
        p = self.plant
        for c in p.cranes:
            # a crane of a port model may lack a role (an ASC has no management PC or HMI) and
            # get another component for it; a conversation of a host with itself is left out
            for i, drive in enumerate(c.drives):
                flaky = c.n == 2 and i == 0
                if drive is not c.cms:
                    self.modbus(c, drive, 100, flaky=flaky, begin_open=c.n == 4)
            for dev in c.rio:
                if dev is not c.cms:
                    self.modbus(c, dev, 200, flaky=False, begin_open=False)
            if c.cms is not c.plc:
                self.s7(c, begin_open=c.n == 5)
            if c.hmi is not c.plc:
                self.opcua(c, begin_open=c.n in (1, 6))
            self.ping(c, c.hmi, qinq=False)
            self.ping(c, c.plc, qinq=c.n == 6)
            self.arp(c)
            self.lldp(c)
            self.dns_cms(c)
            self.tls_telemetry(c)
            if c.n % 3 == 2:
                self.dcp(c)
        self.modem()
        self.ipv6(p.cranes[0])
        self.fragments(p.cranes[min(1, len(p.cranes) - 1)])
        return self.flows

    # -- industrial protocols --------------------------------------------------------------
    def modbus(self, c: Crane, dev: Host, period: int, *, flaky: bool, begin_open: bool) -> None:
        f = self.flow(f"modbus {c.cms.name} > {dev.name}", "modbus", delay_ns=ms(3))
        sport = 49700 + 10 * c.n + int(dev.ip.rsplit(".", 1)[1]) % 10
        conv = TcpConversation(f, Path(c.cms, dev, c.tags), sport, 502, server_window=2048)
        tid, val = f.counter(span=1 << 16), f.random()
        filler = self.noise(40)

        def poll(name: str, req: Payload, resp: Payload, ack: bool = False) -> int:
            v = f.variant(name)
            conv.send(v, CLIENT, req, 0)
            conv.send(v, SERVER, resp, ms(0.8), jit=True)
            if ack:
                conv.ack(v, CLIENT, ms(1.0))
            f.step(v, tid, 1)
            return v

        polls = [
            poll("fc3", app.modbus_read_request(tid, 1, 3, 0, 12),
                 app.modbus_read_response(tid, 1, 3, 12, val, filler)),
            poll("fc3+ack", app.modbus_read_request(tid, 1, 3, 0, 12),
                 app.modbus_read_response(tid, 1, 3, 12, val, filler), ack=True),
            poll("fc4", app.modbus_read_request(tid, 1, 4, 100, 8),
                 app.modbus_read_response(tid, 1, 4, 8, val, filler)),
            poll("fc6", app.modbus_write_single(tid, 1, 2, val),
                 app.modbus_write_single(tid, 1, 2, val)),
            poll("fc16", app.modbus_write_multiple_request(tid, 1, 10, 4, val, filler),
                 app.modbus_write_multiple_response(tid, 1, 10, 4)),
            poll("exception", app.modbus_read_request(tid, 1, 3, 9000, 2),
                 app.modbus_exception(tid, 1, 3, 2)),
        ]  # fmt: skip
        v_open, v_close = f.variant("open"), f.variant("close")
        conv.handshake(v_open, 0, ms(0.4))
        conv.close(v_close, 0, ms(0.5))
        f.schedule = sessions(
            f, start_ns=ms(200 + 37 * len(self.flows) % 1500), period_ns=ms(period),
            jitter_ns=ms(3), open_v=v_open, close_v=v_close, polls=polls,
            weights=[0.45, 0.2, 0.2, 0.07, 0.06, 0.02],
            length=(150, 400) if flaky else (3000, 9000) if period == 100 else (1500, 4500),
            gap_ns=(ms(800), ms(3000)), begin_open=begin_open,
            first_length=(20, 60) if flaky else None,  # a reconnect within the first 6 s
        )  # fmt: skip

    def s7(self, c: Crane, *, begin_open: bool) -> None:
        f = self.flow(f"s7comm {c.cms.name} > {c.plc.name}", "s7comm", delay_ns=ms(2))
        conv = TcpConversation(f, Path(c.cms, c.plc, c.tags), 50100 + c.n, 102)
        pdu, val = f.counter(span=1 << 16), f.random()
        filler = self.noise(64)
        v_open = f.variant("open")
        t = conv.handshake(v_open, 0, ms(0.3))
        conv.send(v_open, CLIENT, app.cotp_connect(False, 0x0001, 0, 0x0100, 0x0102), t + 100_000)
        conv.send(
            v_open, SERVER, app.cotp_connect(True, 0x4431, 0x0001, 0x0100, 0x0102), t + ms(0.6)
        )
        conv.send(v_open, CLIENT, app.s7(1, pdu, app.S7_SETUP), t + ms(0.7))
        conv.send(v_open, SERVER, app.s7(3, pdu, app.S7_SETUP), t + ms(1.3))
        f.step(v_open, pdu, 1)
        one = [(10, 0, 20)]
        three = [(10, 0, 64), (11, 0, 120), (20, 100, 7)]
        block = [(30, 0, 440)]  # a whole recipe/diagnostic DB, close to the 480-byte PDU
        filler = self.noise(440)
        polls = []
        for name, job, ack, extra in [
            ("read1", app.s7_read_job(pdu, one), app.s7_read_ack(pdu, one, val, filler), False),
            ("read1+ack", app.s7_read_job(pdu, one), app.s7_read_ack(pdu, one, val, filler), True),
            ("read3", app.s7_read_job(pdu, three), app.s7_read_ack(pdu, three, val, filler), False),
            ("block", app.s7_read_job(pdu, block), app.s7_read_ack(pdu, block, val, filler), True),
            ("write", app.s7_write_job(pdu, (12, 4, 8), val), app.s7_write_ack(pdu), False),
        ]:
            v = f.variant(name)
            conv.send(v, CLIENT, job, 0)
            conv.send(v, SERVER, ack, ms(0.5), jit=True)
            if extra:
                conv.ack(v, CLIENT, ms(0.7))
            f.step(v, pdu, 1)
            polls.append(v)
        v_close = f.variant("close")
        conv.close(v_close, 0, ms(0.4))
        f.schedule = sessions(
            f, start_ns=ms(150 + 90 * c.n), period_ns=ms(50), jitter_ns=ms(2), open_v=v_open,
            close_v=v_close, polls=polls, weights=[0.45, 0.15, 0.2, 0.15, 0.05], length=(6000, 20000),
            gap_ns=(ms(500), ms(2000)), begin_open=begin_open,
        )  # fmt: skip

    def opcua(self, c: Crane, *, begin_open: bool) -> None:
        f = self.flow(f"opcua {c.hmi.name} > {c.plc.name}", "opcua", delay_ns=ms(4))
        conv = TcpConversation(f, Path(c.hmi, c.plc, c.tags), 51200 + c.n, 4840)
        chan = f.counter(lo=1, span=1 << 20, jump=1000)
        token = f.counter(lo=1, span=1 << 20, jump=100)
        start = int(f.rng.integers(50, 50_000))  # messages this channel sent before the capture
        seq = f.counter(init=start, lo=1, span=1 << 30)
        req = f.counter(init=start, lo=1, span=1 << 30)
        val = f.random()
        handle = req + 1
        v_open = f.variant("open")
        t = conv.handshake(v_open, 0, ms(0.3))
        conv.send(v_open, CLIENT, app.ua_hello(f"opc.tcp://{c.plc.ip}:4840"), t + 100_000)
        conv.send(v_open, SERVER, app.ua_ack(), t + ms(0.9))
        conv.send(v_open, CLIENT, app.ua_open_request(seq, req, handle), t + ms(1.1))
        conv.send(v_open, SERVER, app.ua_open_response(chan, token, seq, req, handle), t + ms(2.5))
        f.step(v_open, seq, 1)
        f.step(v_open, req, 1)
        polls = []
        tags = (
            "HoistSpeed",
            "TrolleyPos",
            "Load",
            "Wind",
            "GantryPos",
            "BoomAngle",
            "SpreaderLocked",
            "TwistlockState",
            "HoistTorque",
            "TrolleyTorque",
            "Sway",
            "Mode",
        )
        ids = [f'"DB_{c.name}"."{tag}"' for tag in tags]
        for name, nodes, ack in [
            ("read2", 2, False),
            ("read4", 4, False),
            ("read4+ack", 4, True),
            ("read12", 12, True),
        ]:
            v = f.variant(name)
            conv.send(v, CLIENT, app.ua_read_request(chan, token, seq, req, handle, ids[:nodes]), 0)
            resp = app.ua_read_response(chan, token, seq, req, handle, nodes, val)
            conv.send(v, SERVER, resp, ms(1.5), jit=True)
            if ack:
                conv.ack(v, CLIENT, ms(1.7))
            f.step(v, seq, 1)
            f.step(v, req, 1)
            polls.append(v)
        v_close = f.variant("close")
        conv.send(v_close, CLIENT, app.ua_close(chan, token, seq, req, handle), 0)
        conv.close(v_close, ms(0.2), ms(0.4))
        f.step(v_close, seq, 1)
        f.step(v_close, req, 1)
        f.jump_on(chan, v_close)
        f.jump_on(token, v_close)
        f.schedule = sessions(
            f, start_ns=ms(250 + 110 * c.n), period_ns=ms(100), jitter_ns=ms(3), open_v=v_open,
            close_v=v_close, polls=polls, weights=[0.45, 0.25, 0.15, 0.15], length=(1500, 6000),
            gap_ns=(ms(1000), ms(5000)), begin_open=begin_open,
        )  # fmt: skip

    def dcp(self, c: Crane) -> None:
        """A PROFINET DCP Identify-All scan from the management PC and the devices' answers."""
        f = self.flow(f"pn_dcp {c.name}", "pn_dcp", delay_ns=ms(5))
        xid = f.counter(span=1 << 32)
        v = f.variant("identify")
        req = FrameBuilder("pn_dcp").eth(Link(c.cms.mac, "01:0e:cf:00:00:00", c.tags), ETH_PROFINET)
        f.add(v, req.payload(app.dcp_identify_all(xid)).finish(), 0)
        answers = [
            (c.plc, "S7-1500", (0x002A, 0x010E), 0x02),
            (c.pnio, "ET 200SP", (0x002A, 0x0313), 0x01),
        ]
        for k, (dev, vendor, ids, role) in enumerate(answers):
            body = app.dcp_identify_response(
                xid, dev.name, vendor, ids, role, dev.ip, "255.255.255.0", c.gw.ip
            )
            fb = FrameBuilder("pn_dcp").eth(Link(dev.mac, c.cms.mac, c.tags), ETH_PROFINET)
            f.add(v, fb.payload(body).finish(), ms(4 + 31 * k), jit=True)
        f.step(v, xid, 1)
        start = ms(1000 if c.n == 2 else 2500)
        f.schedule = periodic(f, start_ns=start, period_ns=300 * S, jitter_ns=ms(50), variants=[v])


def build_traffic(seed: int, epoch_ns: int, plant: Plant | None = None) -> list[Flow]:
    return Traffic(seed, epoch_ns, plant).build()
