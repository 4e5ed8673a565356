"""The bars of the analyzer issue, checked on the tables ``cranewatch ingest`` writes.

The per-protocol tests (tests/protocols/test_<proto>.py) run each parser on its own. Here every
industrial capture of tests/captures goes through ``cranewatch.ingest.ingest_paths`` once (all
analyzers in one pass, see conftest.py), and the bars are checked on the ``coverage``,
``operations`` and ``identities`` tables, for the compiled tier and for ``compiled_tier=False``:

1. every industrial capture yields its protocol(s) by content, and coverage says honestly which
   flow is encrypted and which began before the capture;
2. per protocol, the sum of ``operations.pdus`` per code equals tshark's stored field counts
   (tests/baselines/protocols), after exactly the rules docs/validation.md names;
3. operations and identities equal the Zeek/ICSNPP logs of tests/captures/zeek-baseline, every
   remaining difference one that docs/validation.md lists (its rule or heading is quoted);
4. both tiers write the same operations, on the real captures and on a synthetic one;
5. the devices' own identification (S7 SZL, Modbus device identification, CIP identity) is in
   ``identities`` with the values Zeek and tshark show.

What a table cannot express (per-PDU details such as a Segment-ACK's PDU type, a CIP connection
id, a PROFINET record index or DCE/RPC interface) is said where it matters, not faked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from tests.runners import plain_rows

from cranewatch.ingest import ingest_paths
from cranewatch.protocols import iec104
from cranewatch.protocols.bacnet import _codes as BACNET
from cranewatch.protocols.dnp3 import ANALYZER as DNP3
from cranewatch.protocols.opcua import transport_code
from cranewatch.protocols.registry import INDUSTRIAL_PROTOCOLS
from cranewatch.store.workspace import Workspace
from cranewatch.testing.protocols import (
    Baseline,
    load_baseline,
    sha256_of,
    tshark_fields,
    zeek_log,
)

TESTS = Path(__file__).resolve().parents[2]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "protocols"
ZEEK = CAPTURES / "zeek-baseline"

Row = dict[str, Any]

# =============================================================================== helpers


def baseline(capture: str, fld: str) -> Baseline:
    """The stored tshark counts of ``fld``, checked to be of this capture's bytes."""
    stored = load_baseline(BASELINES, capture, fld)
    assert stored.sha256 in (None, sha256_of(CAPTURES / capture)), f"{capture}: stale baseline"
    return stored


def pdus(rows: Iterable[Row], key: Any) -> Counter[Any]:
    """Sum of ``pdus`` per ``key(row)`` (rows whose key is None left out)."""
    out: Counter[Any] = Counter()
    for row in rows:
        k = key(row)
        if k is not None:
            out[k] += row["pdus"]
    return +out


def zeek_rows(path: Path) -> list[list[str]]:
    """Data rows of a Zeek log whose ``#fields`` line the origin test cut (btest banner and
    ``#`` lines dropped); columns by position, as the per-protocol tests read them."""
    return [
        line.split("\t")
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    ]


def differences(ours: Counter[Any], theirs: Counter[Any]) -> dict[str, dict[Any, int]]:
    """What one side has more than the other, for readable assertion messages."""
    return {"ours_only": dict(ours - theirs), "theirs_only": dict(theirs - ours)}


# =============================================================================== 1. coverage

#: Every capture of tests/captures and the (protocol, transport) pairs that must be found in it
#: by content: its own protocol and every other one the capture carries that an analyzer knows
#: (tshark's protocol hierarchy in tests/captures/MANIFEST.md). A capture added to
#: tests/captures is ingested by conftest.py and fails test_every_capture_is_listed until it is
#: added here.
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "bacnet_error_reject_abort.pcap": {("bacnet", "udp")},
    "bacnet_ip_icsnpp_example.pcap": {("bacnet", "udp")},
    "bacnet_ip_services_icsnpp.pcap": {("bacnet", "udp"), ("bacnet", "ethernet")},  # + LLC frames
    "bacnet_segmented_data.pcap": {("bacnet", "udp")},
    "cdp_v1_single_frame.pcap": {("cdp", "ethernet")},
    "dhcp_all_message_types.pcap": {("dhcp", "udp")},
    "dnp3_tcp_icsnpp_example.pcap": {("dnp3", "tcp")},
    "dnp3_udp_read_zeek.pcap": {("dnp3", "udp")},
    "dns_mdns_multicast.pcap": {("mdns", "udp")},
    "dns_recursive_queries_edns_ecs.pcap": {("dns", "udp"), ("dns", "tcp")},
    "enip_cip_icsnpp_example.pcap": {("enip", "tcp"), ("enip", "udp"), ("arp", "ethernet"),
                                     ("lldp", "ethernet")},
    "enip_cip_multiple_service_packet.pcapng": {("enip", "tcp")},
    "enip_cip_set_attribute_single.pcapng": {("enip", "tcp")},
    # GTP-U decapsulated by the engine (the carrier), HTTP inside the tunnel
    "gtpv1_cellular_gn_http_ip_fragmented.pcap": {("gtp", "udp"), ("http", "tcp")},
    "iec104_iec60870_5_104.pcap": {("iec104", "tcp")},
    "ipsec_ikev1_main_mode.pcap": {("ike", "udp")},
    "ipsec_ikev2_client_nat_t_fragmented.pcap": {("ike", "udp")},
    "lldp_single_frame.pcap": {("lldp", "ethernet")},
    "modbus_tcp_icsnpp_example.pcap": {("modbus", "tcp")},
    "mqtt_connect_subscribe_publish.pcap": {("mqtt", "tcp")},
    "opcua_binary_encrypted_open62541.pcap": {("opcua", "tcp")},
    "opcua_binary_nonstandard_port.pcap": {("opcua", "tcp")},
    "opcua_binary_open62541_mainloop_ipv6_loopback.pcap": {("opcua", "tcp"), ("dns", "udp")},
    "opcua_binary_with_tcp_gap.pcap": {("opcua", "tcp")},
    "openvpn_tcp.pcap": {("openvpn", "tcp")},
    "openvpn_udp.pcap": {("openvpn", "udp")},  # on port 1198: by content
    # LLMNR shares DNS's wire format: only its port tells them apart (method "port")
    "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap": {("profinet_dcp", "ethernet"),
                                                  ("profinet_io", "udp"), ("arp", "ethernet"),
                                                  ("dhcp", "udp"), ("lldp", "ethernet"),
                                                  ("nbns", "udp")},
    "profinet_io_cm_dcerpc.pcap": {("profinet_io", "udp")},
    "rdp_native_rdp_encryption.pcap": {("rdp", "tcp")},
    "rdp_over_tls.pcap": {("rdp", "tcp")},
    "s7comm_ident_szl_icsnpp.pcap": {("s7comm", "tcp")},
    "s7comm_plus_icsnpp.pcap": {("s7comm", "tcp"), ("s7comm_plus", "tcp")},
    "s7comm_snap7_client_icsnpp.pcap": {("s7comm", "tcp")},
    "snmp_v1_get.pcap": {("snmp", "udp")},
    "snmp_v2c_walk_short.pcap": {("snmp", "udp")},
    "ssh_multiple_sessions.pcap": {("ssh", "tcp"), ("tls", "tcp")},
    "telnet_http_over_vlan_mpls.pcap": {("telnet", "tcp"), ("http", "tcp")},
    "tls_sni_with_extensions.pcap": {("tls", "tcp")},
    "vnc_rfb_mac_to_linux.pcap": {("vnc", "tcp")},
    "wireguard_handshake_and_data.pcap": {("wireguard", "udp"), ("arp", "ethernet")},
}  # fmt: skip

