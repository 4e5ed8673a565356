"""Application payloads of the synthetic crane traffic, built by hand to the wire formats.

Modbus/TCP, S7comm over TPKT/COTP, OPC UA binary, TLS 1.3 hellos and records, OpenVPN, DNS,
DHCP, LLDP, PROFINET DCP, ARP, NTP, ICMP/ICMPv6 and a modem heartbeat. Each builder returns a
:class:`~cranewatch.testbed._synth_wire.Payload` whose changing fields (transaction ids,
sequence numbers, register values) are :class:`~cranewatch.testbed._synth_wire.Var` placeholders
for the kernel. No library fits: the protocol stacks a user would run (pymodbus, python-snap7,
asyncua) need live endpoints and cannot emit millions of frames a second, and packet libraries
(scapy, dpkt) have no notion of a field patched later. Formats follow the specifications and
were checked field by field against tshark 4.0's dissectors (0 malformed frames).
"""

from __future__ import annotations

import struct

from cranewatch.testbed._synth_wire import Payload, Ref, Var, cat, ip_bytes, mac_bytes, u32


# -- Modbus/TCP ----------------------------------------------------------------------------
def mbap(tid: Ref, unit: int, pdu: Payload | bytes) -> Payload:
    body = cat(pdu)
    return cat(tid, 0, len(body) + 1, bytes([unit]), body)


def modbus_read_request(tid: Ref, unit: int, fc: int, addr: int, qty: int) -> Payload:
    return mbap(tid, unit, struct.pack(">BHH", fc, addr, qty))


def modbus_read_response(
    tid: Ref, unit: int, fc: int, qty: int, value: Ref, filler: bytes
) -> Payload:
    data = cat(Var(value, 4), filler[: 2 * qty - 4].ljust(2 * qty - 4, b"\x00"))
    return mbap(tid, unit, cat(bytes([fc, 2 * qty]), data))


def modbus_write_single(tid: Ref, unit: int, addr: int, value: Ref) -> Payload:
    return mbap(tid, unit, cat(struct.pack(">BH", 6, addr), value))


def modbus_write_multiple_request(
    tid: Ref, unit: int, addr: int, qty: int, value: Ref, filler: bytes
) -> Payload:
    data = cat(Var(value, 4), filler[: 2 * qty - 4].ljust(2 * qty - 4, b"\x00"))
    return mbap(tid, unit, cat(struct.pack(">BHHB", 16, addr, qty, 2 * qty), data))


def modbus_write_multiple_response(tid: Ref, unit: int, addr: int, qty: int) -> Payload:
    return mbap(tid, unit, struct.pack(">BHH", 16, addr, qty))


def modbus_exception(tid: Ref, unit: int, fc: int, code: int) -> Payload:
    return mbap(tid, unit, bytes([fc | 0x80, code]))


# -- S7comm over TPKT/COTP ---------------------------------------------------------------
def tpkt(body: Payload | bytes) -> Payload:
    inner = cat(body)
    return cat(b"\x03\x00", len(inner) + 4, inner)


def cotp_connect(
    confirm: bool, src_ref: int, dst_ref: int, src_tsap: int, dst_tsap: int
) -> Payload:
    params = struct.pack(">BBH BBH BBB", 0xC1, 2, src_tsap, 0xC2, 2, dst_tsap, 0xC0, 1, 0x0A)
    body = struct.pack(">BHHB", 0xD0 if confirm else 0xE0, dst_ref, src_ref, 0) + params
    return tpkt(bytes([len(body)]) + body)


def s7(rosctr: int, pduref: Ref, params: bytes, data: bytes | Payload = b"") -> Payload:
    body = cat(data)
    err = b"\x00\x00" if rosctr in (2, 3) else b""
    header = cat(bytes([0x32, rosctr]), 0, pduref, len(params), len(body), err)
    return tpkt(cat(b"\x02\xf0\x80", header, params, body))


S7_SETUP = struct.pack(">BBHHH", 0xF0, 0, 1, 1, 480)