#: Protocols recognised only with the help of the port (coverage method "port"), per capture.
BY_PORT: dict[str, set[str]] = {
    "bacnet_ip_icsnpp_example.pcap": {"bacnet"},
    "profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap": {"llmnr"},
}


def test_every_capture_is_listed(compiled_ws: Any, python_ws: Any) -> None:
    assert compiled_ws.captures() == sorted(EXPECTED)
    assert python_ws.captures() == sorted(EXPECTED)


@pytest.mark.parametrize("capture", sorted(EXPECTED))
def test_every_capture_yields_its_protocols_by_content(tier_ws: Any, capture: str) -> None:
    rows = list(tier_ws.rows("coverage", capture))
    by_content = {(r["protocol"], r["transport"]) for r in rows if r["method"] == "content"}
    assert by_content == EXPECTED[capture], f"{capture} ({tier_ws.tier} tier)"
    # no other analyzer claims a flow of the capture, by content or by port
    expected_protocols = {p for p, _ in EXPECTED[capture]} | BY_PORT.get(capture, set())
    assert {r["protocol"] for r in rows if r["protocol"]} == expected_protocols
    assert {r["protocol"] for r in rows if r["method"] == "port"} == BY_PORT.get(capture, set())
    for r in rows:
        assert (r["protocol"] is None) == (r["method"] == "unknown"), r
        if r["method"] == "content":
            assert r["confidence"] >= 0.5 and r["pdus"] > 0, r


def test_opcua_on_a_nonstandard_port_is_found_by_content(tier_ws: Any) -> None:
    rows = list(tier_ws.rows("coverage", "opcua_binary_nonstandard_port.pcap", protocol="opcua"))
    assert [(r["dst_port"], r["method"]) for r in rows] == [(48010, "content")] * 2
    assert sum(r["pdus"] for r in rows) == 68  # as tshark counts with -d tcp.port==48010,opcua


def test_coverage_says_which_flow_is_encrypted(tier_ws: Any) -> None:
    """The encrypted OPC UA capture has two channels: SecurityPolicy None (GetEndpoints) and
    Basic128Rsa15 (docs/validation.md, OPC UA). Only the second is encrypted; no other
    industrial flow is. The network protocols that turn encrypted are those whose sessions
    negotiate keys (TLS, SSH, VPNs, RDP security layers)."""
    name = "opcua_binary_encrypted_open62541.pcap"
    encrypted = Counter(
        (r["capture"], r["protocol"], r["encrypted"]) for r in tier_ws.table("coverage")
        if r["protocol"] in INDUSTRIAL_PROTOCOLS and (r["encrypted"] or r["capture"] == name)
    )  # fmt: skip
    assert encrypted == {(name, "opcua", True): 1, (name, "opcua", False): 1}
    network = {r["protocol"] for r in tier_ws.table("coverage") if r["encrypted"]} - {"opcua"}
    assert network == {"tls", "ssh", "rdp", "openvpn", "wireguard", "ike"}


def test_coverage_says_which_flow_began_before_the_capture(tier_ws: Any) -> None:
    """midstream is true exactly for the analysed TCP flows of which no SYN was captured."""
    flows = {(f["capture"], f["flow_id"]): f for f in tier_ws.table("flows")}
    checked = Counter()
    for r in tier_ws.table("coverage"):
        if r["transport"] != "tcp" or r["protocol"] is None:
            continue
        no_syn = (flows[(r["capture"], r["flow_id"])]["tcp_flags"] & 0x02) == 0
        assert r["midstream"] == no_syn, r
        checked[r["midstream"]] += 1
    assert checked[True] >= 10 and checked[False] >= 5
    # the snap7 capture starts in the middle of its one S7 session; the ident capture has it all
    (snap7,) = tier_ws.rows("coverage", "s7comm_snap7_client_icsnpp.pcap")
    assert snap7["protocol"] == "s7comm" and snap7["midstream"] is True
    (ident,) = tier_ws.rows("coverage", "s7comm_ident_szl_icsnpp.pcap")
    assert ident["midstream"] is False
    # S7comm-plus: the connection to 49154 began before the capture (docs/validation.md)
    (plus,) = [r for r in tier_ws.rows("coverage", "s7comm_plus_icsnpp.pcap")
               if r["protocol"] == "s7comm_plus"]  # fmt: skip
    assert plus["midstream"] is True


def test_coverage_of_the_gap_capture(tier_ws: Any) -> None:
    """R-UA-SPURIOUS: tshark and Zeek stumble over two segments of the CreateSessionResponse;
    cranewatch reassembles by sequence number and finds no byte missing."""
    (row,) = tier_ws.rows("coverage", "opcua_binary_with_tcp_gap.pcap")
    assert (row["protocol"], row["gaps"], row["gap_bytes"], row["pdus"]) == ("opcua", 0, 0, 172)


# =============================================================================== 2. tshark


def ops(ws: Any, capture: str, protocol: str) -> list[Row]:
    return [
        r for r in ws.table("operations") if r["capture"] == capture and r["protocol"] == protocol
    ]


# ---- Modbus


def test_modbus_func_code_equals_tshark(tier_ws: Any) -> None:
    capture = "modbus_tcp_icsnpp_example.pcap"
    ours = pdus(ops(tier_ws, capture, "modbus"), lambda r: str(r["code"]))
    assert ours == baseline(capture, "modbus.func_code").counts
    assert sum(ours.values()) == 48


# ---- S7comm

S7_CAPTURES = ("s7comm_ident_szl_icsnpp.pcap", "s7comm_snap7_client_icsnpp.pcap",
               "s7comm_plus_icsnpp.pcap")  # fmt: skip

#: R-S7-ACK (docs/validation.md, S7comm): an Ack has no parameter part, so no s7comm.param.func
#: in tshark; cranewatch counts it under the function of its job. The refused Start upload
#: answers: four (0xD241) in the ident capture, one (0xD20C) in the snap7 capture. The table
#: cannot tell them from Ack-Data rows, so they are subtracted by number, and each must be a
#: response that counted an exception.
R_S7_ACK = {
    "s7comm_ident_szl_icsnpp.pcap": Counter({"0x1d": 4}),
    "s7comm_snap7_client_icsnpp.pcap": Counter({"0x1d": 1}),
}
UD_TYPES = {"request": 4, "response": 8, "unsolicited": 0}  # tshark's userdata type


@pytest.mark.parametrize("capture", S7_CAPTURES)
def test_s7comm_param_func_equals_tshark(tier_ws: Any, capture: str) -> None:
    rows = [r for r in ops(tier_ws, capture, "s7comm") if r["code"] < 0x100]
    ours = pdus(rows, lambda r: f"0x{r['code']:02x}")
    acks = R_S7_ACK.get(capture, Counter())
    for code, n in acks.items():
        answered = [
            r for r in rows if f"0x{r['code']:02x}" == code and r["direction"] == "response"
        ]
        assert sum(r["exceptions"] for r in answered) >= n
    assert ours - acks == baseline(capture, "s7comm.param.func").counts


@pytest.mark.parametrize("capture", S7_CAPTURES)
def test_s7comm_userdata_equals_tshark(tier_ws: Any, capture: str) -> None:
    rows = [r for r in ops(tier_ws, capture, "s7comm") if r["code"] >= 0x4000]
    ours = pdus(rows, lambda r: f"{UD_TYPES[r['direction']]}/{(r['code'] >> 8) & 0x0F}/"
                                f"{r['code'] & 0xFF}")  # fmt: skip
    assert ours == baseline(capture, "s7comm.param.userdata.type-funcgroup-subfunc").counts


def test_s7comm_plus_is_counted_apart_and_equals_icsnpp(tier_ws: Any) -> None:
    """tshark 4.0 has no S7comm-plus dissector; the 121 messages are in the table under their
    own protocol (none among the s7comm counts above) and equal s7comm_plus.log by sender,
    opcode and function (docs/validation.md, S7comm-plus, *Names*: a notification's code is
    its opcode 0x33)."""
    log = ZEEK / "s7comm" / "s7comm_plus_icsnpp" / "s7comm_plus.log"
    direction = {"Request": "request", "Response": "response", "Notification": "unsolicited"}
    zeek = Counter(
        (r["is_orig"] == "T", direction[r["opcode_name"]],
         int(r["opcode"] if r["function_code"] == "-" else r["function_code"], 16),
         r["function_name"].lower().replace(" ", "_") if r["function_code"] != "-"
         else r["opcode_name"].lower())
        for r in zeek_log(log)
    )  # fmt: skip
    rows = ops(tier_ws, "s7comm_plus_icsnpp.pcap", "s7comm_plus")
    ours = pdus(rows, lambda r: (r["dst_port"] == 102, r["direction"], r["code"], r["operation"]))
    assert ours == zeek and sum(ours.values()) == 121


# ---- EtherNet/IP and CIP

ENIP_CAPTURES = ("enip_cip_icsnpp_example.pcap", "enip_cip_multiple_service_packet.pcapng",
                 "enip_cip_set_attribute_single.pcapng")  # fmt: skip
IO_DATA = 0xB1  # the code of implicit I/O datagrams, which carry no encapsulation command


@pytest.mark.parametrize("capture", ENIP_CAPTURES)
def test_cip_service_codes_equal_tshark(tier_ws: Any, capture: str) -> None:
    """cip.sc, nested services of Multiple Service Packets included (formatted as in
    tests/protocols/test_enip.py); enip.command without the I/O datagrams."""
    ours = pdus(ops(tier_ws, capture, "cip"), lambda r: f"0x{r['code']:02x}")
    assert ours == baseline(capture, "cip.sc").counts
    enip = ops(tier_ws, capture, "enip")
    commands = pdus(enip, lambda r: None if r["code"] == IO_DATA else f"0x{r['code']:04x}")
    assert commands == baseline(capture, "enip.command").counts


def test_cip_io_datagrams_equal_tshark_in_number(tier_ws: Any) -> None:
    """enip.cpf.sai.connid: the table keeps the connection ids only in the capped ``target``
    text, so the count per connection cannot be compared; the number of datagrams can."""
    capture = "enip_cip_icsnpp_example.pcap"
    io = [r for r in ops(tier_ws, capture, "enip") if r["code"] == IO_DATA]
    assert {r["operation"] for r in io} == {"io_data"}
    connids = baseline(capture, "enip.cpf.sai.connid").counts
    assert sum(r["pdus"] for r in io) == sum(connids.values()) == 398
    listed = {m for r in io for m in re.findall(r"connection (0x[0-9a-f]{8})", r["target"] or "")}
    assert listed and listed <= set(connids)


# ---- DNP3

#: R-DNP3-WRAP (docs/validation.md, DNP3): tshark never reassembles the fragment whose FIN
#: segment is in these frames (transport sequence 63 -> 0); cranewatch counts what it carries.
R_DNP3_WRAP = {18: "129", 114: "129", 210: "129", 810: "130"}


@pytest.mark.parametrize("capture", ["dnp3_tcp_icsnpp_example.pcap", "dnp3_udp_read_zeek.pcap"])
def test_dnp3_al_func_equals_tshark_after_the_documented_corrections(
    tier_ws: Any, capture: str
) -> None:
    """The corrections of tests/protocols/test_dnp3.py, from tshark's own output: each FIN
    segment tshark left unreassembled adds the function cranewatch read there (R-DNP3-WRAP);
    each conflicting reassembly (R-DNP3-CONFLICT) moves one count from tshark's function to
    that of the frame parsed alone."""
    stored = baseline(capture, "dnp3.al.func")
    expected = Counter(stored.counts)
    unreassembled = {s["frame"] for s in stored.extra["unreassembled_fin_segments"]}
    assert unreassembled == (set(R_DNP3_WRAP) if "tcp" in capture else set())
    expected.update(R_DNP3_WRAP[frame] for frame in unreassembled)
    for bad in stored.extra["conflicting_reassemblies"]:
        (op,) = DNP3.parse(bytes.fromhex(bad["payload"]), True, {}).operations
        expected[bad["function"]] -= 1
        expected[str(op.code)] += 1
    ours = pdus(ops(tier_ws, capture, "dnp3"), lambda r: str(r["code"]))
    assert ours == +expected
    if "tcp" in capture:  # docs/validation.md: "cranewatch 0: 0, 129: 364, 130: 4"
        assert ours == {"1": 97, "3": 134, "4": 133, "129": 364, "130": 4}


# ---- IEC 60870-5-104


def test_iec104_type_ids_and_apci_formats_equal_tshark(tier_ws: Any) -> None:
    capture = "iec104_iec60870_5_104.pcap"
    rows = ops(tier_ws, capture, "iec104")

    def apci(code: int) -> str:  # I: type id; S: 0x101; U: 0x100 | first control octet
        if code < 0x100:
            return "0x00000000"
        return "0x00000001" if code == iec104.S_FORMAT_CODE else "0x00000003"

    assert pdus(rows, lambda r: str(r["code"]) if r["code"] < 0x100 else None) == baseline(
        capture, "iec60870_asdu.typeid").counts  # fmt: skip
    assert pdus(rows, lambda r: apci(r["code"])) == baseline(capture, "iec60870_104.type").counts
    utype = pdus(rows, lambda r: f"0x{(r['code'] & 0xFF) >> 2:08x}"
                 if apci(r["code"]) == "0x00000003" else None)  # fmt: skip
    assert utype == baseline(capture, "iec60870_104.utype").counts


# ---- OPC UA

OPCUA_CAPTURES = ("opcua_binary_encrypted_open62541.pcap", "opcua_binary_nonstandard_port.pcap",
                  "opcua_binary_open62541_mainloop_ipv6_loopback.pcap",
                  "opcua_binary_with_tcp_gap.pcap")  # fmt: skip
TRANSPORT = {transport_code(k): k.decode() for k in (b"HEL", b"ACK", b"ERR", b"RHE")}
SECURE_CHANNEL = {446: "OPN", 449: "OPN", 452: "CLO", 455: "CLO"}

#: R-UA-SPURIOUS (docs/validation.md, OPC UA; BEYOND_TSHARK of tests/protocols/test_opcua.py):
#: cranewatch decodes the CreateSessionResponse tshark never completes.
BEYOND_TSHARK = {"opcua_binary_with_tcp_gap.pcap": Counter({"MSG": 1, "464": 1})}


def message_type(code: int) -> str:
    """The UA message type of an operation code: HEL/ACK/ERR/RHE carry their type as code,
    OpenSecureChannel and CloseSecureChannel are OPN and CLO, every other service a MSG."""
    return TRANSPORT.get(code) or SECURE_CHANNEL.get(code, "MSG")


def encrypted_flows(ws: Any, capture: str) -> set[int]:
    return {r["flow_id"] for r in ws.rows("coverage", capture) if r["encrypted"]}