def s7_item(db: int, start: int, nbytes: int) -> bytes:
    """An S7ANY address: ``nbytes`` bytes of data block ``db`` from byte ``start``."""
    bit = start * 8
    return struct.pack(">BBBBHHB", 0x12, 0x0A, 0x10, 0x02, nbytes, db, 0x84) + bit.to_bytes(
        3, "big"
    )


def s7_read_job(pduref: Ref, items: list[tuple[int, int, int]]) -> Payload:
    return s7(1, pduref, bytes([4, len(items)]) + b"".join(s7_item(*i) for i in items))


def s7_read_ack(
    pduref: Ref, items: list[tuple[int, int, int]], value: Ref, filler: bytes
) -> Payload:
    parts: list[bytes | Var] = []
    for k, (_, _, n) in enumerate(items):
        parts.append(struct.pack(">BBH", 0xFF, 0x04, n * 8))
        if k == 0:
            parts += [Var(value, 4), filler[: n - 4].ljust(n - 4, b"\x00")]
        else:
            parts.append(filler[:n].ljust(n, b"\x00"))
        if n % 2 and k < len(items) - 1:
            parts.append(b"\x00")
    return s7(3, pduref, bytes([4, len(items)]), cat(*parts))


def s7_write_job(pduref: Ref, item: tuple[int, int, int], value: Ref) -> Payload:
    n = item[2]
    data = cat(struct.pack(">BBH", 0, 0x04, n * 8), Var(value, 4), bytes(n - 4))
    return s7(1, pduref, bytes([5, 1]) + s7_item(*item), data)


def s7_write_ack(pduref: Ref) -> Payload:
    return s7(3, pduref, bytes([5, 1]), b"\xff")


# -- OPC UA binary -------------------------------------------------------------------------
def ua_string(text: str | None) -> bytes:
    if text is None:
        return struct.pack("<i", -1)
    raw = text.encode()
    return struct.pack("<i", len(raw)) + raw


UA_POLICY_NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"
UA_TIME = 133_550_000_000_000_000  # a DateTime (100 ns ticks since 1601) in March 2024


def ua_message(kind: bytes, body: Payload | bytes) -> Payload:
    inner = cat(body)
    return cat(kind + b"F", u32(len(inner) + 8, little=True), inner)


def ua_hello(url: str) -> Payload:
    return ua_message(b"HEL", struct.pack("<5I", 0, 65536, 65536, 0, 0) + ua_string(url))


def ua_ack() -> Payload:
    return ua_message(b"ACK", struct.pack("<5I", 0, 65536, 65536, 2_097_152, 0))


def _ua_request_header(handle: Ref) -> Payload:
    return cat(
        b"\x00\x00",
        struct.pack("<q", UA_TIME),
        Var(handle, 4, True),
        struct.pack("<I", 0),
        ua_string(None),
        struct.pack("<I", 10_000),
        b"\x00\x00\x00",
    )


def _ua_response_header(handle: Ref) -> Payload:
    return cat(
        struct.pack("<q", UA_TIME + 5_000),
        Var(handle, 4, True),
        struct.pack("<I", 0),
        b"\x00",
        struct.pack("<i", -1),
        b"\x00\x00\x00",
    )


def _ua_type(numeric_id: int) -> bytes:
    return struct.pack("<BBH", 0x01, 0, numeric_id)


def ua_open_request(seq: Ref, req: Ref, handle: Ref) -> Payload:
    body = cat(
        struct.pack("<I", 0), ua_string(UA_POLICY_NONE), struct.pack("<ii", -1, -1),
        Var(seq, 4, True), Var(req, 4, True), _ua_type(446), _ua_request_header(handle),
        struct.pack("<III", 0, 0, 1), struct.pack("<i", 0), struct.pack("<I", 3_600_000),
    )  # fmt: skip
    return ua_message(b"OPN", body)