@pytest.mark.parametrize("capture", OPCUA_CAPTURES)
def test_opcua_message_types_and_service_ids_equal_tshark(tier_ws: Any, capture: str) -> None:
    """opcua.transport.type counts every chunk; opcua.servicenodeid.numeric only readable ones,
    so the operations of an encrypted channel (coverage.encrypted) are left out there, as the
    per-protocol test leaves out chunks with the error ``encrypted``."""
    rows = ops(tier_ws, capture, "opcua")
    extra = BEYOND_TSHARK.get(capture, Counter())
    types = pdus(rows, lambda r: message_type(r["code"]))
    expected = Counter(baseline(capture, "opcua.transport.type").counts)
    expected += Counter({k: v for k, v in extra.items() if not k.isdigit()})
    assert types == expected, differences(types, expected)
    hidden = encrypted_flows(tier_ws, capture)
    assert bool(hidden) == ("encrypted" in capture)
    services = pdus(rows, lambda r: None if r["flow_id"] in hidden or r["code"] in TRANSPORT
                    else str(r["code"]))  # fmt: skip
    expected = Counter(baseline(capture, "opcua.servicenodeid.numeric").counts)
    expected += Counter({k: v for k, v in extra.items() if k.isdigit()})
    assert services == expected, differences(services, expected)


# ---- MQTT


def test_mqtt_msgtype_equals_tshark(tier_ws: Any) -> None:
    capture = "mqtt_connect_subscribe_publish.pcap"
    ours = pdus(ops(tier_ws, capture, "mqtt"), lambda r: str(r["code"]))
    assert ours == baseline(capture, "mqtt.msgtype").counts


# ---- PROFINET

PNIO_CAPTURES = ("profinet_dcp_rt_ptcp_lldp_iocm_mixed.pcap", "profinet_io_cm_dcerpc.pcap")
PTYPES = {"request": "0", "response": "2"}  # DCE/RPC packet types of calls and answers


@pytest.mark.parametrize("capture", PNIO_CAPTURES)
def test_profinet_io_opnums_and_packet_types_equal_tshark(tier_ws: Any, capture: str) -> None:
    """dcerpc.opnum and dcerpc.pkt_type of the calls (fragment 0, PNIO interfaces); Fack and
    Ping/Nocall datagrams and later fragments are no operation (docs/validation.md, PROFINET IO
    CM). Not expressible in the table: the DCE/RPC interface (dcerpc.dg_if_id) and the record
    indexes (pn_io.index, kept in the capped ``target`` text); a fault or reject would be a
    ``response`` row with an exception, none occurs."""
    rows = ops(tier_ws, capture, "profinet_io")
    assert pdus(rows, lambda r: str(r["code"])) == baseline(capture, "dcerpc.opnum").counts
    assert pdus(rows, lambda r: PTYPES[r["direction"]]) == baseline(
        capture, "dcerpc.pkt_type").counts  # fmt: skip


def test_profinet_dcp_services_equal_tshark(tier_ws: Any) -> None:
    capture = PNIO_CAPTURES[0]
    rows = ops(tier_ws, capture, "profinet_dcp")
    assert pdus(rows, lambda r: str(r["code"])) == baseline(capture, "pn_dcp.service_id").counts
    service_type = {"request": "0", "response": "1"}
    assert pdus(rows, lambda r: service_type[r["direction"]]) == baseline(
        capture, "pn_dcp.service_type").counts  # fmt: skip


# ---- BACnet

BACNET_CAPTURES = ("bacnet_error_reject_abort.pcap", "bacnet_ip_icsnpp_example.pcap",
                   "bacnet_ip_services_icsnpp.pcap", "bacnet_segmented_data.pcap")  # fmt: skip


def bacnet_kind(row: Row) -> str | None:
    """``confirmed`` or ``unconfirmed`` from the row's code and name: the two service lists
    share codes, so the code alone cannot tell them apart."""
    if BACNET.CONFIRMED_SERVICES.get(row["code"]) == row["operation"]:
        return "confirmed"
    if BACNET.UNCONFIRMED_SERVICES.get(row["code"]) == row["operation"]:
        return "unconfirmed"
    return None


#: Segment-ACKs are sent by the requester and counted under the service of the segmented
#: answer they acknowledge, as ``request`` rows (docs/validation.md, Operations tables,
#: R-TBL-SEGACK). tshark shows them as bacapp.type 4 without a service.
@pytest.mark.parametrize("capture", BACNET_CAPTURES)
def test_bacnet_services_equal_tshark_where_codes_allow(tier_ws: Any, capture: str) -> None:
    rows = ops(tier_ws, capture, "bacnet")
    kinds = {(r["code"], r["operation"]): bacnet_kind(r) for r in rows}
    types = baseline(capture, "bacapp.type").counts
    confirmed = pdus(rows, lambda r: str(r["code"]) if kinds[(r["code"], r["operation"])]
                     == "confirmed" else None)  # fmt: skip
    tshark = Counter(baseline(capture, "bacapp.confirmed_service").counts)
    segment_acks = confirmed - tshark
    assert tshark - confirmed == Counter(), differences(confirmed, tshark)
    assert sum(segment_acks.values()) == types.get("4", 0), f"not Segment-ACKs: {segment_acks}"
    unconfirmed = pdus(rows, lambda r: str(r["code"]) if kinds[(r["code"], r["operation"])]
                       == "unconfirmed" else None)  # fmt: skip
    tshark = Counter(baseline(capture, "bacapp.unconfirmed_service").counts)
    assert unconfirmed == tshark, differences(unconfirmed, tshark)
    # confirmed requests (and Segment-ACKs) and unconfirmed requests by PDU type
    requests = pdus(rows, lambda r: r["direction"] if kinds[(r["code"], r["operation"])]
                    == "confirmed" else None)  # fmt: skip
    assert requests["request"] == types.get("0", 0) + types.get("4", 0)
    assert sum(unconfirmed.values()) == types.get("1", 0)


@pytest.mark.parametrize("capture", BACNET_CAPTURES)
def test_bacnet_rows_are_classified_by_their_service(tier_ws: Any, capture: str) -> None:
    """The BACnet analyzer classifies a PDU by its service name alone, so a row whose flags are
    not those of its ``operation`` holds PDUs of another service: the operations key (flow,
    sender, code, direction) has no name, and BACnet's confirmed services, unconfirmed services,
    network messages, Reject and Abort share code values."""
    kinds = ("read", "write", "control", "diagnostic")
    sets = (BACNET.READ, BACNET.WRITE, BACNET.CONTROL, BACNET.DIAGNOSTIC)
    wrong = []
    for r in ops(tier_ws, capture, "bacnet"):
        flags = {k for k in kinds if r[f"is_{k}"]}
        expected = {k for k, names in zip(kinds, sets, strict=True) if r["operation"] in names}
        if flags != expected:
            wrong.append(f"{r['code']} {r['direction']} {r['operation']} x{r['pdus']}: {flags}")
    assert wrong == [], "rows flagged unlike their service:\n" + "\n".join(sorted(wrong))


# =============================================================================== 3. peers


# ---- Modbus: cisagov/icsnpp-modbus

MODBUS_LOG_FIELDS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "func",
                     "exception")  # fmt: skip
#: docs/validation.md, Modbus, *Names*: ICSNPP keeps the names the 2012 specification changed.
MODBUS_ZEEK_NAMES = {"report_server_id": "REPORT_SLAVE_ID",
                     "encapsulated_interface_transport": "ENCAP_INTERFACE_TRANSPORT"}  # fmt: skip


def modbus_zeek_name(operation: str) -> str:
    return MODBUS_ZEEK_NAMES.get(operation, operation.upper())


def test_modbus_functions_equal_icsnpp(tier_ws: Any) -> None:
    """modbus.log holds the responses (the origin test filtered out the requests), with
    ``_EXCEPTION`` appended to exception answers; modbus_detailed.log one row per transaction,
    except functions 7 and 17, logged as an unmatched request row and an unmatched response row
    (docs/validation.md, Modbus, *Pairing*)."""
    capture = "modbus_tcp_icsnpp_example.pcap"
    log = ZEEK / "modbus" / capture.removesuffix(".pcap")
    rows = ops(tier_ws, capture, "modbus")
    responses = zeek_log(log / "modbus.log", MODBUS_LOG_FIELDS)
    zeek = Counter((r["id.resp_h"], int(r["id.orig_p"]), r["func"].removesuffix("_EXCEPTION"))
                   for r in responses)  # fmt: skip
    ours = pdus((r for r in rows if r["direction"] == "response"),
                lambda r: (r["src_ip"], r["dst_port"], modbus_zeek_name(r["operation"])))  # fmt: skip
    assert ours == zeek and sum(zeek.values()) == 24
    zeek_exceptions = Counter(r["func"].removesuffix("_EXCEPTION") for r in responses
                              if r["func"].endswith("_EXCEPTION"))  # fmt: skip
    our_exceptions = Counter()
    for r in rows:
        if r["direction"] == "response" and r["exceptions"]:
            our_exceptions[modbus_zeek_name(r["operation"])] += r["exceptions"]
    assert our_exceptions == zeek_exceptions and sum(zeek_exceptions.values()) == 1

    detailed = zeek_log(log / "modbus_detailed.log")
    halves = Counter()
    units: dict[str, set[int]] = {}
    for r in detailed:
        halves[(int(r["id.orig_p"]), r["func"])] += 2 if r["matched"] == "T" else 1
        units.setdefault(r["func"], set()).add(int(r["unit"]))
    assert all(n % 2 == 0 for n in halves.values())
    zeek_requests = Counter({k: n // 2 for k, n in halves.items()})
    requests = [r for r in rows if r["direction"] == "request"]
    assert pdus(requests, lambda r: (r["src_port"], modbus_zeek_name(r["operation"]))) == (
        zeek_requests)  # fmt: skip
    our_units: dict[str, set[int]] = {}
    for r in requests:
        found = {int(u) for u in re.findall(r"unit (\d+)", r["target"] or "")}
        our_units.setdefault(modbus_zeek_name(r["operation"]), set()).update(found)
    assert our_units == units


# ---- S7comm: cisagov/icsnpp-s7comm

#: docs/validation.md, S7comm, *Names*.
S7_ZEEK_NAMES = {"Read Variable": "read_var", "Write Variable": "write_var",
                 "PLC Control": "pi_service"}  # fmt: skip
#: PDUs ICSNPP does not log, by (sender is the client, direction, code): R-S7-ACK (the refused
#: Start upload Acks) and docs/validation.md, S7comm, *Fragmented userdata* (the first fragment
#: of the SZL 0x001C answer and the follow-up request that fetches the rest).
S7_NOT_IN_ZEEK = {
    "s7comm_ident_szl_icsnpp.pcap": Counter({(False, "response", 0x1D): 4}),
    "s7comm_snap7_client_icsnpp.pcap": Counter({(False, "response", 0x1D): 1,
                                                (True, "request", 0x4401): 1,
                                                (False, "response", 0x4401): 1}),
}  # fmt: skip
#: docs/validation.md, S7comm, *Item errors*: an Ack-Data whose header says no error but whose
#: first item failed counts as an exception in cranewatch (read_var in the ident capture,
#: write_var in the snap7 capture); ICSNPP logs header errors only.
S7_ITEM_ERRORS = {
    "s7comm_ident_szl_icsnpp.pcap": Counter({0x04: 1}),
    "s7comm_snap7_client_icsnpp.pcap": Counter({0x05: 1}),
}


def s7_zeek_key(row: dict[str, str]) -> tuple[bool, str, int, str]:
    """(from client, direction, our code, our name) of one s7comm.log row (as in
    tests/protocols/test_s7comm.py)."""
    function = int(row["function_code"], 16)
    if row["rosctr_name"] == "User-Data":
        kind, group, sub = function >> 4, function & 0x0F, int(row["subfunction_code"], 16)
        direction = {4: "request", 8: "response", 0: "unsolicited"}[kind]
        code, name = 0x4000 | group << 8 | sub, row["subfunction_name"]
    else:
        direction = "request" if row["rosctr_name"] == "Job-Request" else "response"
        code, name = function, row["function_name"]
    return (
        row["is_orig"] == "T",
        direction,
        code,
        S7_ZEEK_NAMES.get(name, name.lower().replace(" ", "_")),
    )


@pytest.mark.parametrize("capture", S7_CAPTURES)
def test_s7comm_functions_equal_icsnpp(tier_ws: Any, capture: str) -> None:
    log = ZEEK / "s7comm" / capture.removesuffix(".pcap") / "s7comm.log"
    rows = zeek_log(log, strict=False)
    zeek = Counter(s7_zeek_key(r) for r in rows)
    names = {(k[2]): k[3] for k in zeek}
    ours = pdus(ops(tier_ws, capture, "s7comm"),
                lambda r: (r["dst_port"] == 102, r["direction"], r["code"]))  # fmt: skip
    skipped = S7_NOT_IN_ZEEK.get(capture, Counter())
    assert ours - skipped == Counter({k[:3]: n for k, n in zeek.items()})
    assert ours - (ours - skipped) == skipped  # every skipped PDU is in the table
    for r in ops(tier_ws, capture, "s7comm"):  # same names as ICSNPP, after the mapping
        assert r["operation"] == names.get(r["code"], r["operation"]), r
    zeek_errors = Counter(s7_zeek_key(r)[2] for r in rows
                          if r["error_code"] not in ("-", "0x00"))  # fmt: skip
    our_errors = Counter()
    for r in ops(tier_ws, capture, "s7comm"):
        if r["direction"] == "response":
            our_errors[r["code"]] += r["exceptions"]
    acks = Counter({k[2]: n for k, n in skipped.items() if k[2] == 0x1D})
    assert +our_errors == zeek_errors + acks + S7_ITEM_ERRORS.get(capture, Counter())


def test_s7comm_szl_identity_equals_icsnpp_known_devices(tier_ws: Any) -> None:
    """s7comm_known_devices.log: automation system name, module name and serial of the CPU,
    from the SZL 0x001C answer (docs/validation.md, S7comm); the empty plant name gives no fact."""
    capture = "s7comm_ident_szl_icsnpp.pcap"
    log = ZEEK / "s7comm" / capture.removesuffix(".pcap")
    (device,) = zeek_log(log / "s7comm_known_devices.log", strict=False)
    plc = {r["id.resp_h"] for r in zeek_log(log / "s7comm.log", strict=False)}
    facts = identity_facts(tier_ws, capture, "s7comm")
    assert set(facts) == plc == {"172.17.0.2"}
    got = facts["172.17.0.2"]
    assert got["station_name"] == {device["automation_system_name"]}
    assert got["product_name"] == {device["module_name"]}
    assert got["serial"] == {device["module_serial"]}
    assert device["plant_name"] == "(empty)" and "plant_id" not in got


# ---- CIP / EtherNet/IP: cisagov/icsnpp-enip


def _hex(value: str) -> int | None:
    return None if value == "-" else int(value, 16)


@pytest.mark.parametrize("capture", ENIP_CAPTURES)
def test_cip_services_and_enip_commands_equal_icsnpp(tier_ws: Any, capture: str) -> None:
    """cip.log: sender, direction, service code (nested services included) and status;
    enip.log: sender and command; cip_io.log: one row per I/O datagram, per sender. Class,
    instance and attribute of requests are in the capped ``target`` text only, so they are
    compared by the per-protocol test."""
    log = ZEEK / "enip" / Path(capture).stem
    cip = zeek_rows(log / "cip.log")
    zeek = Counter((r[7], r[12], _hex(r[13])) for r in cip)
    ours = pdus(ops(tier_ws, capture, "cip"), lambda r: (r["src_ip"], r["direction"], r["code"]))
    assert ours == zeek, differences(ours, zeek)
    zeek_status = Counter(_hex(r[13]) for r in cip if r[12] == "response" and _hex(r[15]))
    our_status = Counter()
    for r in ops(tier_ws, capture, "cip"):
        if r["direction"] == "response":
            our_status[r["code"]] += r["exceptions"]
    assert +our_status == zeek_status
    enip = zeek_rows(log / "enip.log")
    zeek = Counter((r[7], _hex(r[11])) for r in enip)
    ours = pdus(ops(tier_ws, capture, "enip"),
                lambda r: None if r["code"] == IO_DATA else (r["src_ip"], r["code"]))  # fmt: skip
    assert ours == zeek, differences(ours, zeek)
    io_log = log / "cip_io.log"
    zeek_io = Counter(r[7] for r in zeek_rows(io_log)) if io_log.exists() else Counter()
    ours = pdus(ops(tier_ws, capture, "enip"),
                lambda r: r["src_ip"] if r["code"] == IO_DATA else None)  # fmt: skip
    assert ours == zeek_io


# ---- DNP3: cisagov/icsnpp-dnp3 (TCP) and stock Zeek (UDP)


DNP3_IIN2_ERRORS = 0x01 | 0x02 | 0x04 | 0x10 | 0x20  # IIN2_ERRORS of cranewatch.protocols.dnp3


def test_dnp3_replies_equal_icsnpp_dnp3_log(tier_ws: Any) -> None:
    """dnp3.log: one row per reply (RESPONSE, UNSOLICITED_RESPONSE) with its IIN; ICSNPP agrees
    with cranewatch, not with tshark, on R-DNP3-WRAP and R-DNP3-CONFLICT. Its ``fc_request`` is
    the connection's last request, not a count of requests (docs/validation.md, DNP3,
    *Pairing*), so requests are not compared here."""
    capture = "dnp3_tcp_icsnpp_example.pcap"
    rows = zeek_log(ZEEK / "dnp3" / capture.removesuffix(".pcap") / "dnp3.log")
    zeek = Counter((r["id.resp_h"], int(r["id.orig_p"]), r["fc_reply"]) for r in rows)
    replies = [r for r in ops(tier_ws, capture, "dnp3") if r["direction"] != "request"]
    ours = pdus(replies, lambda r: (r["src_ip"], r["dst_port"], r["operation"].upper()))
    assert ours == zeek and sum(zeek.values()) == 368
    errors = sum(1 for r in rows if int(r["iin"]) & DNP3_IIN2_ERRORS)
    assert sum(r["exceptions"] for r in replies) == errors


def test_dnp3_udp_headers_equal_zeek_events(tier_ws: Any) -> None:
    """Stock Zeek's event dump: one READ request header and two response headers (function
    code and IIN); dnp3.log: the two RESPONSE rows."""
    capture = "dnp3_udp_read_zeek.pcap"
    log = ZEEK / "dnp3" / capture.removesuffix(".pcap")
    events = [ln.split(", ") for ln in (log / "output").read_text().splitlines()[1:]]
    zeek = Counter(("request" if e[1] == "T" else "response", int(e[3]))
                   for e in events if e[0].startswith("dnp3_application_"))  # fmt: skip
    ours = pdus(ops(tier_ws, capture, "dnp3"), lambda r: (r["direction"], r["code"]))
    assert ours == zeek == {("request", 1): 1, ("response", 129): 2}
    replies = Counter(r["fc_reply"] for r in zeek_log(log / "dnp3.log"))
    assert replies == {"RESPONSE": ours[("response", 129)]}


# ---- BACnet: cisagov/icsnpp-bacnet

#: docs/validation.md, BACnet, *Segments*: ICSNPP logs a segmented message once; these are the
#: later segments (one ReadPropertyMultiple-ACK, two ReadProperty-ACKs) the table counts too.
BACNET_LATER_SEGMENTS = {
    "bacnet_ip_services_icsnpp.pcap": Counter({("read_property_multiple", "response"): 1}),
    "bacnet_segmented_data.pcap": Counter({("read_property", "response"): 2}),
}
ZEEK_BACNET_DIRECTION = {"CONFIRMED_REQUEST": "request", "SIMPLE_ACK": "response",
                         "COMPLEX_ACK": "response", "ERROR_PDU": "response",
                         "REJECT_PDU": "response", "ABORT_PDU": "response",
                         "SEGMENT_ACK": "request"}  # fmt: skip
#: Unconfirmed services and network messages the table counts as ``unsolicited``, not ``request``
UNSOLICITED_BACNET = BACNET.UNSOLICITED | {"i_am_router_to_network"}


@pytest.mark.parametrize("capture", BACNET_CAPTURES)
def test_bacnet_services_equal_icsnpp(tier_ws: Any, capture: str) -> None:
    """bacnet.log: one row per APDU (and per network-layer message) with its service; the
    table's rows per (service, direction), with Error, Reject and Abort PDUs as exceptions.
    Segment-ACKs (service ``-`` in the log) are counted under the service they acknowledge
    (R-TBL-SEGACK), so requests are compared with requests plus Segment-ACKs in total."""
    rows = zeek_log(ZEEK / "bacnet" / Path(capture).stem / "bacnet.log")
    zeek: Counter[tuple[str, str]] = Counter()
    zeek_errors: Counter[str] = Counter()
    for r in rows:
        if r["pdu_type"] == "SEGMENT_ACK":
            continue
        service = r["pdu_service"]
        if r["pdu_type"] in ("UNCONFIRMED_REQUEST", "NPDU"):
            direction = "unsolicited" if service in UNSOLICITED_BACNET else "request"
        else:
            direction = ZEEK_BACNET_DIRECTION[r["pdu_type"]]
        zeek[(service, direction)] += 1
        if r["pdu_type"] in ("ERROR_PDU", "REJECT_PDU", "ABORT_PDU"):
            zeek_errors[service] += 1
    segment_acks = sum(1 for r in rows if r["pdu_type"] == "SEGMENT_ACK")
    # docs/validation.md, BACnet, *BACnet/Ethernet*: ICSNPP sees BACnet/IP only; LLC frames
    # would be rows without an IP address
    table = [r for r in ops(tier_ws, capture, "bacnet") if r["src_ip"] is not None]
    ours = pdus(table, lambda r: (r["operation"], r["direction"]))
    ours -= BACNET_LATER_SEGMENTS.get(capture, Counter())
    assert sum(ours.values()) == sum(zeek.values()) + segment_acks
    # Segment-ACKs are the only surplus, and only in request rows
    surplus = ours - zeek
    assert all(d == "request" for _, d in surplus) and sum(surplus.values()) == segment_acks, (
        differences(ours, zeek))  # fmt: skip
    assert zeek - ours == Counter(), differences(ours, zeek)
    our_errors = Counter()
    for r in table:
        if r["exceptions"]:
            our_errors[r["operation"]] += r["exceptions"]
    assert our_errors == zeek_errors


# ---- OPC UA: cisagov/icsnpp-opcua-binary

OPCUA_ZEEK_CAPTURES = [c for c in OPCUA_CAPTURES if (ZEEK / "opcua" / Path(c).stem).is_dir()]
assert len(OPCUA_ZEEK_CAPTURES) == 3  # the encrypted capture has no log (MANIFEST.md)


@pytest.mark.parametrize("capture", OPCUA_ZEEK_CAPTURES)
def test_opcua_service_types_equal_icsnpp(tier_ws: Any, capture: str) -> None:
    """opcua_binary.log: one row per Hello/Acknowledge and per request/response pair, with both
    service ids. For the gap capture ICSNPP stops after five messages (docs/validation.md,
    OPC UA, "ICSNPP stops after five messages"): those five must be in the table."""
    zeek: Counter[tuple[str, str]] = Counter()
    for row in zeek_rows(ZEEK / "opcua" / Path(capture).stem / "opcua_binary.log"):
        kind = row[6]
        if kind in ("HEL", "ACK", "ERR"):
            zeek[(kind, kind)] += 1
            continue
        for ident in (row[29], row[48]):
            if ident != "-":
                zeek[(kind, ident)] += 1
    rows = ops(tier_ws, capture, "opcua")
    ours = pdus(rows, lambda r: (message_type(r["code"]), TRANSPORT.get(r["code"], str(r["code"]))))
    if "tcp_gap" in capture:
        assert zeek - ours == Counter() and sum(zeek.values()) == 5
        assert sum(ours.values()) == 172, "the table lost a message (docs/validation.md)"
    else:
        assert ours == zeek, differences(ours, zeek)


# ---- PROFINET IO CM: cisagov/icsnpp-profinet-io-cm


ZEEK_PTYPE = {"Request": "request", "Response": "response", "Fault": "response",
              "Reject": "response"}  # fmt: skip


@pytest.mark.parametrize("capture", PNIO_CAPTURES)
def test_profinet_io_calls_equal_icsnpp(tier_ws: Any, capture: str) -> None:
    """profinet_io_cm.log: per call, sender port, receiver port, packet type and operation
    (fragment 0; the Fack, Ping and later-fragment rows are no call, docs/validation.md,
    PROFINET IO CM). Sequence numbers, interfaces and object UUIDs are per-PDU details the
    table does not keep."""
    log = ZEEK / "profinet" / Path(capture).stem / "profinet_io_cm.log"
    zeek = Counter(
        (int(r[5]), int(r[7]), ZEEK_PTYPE[r[10]], r[31].lower().replace(" ", "_"))
        for r in zeek_rows(log)
        if r[10] in ZEEK_PTYPE and r[35] == "0"
    )
    ours = pdus(ops(tier_ws, capture, "profinet_io"),
                lambda r: (r["src_port"], r["dst_port"], r["direction"], r["operation"]))  # fmt: skip
    assert ours == zeek, differences(ours, zeek)
    assert sum(ours.values()) == {PNIO_CAPTURES[0]: 38, PNIO_CAPTURES[1]: 941}[capture]


# ---- MQTT: stock Zeek


def test_mqtt_packets_and_client_ids_equal_zeek(tier_ws: Any) -> None:
    """mqtt_connect.log (client port, client id), mqtt_publish.log (client port, from client),
    mqtt_subscribe.log (client port); Zeek logs no PINGREQ/PINGRESP, DISCONNECT or
    acknowledgements (docs/validation.md, MQTT)."""
    capture = "mqtt_connect_subscribe_publish.pcap"
    log = ZEEK / "mqtt" / capture.removesuffix(".pcap")
    rows = ops(tier_ws, capture, "mqtt")

    def client_port(r: Row) -> int:
        return int(r["src_port"] if r["dst_port"] == 1883 else r["dst_port"])

    connects = zeek_log(log / "mqtt_connect.log")
    assert pdus(rows, lambda r: client_port(r) if r["operation"] == "connect" else None) == (
        Counter(int(r["id.orig_p"]) for r in connects))  # fmt: skip
    publish = Counter((int(r["id.orig_p"]), r["from_client"] == "T")
                      for r in zeek_log(log / "mqtt_publish.log"))  # fmt: skip
    assert pdus(rows, lambda r: (client_port(r), r["dst_port"] == 1883)
                if r["operation"] == "publish" else None) == publish  # fmt: skip
    subscribe = Counter(int(r["id.orig_p"]) for r in zeek_log(log / "mqtt_subscribe.log"))
    assert pdus(rows, lambda r: client_port(r) if r["operation"] == "subscribe" else None) == (
        subscribe)  # fmt: skip
    facts = identity_facts(tier_ws, capture, "mqtt")
    assert {ip: f["client_id"] for ip, f in facts.items()} == {
        connects[0]["id.orig_h"]: {r["client_id"] for r in connects}
    }


# =============================================================================== 4. tiers

TIER_COLUMNS = ("capture", "flow_id", "protocol", "code", "direction", "src_ip", "src_port",
                "operation", "pdus", "is_read", "is_write", "is_control", "is_diagnostic",
                "exceptions", "errors")  # fmt: skip


def tier_rows(rows: Iterable[Row]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r[c] for c in TIER_COLUMNS) for r in rows)


def tier_differences(a: Counter[Any], b: Counter[Any]) -> list[str]:
    return [f"compiled only: {k}" for k in sorted(a - b, key=str)] + [
        f"python only:   {k}" for k in sorted(b - a, key=str)]  # fmt: skip


def test_both_tiers_write_the_same_operations(compiled_ws: Any, python_ws: Any) -> None:
    """Every column but the targets and example frames (the compiled tier summarises targets
    from its kernel's key, the Python tier writes each PDU's text). The sender (src_ip,
    src_port) is part of the comparison since it is part of the row's key."""
    compiled = tier_rows(compiled_ws.table("operations"))
    python = tier_rows(python_ws.table("operations"))
    assert compiled == python, "\n".join(tier_differences(compiled, python))


def test_both_tiers_write_the_same_coverage(compiled_ws: Any, python_ws: Any) -> None:
    columns = ("capture", "flow_id", "protocol", "method", "pdus", "payload_bytes", "gap_bytes",
               "gaps", "undecoded_bytes", "midstream", "encrypted", "errors")  # fmt: skip
    compiled = Counter(tuple(r[c] for c in columns) for r in compiled_ws.table("coverage"))
    python = Counter(tuple(r[c] for c in columns) for r in python_ws.table("coverage"))
    assert compiled == python, "\n".join(tier_differences(compiled, python))


def test_both_tiers_write_the_same_identities(compiled_ws: Any, python_ws: Any) -> None:
    columns = ("capture", "ip", "mac", "attribute", "value", "protocol", "count", "first_frame")
    compiled = Counter(tuple(r[c] for c in columns) for r in compiled_ws.table("identities"))
    python = Counter(tuple(r[c] for c in columns) for r in python_ws.table("identities"))
    assert compiled == python, "\n".join(tier_differences(compiled, python))


@pytest.fixture(scope="module")
def synth_tiers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Row]]:
    """A 20,000-frame synthetic crane capture (seed 1) ingested by each tier."""
    from cranewatch.store.query import run_query
    from cranewatch.testbed.synth import write_synthetic_capture

    root = tmp_path_factory.mktemp("synth-tiers")
    capture = root / "synth_20000_seed1.pcap"
    write_synthetic_capture(capture, 20_000, 1)
    out = {}
    for tier in ("compiled", "python"):
        ws = Workspace.open(root / tier, create=True)
        report = ingest_paths(ws, [capture], compiled_tier=tier == "compiled")
        assert [o.status for o in report.outcomes] == ["ingested"]
        out[tier] = plain_rows(run_query(ws, "SELECT 'synth' AS capture, * FROM operations"))
    return out