def ua_open_response(chan: Ref, token: Ref, seq: Ref, req: Ref, handle: Ref) -> Payload:
    body = cat(
        Var(chan, 4, True), ua_string(UA_POLICY_NONE), struct.pack("<ii", -1, -1),
        Var(seq, 4, True), Var(req, 4, True), _ua_type(449), _ua_response_header(handle),
        struct.pack("<I", 0), Var(chan, 4, True), Var(token, 4, True),
        struct.pack("<qI", UA_TIME, 3_600_000), struct.pack("<i", 0),
    )  # fmt: skip
    return ua_message(b"OPN", body)


def _ua_symmetric(chan: Ref, token: Ref, seq: Ref, req: Ref) -> Payload:
    return cat(Var(chan, 4, True), Var(token, 4, True), Var(seq, 4, True), Var(req, 4, True))


def ua_read_request(
    chan: Ref, token: Ref, seq: Ref, req: Ref, handle: Ref, nodes: list[str]
) -> Payload:
    ids = b"".join(
        b"\x03" + struct.pack("<H", 3) + ua_string(node) + struct.pack("<I", 13)
        + ua_string(None) + struct.pack("<H", 0) + ua_string(None)
        for node in nodes
    )  # fmt: skip
    body = cat(
        _ua_symmetric(chan, token, seq, req), _ua_type(631), _ua_request_header(handle),
        struct.pack("<dI", 0.0, 2), struct.pack("<i", len(nodes)), ids,
    )  # fmt: skip
    return ua_message(b"MSG", body)


def ua_read_response(
    chan: Ref, token: Ref, seq: Ref, req: Ref, handle: Ref, count: int, value: Ref
) -> Payload:
    results: list[bytes | Var] = []
    for k in range(count):
        if k % 2 == 0:  # Int32 value (the first one changes) plus source and server timestamps
            number = Var(value, 4, True) if k == 0 else struct.pack("<i", 1000 * k + 7)
            results += [b"\x0d\x06", number, struct.pack("<qq", UA_TIME, UA_TIME)]
        else:  # Float value
            results.append(b"\x01\x0a" + struct.pack("<f", 12.5 * k))
    body = cat(
        _ua_symmetric(chan, token, seq, req), _ua_type(634), _ua_response_header(handle),
        struct.pack("<i", count), *results, struct.pack("<i", -1),
    )  # fmt: skip
    return ua_message(b"MSG", body)


def ua_close(chan: Ref, token: Ref, seq: Ref, req: Ref, handle: Ref) -> Payload:
    body = cat(_ua_symmetric(chan, token, seq, req), _ua_type(452), _ua_request_header(handle))
    return ua_message(b"CLO", body)


# -- TLS 1.3 -------------------------------------------------------------------------------
def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def tls_record(content: int, body: bytes) -> bytes:
    return struct.pack(">BHH", content, 0x0303 if content != 22 else 0x0301, len(body)) + body


def tls_client_hello(sni: str, random: bytes) -> bytes:
    """A TLS 1.3 ClientHello with SNI (``random`` gives 96 bytes of randomness)."""
    name = sni.encode()
    suites = bytes.fromhex("130113021303c02bc02fc02cc030cca9cca8")
    exts = b"".join([
        _ext(0x0000, struct.pack(">HBH", len(name) + 3, 0, len(name)) + name),
        _ext(0x000A, bytes.fromhex("0006001d00170018")),
        _ext(0x000B, bytes.fromhex("0100")),
        _ext(0x000D, bytes.fromhex("00100403080404010503080505010806" "0601")),
        _ext(0x0010, bytes.fromhex("000c02683208687474702f312e31")),
        _ext(0x002B, bytes.fromhex("0403040303")),
        _ext(0x002D, bytes.fromhex("0101")),
        _ext(0x0033, bytes.fromhex("0024001d0020") + random[64:96]),
    ])  # fmt: skip
    body = (
        b"\x03\x03" + random[:32] + b"\x20" + random[32:64]
        + struct.pack(">H", len(suites)) + suites + b"\x01\x00"
        + struct.pack(">H", len(exts)) + exts
    )  # fmt: skip
    return tls_record(22, _handshake(1, body))  # record version 0x0301, as clients send it