def test_both_tiers_agree_on_a_synthetic_capture(synth_tiers: dict[str, list[Row]]) -> None:
    compiled, python = tier_rows(synth_tiers["compiled"]), tier_rows(synth_tiers["python"])
    assert compiled == python, "\n".join(tier_differences(compiled, python))
    protocols = pdus(synth_tiers["compiled"], lambda r: r["protocol"])
    assert {"modbus", "s7comm", "opcua"} <= set(protocols) and sum(protocols.values()) > 5000


def test_synthetic_s7comm_equals_tshark(synth_tiers: dict[str, list[Row]]) -> None:
    """The S7 functions of the synthetic capture against its stored tshark counts."""
    stored = load_baseline(BASELINES, "synth_20000_seed1.pcap", "s7comm.param.func").counts
    for tier, rows in synth_tiers.items():
        ours = pdus((r for r in rows if r["protocol"] == "s7comm" and r["code"] < 0x100),
                    lambda r: f"0x{r['code']:02x}")  # fmt: skip
        assert ours == stored, tier


# =============================================================================== 5. identities


def identity_facts(ws: Any, capture: str, protocol: str) -> dict[str, dict[str, set[str]]]:
    """ip -> attribute -> values of one protocol's identities in one capture."""
    out: dict[str, dict[str, set[str]]] = {}
    for r in ws.rows("identities", capture, protocol=protocol):
        out.setdefault(r["ip"], {}).setdefault(r["attribute"], set()).add(r["value"])
    return out


#: Order number and firmware of the CPU from SZL 0x0011 (docs/validation.md, S7comm, *Not in
#: the peer*: ICSNPP has neither; tshark's s7comm.szl.xy11 fields, see the live test below).
S7_MODULE = {
    "s7comm_ident_szl_icsnpp.pcap": ("172.17.0.2", "6ES7 315-2EH14-0AB0", "V3.2.6", "4"),
    "s7comm_snap7_client_icsnpp.pcap": ("134.217.61.211", "6ES7 315-2EH14-0AB0", "V3.2.7", "3"),
}


@pytest.mark.parametrize("capture", list(S7_MODULE))
def test_s7_szl_gives_order_number_and_firmware_of_the_plc(tier_ws: Any, capture: str) -> None:
    ip, order_number, firmware, hardware = S7_MODULE[capture]
    plc = {r["id.resp_h"] for r in zeek_log(
        ZEEK / "s7comm" / capture.removesuffix(".pcap") / "s7comm.log", strict=False)}  # fmt: skip
    assert plc == {ip}
    facts = identity_facts(tier_ws, capture, "s7comm")
    assert set(facts) == {ip}
    assert facts[ip]["order_number"] == {order_number}
    assert facts[ip]["firmware"] == {firmware}
    assert facts[ip]["hardware_version"] == {hardware}
    for r in tier_ws.rows("identities", capture, protocol="s7comm"):
        assert r["confidence"] == 1.0 and r["count"] >= 1 and r["first_frame"] >= 1