def tls_server_hello(session_id: bytes, random: bytes, noise: bytes, encrypted: int) -> bytes:
    """ServerHello, ChangeCipherSpec and one encrypted record of ``encrypted`` bytes."""
    exts = _ext(0x002B, b"\x03\x04") + _ext(0x0033, bytes.fromhex("001d0020") + random[32:64])
    body = (
        b"\x03\x03" + random[:32] + b"\x20" + session_id + b"\x13\x01\x00"
        + struct.pack(">H", len(exts)) + exts
    )  # fmt: skip
    hello = struct.pack(">BHH", 22, 0x0303, len(body) + 4) + _handshake(2, body)
    return hello + tls_record(20, b"\x01") + tls_app_data(noise, encrypted)


def tls_app_data(noise: bytes, length: int) -> bytes:
    body = (noise * (length // max(len(noise), 1) + 1))[:length]
    return tls_record(23, body)


# -- OpenVPN (UDP, no tls-auth) -----------------------------------------------------------
P_CONTROL_V1, P_ACK_V1, P_HARD_RESET_CLIENT_V2, P_HARD_RESET_SERVER_V2, P_DATA_V2 = 4, 5, 7, 8, 9


def ovpn_control(
    opcode: int, session: bytes, acks: list[int], remote: bytes, mpid: int | None, tls: bytes = b""
) -> bytes:
    """A P_CONTROL/P_ACK packet; ``tls`` must not be exactly 100 bytes (tshark reads a fragment)."""
    assert len(tls) != 100
    out = bytes([opcode << 3]) + session + bytes([len(acks)])
    out += b"".join(struct.pack(">I", a) for a in acks) + (remote if acks else b"")
    if mpid is not None:
        out += struct.pack(">I", mpid)
    return out + tls


def ovpn_data(peer_id: int, packet_id: Ref, noise: bytes, length: int) -> Payload:
    head = bytes([P_DATA_V2 << 3]) + peer_id.to_bytes(3, "big")
    return cat(head, Var(packet_id, 4), (noise * (length // len(noise) + 1))[: length - 8])


# -- DNS -----------------------------------------------------------------------------------
def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00"


def dns_query(ident: Ref, name: str) -> Payload:
    return cat(ident, 0x0100, 1, 0, 0, 0, dns_name(name), 1, 1)


def dns_response(ident: Ref, name: str, addrs: list[str], ttl: int = 300) -> Payload:
    rcode = 0x8180 if addrs else 0x8183
    answers = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, ttl, 4) + ip_bytes(a) for a in addrs)
    return cat(ident, rcode, 1, len(addrs), 0, 0, dns_name(name), 1, 1, answers)


# -- DHCP ----------------------------------------------------------------------------------
def dhcp(
    op: int,
    xid: Ref,
    mac: str,
    options: list[tuple[int, bytes]],
    *,
    ciaddr: str = "0.0.0.0",
    yiaddr: str = "0.0.0.0",
    siaddr: str = "0.0.0.0",
) -> Payload:
    head = struct.pack(">BBBB", op, 1, 6, 0)
    addrs = ip_bytes(ciaddr) + ip_bytes(yiaddr) + ip_bytes(siaddr) + bytes(4)
    chaddr = mac_bytes(mac).ljust(16, b"\x00") + bytes(192)
    opts = b"".join(bytes([code, len(v)]) + v for code, v in options) + b"\xff"
    body = cat(head, Var(xid, 4), b"\x00\x00\x00\x00", addrs, chaddr, b"\x63\x82\x53\x63", opts)
    return cat(body, bytes(max(0, 300 - len(body))))


# -- LLDP, PROFINET DCP, ARP ---------------------------------------------------------------
def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">H", (kind << 9) | len(value)) + value


def lldp(
    mac: str, port: str, desc: str, system: str, sysdesc: str, mgmt_ip: str, ifindex: int
) -> bytes:
    return b"".join([
        _tlv(1, b"\x04" + mac_bytes(mac)),
        _tlv(2, b"\x05" + port.encode()),
        _tlv(3, struct.pack(">H", 120)),
        _tlv(4, desc.encode()),
        _tlv(5, system.encode()),
        _tlv(6, sysdesc.encode()),
        _tlv(7, struct.pack(">HH", 0x0014, 0x0014)),
        _tlv(8, b"\x05\x01" + ip_bytes(mgmt_ip) + b"\x02" + struct.pack(">I", ifindex) + b"\x00"),
        _tlv(0, b""),
    ])  # fmt: skip


def dcp_identify_all(xid: Ref) -> Payload:
    return cat(0xFEFE, b"\x05\x00", Var(xid, 4), 0x0080, 4, b"\xff\xff\x00\x00")


def _dcp_block(option: int, sub: int, info: int, data: bytes) -> bytes:
    out = struct.pack(">BBHH", option, sub, len(data) + 2, info) + data
    return out + (b"\x00" if len(out) % 2 else b"")


def dcp_identify_response(
    xid: Ref, name: str, vendor: str, ids: tuple[int, int], role: int, ip: str, mask: str, gw: str
) -> Payload:
    blocks = b"".join([
        _dcp_block(2, 2, 0, name.encode()),
        _dcp_block(2, 1, 0, vendor.encode()),
        _dcp_block(2, 3, 0, struct.pack(">HH", *ids)),
        _dcp_block(2, 4, 0, bytes([role, 0])),
        _dcp_block(2, 5, 0, bytes.fromhex("01020201020202030204")),
        _dcp_block(1, 2, 1, ip_bytes(ip) + ip_bytes(mask) + ip_bytes(gw)),
    ])  # fmt: skip
    return cat(0xFEFF, b"\x05\x01", Var(xid, 4), 0, len(blocks), blocks)


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    head = struct.pack(">HHBBH", 1, 0x0800, 6, 4, op)
    return head + mac_bytes(sha) + ip_bytes(spa) + mac_bytes(tha) + ip_bytes(tpa)


# -- NTP, ICMP, ICMPv6, heartbeat ----------------------------------------------------------
NTP_EPOCH_2024 = 3_918_700_800  # 2024-03-06 in NTP seconds (since 1900)


def ntp(server: bool, stamp: Ref) -> Payload:
    """An NTPv4 client request or server reply; ``stamp`` holds NTP seconds."""
    if not server:
        return cat(
            struct.pack(">BBbbII", 0x23, 0, 6, -20, 0, 0), bytes(28), Var(stamp, 4), bytes(4)
        )
    return cat(
        struct.pack(">BBbbII", 0x24, 2, 6, -23, 0x120, 0xA10), ip_bytes("10.10.0.123"),
        Var(stamp + -64, 4), bytes(4), Var(stamp, 4), bytes(4),
        Var(stamp, 4), b"\x00\x10\x00\x00", Var(stamp, 4), b"\x00\x20\x00\x00",
    )  # fmt: skip


def icmp_echo_body(ident: int, seq: Ref, data: bytes) -> Payload:
    return cat(ident, seq, data)


def icmp6_ns(target: str, mac: str) -> bytes:
    return bytes(4) + ip_bytes(target) + b"\x01\x01" + mac_bytes(mac)


def icmp6_na(target: str, mac: str) -> bytes:
    return b"\x60\x00\x00\x00" + ip_bytes(target) + b"\x02\x01" + mac_bytes(mac)


def heartbeat(imei: str, seq: Ref, rssi: int) -> Payload:
    """The modem's keep-alive to its management cloud: magic, IMEI, counter, signal strength."""
    return cat(b"HB\x01", imei.encode(), Var(seq, 4), bytes([rssi & 0xFF]), b"LTE\x00")