@pytest.mark.needs_tshark
@pytest.mark.parametrize("capture", list(S7_MODULE))
def test_s7_szl_identity_equals_tshark(tshark: str, compiled_ws: Any, capture: str) -> None:
    """SZL 0x0011 records 0x0001 (order number, hardware: Ausbg) and 0x0007 (firmware: 'V',
    Ausbg's low byte, Ausbe's two bytes), SZL 0x001C names and serial, as tshark decodes them."""
    fields = ["ip.src", "s7comm.szl.xy11.0001.index", "s7comm.szl.xy11.0001.anz",
              "s7comm.szl.xy11.0001.ausbg", "s7comm.szl.xy11.0001.ausbe",
              "s7comm.szl.001c.0001.name", "s7comm.szl.001c.0002.name",
              "s7comm.szl.001c.0005.serialn", "s7comm.szl.001c.0007.cputypname"]  # fmt: skip
    seen: dict[str, set[str]] = {}
    for src, index, mlfb, ausbg, ausbe, station, module, serial, model in tshark_fields(
        CAPTURES / capture,
        fields,
        "s7comm.szl.xy11.0001.index || s7comm.szl.001c.0001.name",
        tshark=tshark,
    ):
        for i, idx in enumerate(index):
            if idx == "0x0001":
                seen.setdefault("order_number", set()).add(mlfb[i].strip())
                seen.setdefault("hardware_version", set()).add(str(int(ausbg[i])))
            elif idx == "0x0007":
                g, e = int(ausbg[i]), int(ausbe[i])
                seen.setdefault("firmware", set()).add(f"V{g & 0xFF}.{e >> 8}.{e & 0xFF}")
        for attribute, values in (("station_name", station), ("product_name", module),
                                  ("serial", serial), ("model", model)):  # fmt: skip
            seen.setdefault(attribute, set()).update(values)
        assert src == [S7_MODULE[capture][0]]
    facts = identity_facts(compiled_ws, capture, "s7comm")[S7_MODULE[capture][0]]
    assert {a: facts[a] for a in seen} == seen and len(seen) == 7


def test_modbus_device_identification_equals_tshark(tier_ws: Any) -> None:
    """Read Device Identification objects 0-2 (VendorName, ProductCode, MajorMinorRevision) of
    the baseline's frame, for the server that answered (the responder of ICSNPP's log)."""
    capture = "modbus_tcp_icsnpp_example.pcap"
    stored = baseline(capture, "modbus.object_str_value").extra["objects"]
    ((frame, objects),) = stored.items()
    by_object = {"0": "vendor", "1": "product_code", "2": "firmware"}  # 3 VendorUrl, 4+ none
    server = {r["id.resp_h"] for r in zeek_log(
        ZEEK / "modbus" / "modbus_tcp_icsnpp_example" / "modbus_detailed.log")
        if r["mei_type"] != "-"}  # fmt: skip
    rows = list(tier_ws.rows("identities", capture, protocol="modbus"))
    assert {(r["ip"], r["attribute"], r["value"]) for r in rows} == {
        (ip, by_object[oid], value) for ip in server for oid, value in objects.items()
    }
    assert {r["first_frame"] for r in rows} == {int(frame)}


#: docs/validation.md, EtherNet/IP, *Vendor name*: ODVA vendor id of the one vendor name.
ODVA_VENDOR_IDS = {"Rockwell Automation/Allen-Bradley": "1"}


def test_cip_identity_equals_icsnpp_cip_identity_log(tier_ws: Any) -> None:
    """cip_identity.log: socket address, vendor, device type, product code, revision, serial,
    product name; ICSNPP's device status and state are no identity attributes
    (docs/validation.md, EtherNet/IP, *Not identity attributes*)."""
    capture = "enip_cip_icsnpp_example.pcap"
    (row,) = zeek_rows(ZEEK / "enip" / "enip_cip_icsnpp_example" / "cip_identity.log")
    facts = identity_facts(tier_ws, capture, "enip")
    assert set(facts) == {row[7]}  # the device that answered ListIdentity
    assert {a: v for a, (v,) in facts[row[7]].items()} == {
        "ip_address": row[12], "vendor_id": ODVA_VENDOR_IDS[row[15]], "device_role": row[17],
        "product_code": row[18], "firmware": row[19], "serial": row[21], "product_name": row[22],
    }  # fmt: skip


@pytest.mark.needs_tshark
def test_cip_identity_equals_tshark(tshark: str, compiled_ws: Any) -> None:
    capture = "enip_cip_icsnpp_example.pcap"
    fields = ["ip.src", "enip.lir.name", "enip.lir.serial", "enip.lir.prodcode", "enip.lir.vendor"]
    ((src, name, serial, product, vendor),) = tshark_fields(
        CAPTURES / capture, fields, "enip.lir.name", tshark=tshark)  # fmt: skip
    (got,) = identity_facts(compiled_ws, capture, "enip").items()
    assert got[0] == src[0]
    assert got[1]["product_name"] == set(name) and got[1]["serial"] == set(serial)
    assert got[1]["product_code"] == set(product)
    assert {str(int(v, 0)) for v in vendor} == got[1]["vendor_id"]
