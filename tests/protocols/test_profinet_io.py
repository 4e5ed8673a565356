"""PROFINET IO CM analyzer: inline DCE/RPC calls (header built field by field, PNIO blocks as
hex), both PROFINET captures against tshark and the ICSNPP Zeek logs, detection, fuzzing."""

from __future__ import annotations

import struct
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols import _wire_oracle as O

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer
from cranewatch.protocols.profinet_io import ANALYZER

DEVICE = uuid.UUID("dea00001-6c97-11d1-8271-00a02442df7d")
CONTROLLER = uuid.UUID("dea00002-6c97-11d1-8271-00a02442df7d")
EPM = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
OBJECT = uuid.UUID("dea00000-6c97-11d1-8271-00010313002a")  # instance 1, device 0x0313, Siemens
ACTIVITY = uuid.UUID("13142f90-0000-1000-a994-d2106890ca5a")
PTYPES = {"request": "0", "response": "2", "fault": "3", "reject": "6"}


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def rpc(ptype: int, opnum: int, body: bytes, *, little: bool = False, interface: uuid.UUID = DEVICE,
        fragnum: int = 0, flags1: int = 0x20, seq: int = 0) -> bytes:  # fmt: skip
    """A connectionless DCE/RPC PDU (C706 12.5.3) with the given stub data."""
    o = "<" if little else ">"
    ids = b"".join(u.bytes_le if little else u.bytes for u in (OBJECT, interface, ACTIVITY))
    drep = bytes([0x10 if little else 0x00, 0, 0])
    head = bytes([4, ptype, flags1, 0]) + drep + b"\x00" + ids
    head += struct.pack(
        o + "IIIHHHHHBB", 0, 1, seq, opnum, 0xFFFF, 0xFFFF, len(body), fragnum, 0, 0
    )
    assert len(head) == 80
    return head + body


def request_body(blocks: bytes, little: bool = False) -> bytes:
    o = "<" if little else ">"
    return struct.pack(o + "IIIII", 4096, len(blocks), 4096, 0, len(blocks)) + blocks


def response_body(blocks: bytes, status: int = 0, little: bool = False) -> bytes:
    o = "<" if little else ">"
    return (
        struct.pack(">I", status)
        + struct.pack(o + "IIII", len(blocks), 4096, 0, len(blocks))
        + blocks
    )


AR_UUID = "7c74224e166c4a58bf6b6c25a75870f0"
AR_BLOCK_REQ = ("0101 003b 0100 0001" + AR_UUID + "0001 00a0456dd343"
                "dea000006c9711d182710001003c00b0 00000011 0258 8892 0005 706c632d31")  # fmt: skip


def write_header(
    btype: int, slot: int, subslot: int, index: int, length: int, status: int = 0
) -> str:
    """IODWriteReqHeader / IODWriteResHeader / IODReadReqHeader / IODReadResHeader (64 octets)."""
    tail = f"{length:08x}" + (
        "0000 0000" + f"{status:08x}" + "00" * 16 if btype & 0x8000 else "00" * 24
    )
    return (f"{btype:04x} 003c 0100 0001" + AR_UUID + "00000000" + f"{slot:04x}{subslot:04x}"
            "0000" + f"{index:04x}" + tail)  # fmt: skip


def parse(pdu: bytes, from_client: bool = True):
    result = ANALYZER.parse(pdu, from_client, {})
    assert result.error is None, result.error
    assert len(result.operations) == 1
    return result.operations[0], {(i.attribute, i.value, i.about) for i in result.identities}


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.ports == (34964,) and ANALYZER.name == "profinet_io"


def test_connect_request_station_name_mac_and_object_ids() -> None:
    pdu = rpc(0, 0, request_body(h(AR_BLOCK_REQ)))
    assert ANALYZER.detect(pdu, True, 34964) >= 0.9
    op, ids = parse(pdu)
    assert (op.code, op.name, op.direction, op.target) == (0, "connect", "request", "IOCARSingle")
    assert op.is_control and op.detail["ar_uuid"] == str(uuid.UUID(AR_UUID))
    assert ids == {
        ("station_name", "plc-1", "sender"),
        ("mac_address", "00:a0:45:6d:d3:43", "sender"),
        ("vendor_id", "0x002A", "receiver"),
        ("device_id", "0x0313", "receiver"),
    }


def test_connect_response_error_status_little_endian() -> None:
    op, ids = parse(rpc(2, 0, response_body(b"", status=0xDB814004, little=True), little=True),
                    from_client=False)  # fmt: skip
    assert (op.direction, op.exception) == ("response", 0xDB814004)
    assert ("vendor_id", "0x002A", "sender") in ids


def test_write_single_record() -> None:
    body = request_body(h(write_header(0x0008, 1, 1, 0xAFF1, 4) + "41424344"))
    op, _ = parse(rpc(0, 3, body))
    assert (op.code, op.name, op.is_write, op.is_diagnostic) == (3, "write", True, False)
    assert op.target == "api 0x0 slot 0x1 subslot 0x1 index 0xAFF1 I&M1"


def test_multiple_write_request_lists_nested_records() -> None:
    inner = (
        write_header(0x0008, 0, 0x8000, 0x8071, 2)
        + "0102 0000"
        + write_header(0x0008, 2, 1, 1, 4)
        + "0a0b0c0d"
    )
    outer = write_header(0x0008, 0xFFFF, 0xFFFF, 0xE040, len(h(inner)))
    op, _ = parse(rpc(0, 3, request_body(h(outer + inner))))
    assert op.detail["records"] == [0x8071, 0x0001]
    assert op.target.endswith("index 0xE040 MultipleWrite (2 records)")


def test_write_response_record_status_is_the_exception() -> None:
    res = write_header(0x8008, 0, 1, 0x0001, 0, status=0xDF80B100)
    op, _ = parse(rpc(2, 3, response_body(h(res))), from_client=False)
    assert (op.name, op.direction, op.exception) == ("write", "response", 0xDF80B100)


IM0 = (
    "0020 0038 0100 002a"
    + b"6ES7 516-3AN01-0AB0 ".hex()
    + b"S C-HAR12345678 ".hex()
    + "0003 56 020901 0000 0000 0000 0101 001e"
)  # I&M0: 60 octets


def test_read_im0_response_order_number_serial_firmware() -> None:
    op, ids = parse(rpc(2, 2, response_body(h(write_header(0x8009, 0, 1, 0xAFF0, 60) + IM0))),
                    from_client=False)  # fmt: skip
    assert (op.name, op.is_read, op.is_diagnostic) == ("read", True, True)
    assert op.target == "api 0x0 slot 0x0 subslot 0x1 index 0xAFF0 I&M0"
    assert {
        ("order_number", "6ES7 516-3AN01-0AB0", "sender"),
        ("serial", "S C-HAR12345678", "sender"),
        ("firmware", "V2.9.1", "sender"),
        ("hardware_version", "3", "sender"),
        ("vendor_id", "0x002A", "sender"),
    } <= ids


def test_read_implicit_request() -> None:
    op, _ = parse(rpc(0, 5, request_body(h(write_header(0x0009, 0, 0x8002, 0x800C, 10000)))))
    assert (op.code, op.name, op.is_read, op.is_diagnostic) == (5, "read_implicit", True, True)
    assert op.target.endswith("index 0x800C Diagnosis")


def test_control_prm_end_and_application_ready() -> None:
    prm_end = "0110 001c 0100 0000" + AR_UUID + "0001 0000 0001 0000"
    op, _ = parse(rpc(0, 4, request_body(h(prm_end))))
    assert (op.code, op.name, op.target, op.is_control) == (4, "control", "PrmEnd", True)
    ready = "0112 001c 0100 0000" + AR_UUID + "0001 0000 0002 0000"
    op, _ids = parse(
        rpc(0, 4, request_body(h(ready), little=True), little=True, interface=CONTROLLER)
    )
    assert op.target == "ApplicationReady" and op.detail["interface"] == "io_controller"
    done = "8112 001c 0100 0000" + AR_UUID + "0001 0000 0008 0000"
    op, _ = parse(rpc(2, 4, response_body(h(done)), interface=CONTROLLER), from_client=False)
    assert (op.direction, op.target, op.detail["control_block"]) == (
        "response",
        "Done",
        "IOXControlRes",
    )


def test_release_request() -> None:
    release = "0114 001c 0100 0000" + AR_UUID + "0001 0000 0004 0000"
    op, _ = parse(rpc(0, 1, request_body(h(release))))
    assert (op.code, op.name, op.target, op.is_control) == (1, "release", "Release", True)


def test_fault_and_reject_carry_the_status() -> None:
    op, _ = parse(rpc(3, 3, struct.pack(">I", 0x1C010003)), from_client=False)
    assert (op.direction, op.exception, op.detail["ptype"]) == ("response", 0x1C010003, "fault")


@pytest.mark.parametrize("ptype", [1, 4, 5, 7, 9, 10])  # ping, working, nocall, ack, fack, ...
def test_transport_packets_give_no_operation(ptype: int) -> None:
    result = ANALYZER.parse(rpc(ptype, 3, b""), True, {})
    assert result.operations == [] and result.error is None


def test_later_fragments_are_counted_with_the_first() -> None:
    body = request_body(h(write_header(0x0008, 0, 1, 0x0001, 4) + "01020304"))
    first = ANALYZER.parse(rpc(0, 3, body, flags1=0x24), True, {})
    later = ANALYZER.parse(rpc(0, 3, b"\x00" * 40, flags1=0x26, fragnum=1), True, {})
    assert len(first.operations) == 1 and later.operations == [] and later.error is None


def test_other_interfaces_and_malformed_datagrams() -> None:
    epm = rpc(0, 2, b"\x00" * 20, interface=EPM)
    assert ANALYZER.detect(epm, True, 34964) == 0.3
    assert "not PNIO" in (ANALYZER.parse(epm, True, {}).error or "")
    good = rpc(0, 4, request_body(b""))
    for bad in (good[:79], good[:-1], b"\x05" + good[1:], good[:74] + b"\xff\xff" + good[76:]):
        result = ANALYZER.parse(bad, True, {})
        assert result.error and not result.operations
        assert ANALYZER.detect(bad, True, 34964) == 0.0


def test_truncated_blocks_keep_the_operation() -> None:
    body = request_body(h(AR_BLOCK_REQ))[:40]
    result = ANALYZER.parse(rpc(0, 0, body), True, {})
    assert result.operations[0].name == "connect"


# -- real captures ---------------------------------------------------------------------------
@pytest.fixture(scope="module", params=O.PNIO_CAPTURES)
def capture(request: pytest.FixtureRequest) -> tuple[str, list[O.Unit]]:
    return request.param, O.run_datagrams(ANALYZER, O.CAPTURES / request.param)


def test_capture_counts_equal_tshark(capture: tuple[str, list[O.Unit]]) -> None:
    name, units = capture
    assert all(u.result.error is None for u in units)
    by_opnum = O.op_counts(units, lambda u, op: str(op.code))
    assert by_opnum == Counter(O.baseline("profinet_io", name, "dcerpc.opnum").counts)
    by_type = O.op_counts(units, lambda u, op: PTYPES[op.detail["ptype"]])
    assert by_type == Counter(O.baseline("profinet_io", name, "dcerpc.pkt_type").counts)
    for u in units:
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


#: Records tshark finds and cranewatch does not (docs/validation.md, PROFINET IO CM): their
#: IODWriteReqHeaders lie in the second fragment of the three fragmented MultipleWrites.
INDEXES_BEYOND_FIRST_FRAGMENT = {"profinet_io_cm_dcerpc.pcap": Counter({"0xb060": 3, "0x802f": 1})}


def test_record_indexes_equal_tshark(capture: tuple[str, list[O.Unit]]) -> None:
    """Index of every Read/Write header, MultipleWrite records and CombinedObjectContainer
    contents included, against tshark's ``pn_io.index`` occurrences."""
    name, units = capture
    ours: Counter[str] = Counter()
    for u in units:
        for op in u.result.operations:
            if "index" in op.detail:
                for index in (op.detail["index"], *op.detail.get("records", ())):
                    ours[f"0x{index:04x}"] += 1
    tshark = Counter(O.baseline("profinet_io", name, "pn_io.index").counts)
    assert ours + INDEXES_BEYOND_FIRST_FRAGMENT.get(name, Counter()) == tshark


@pytest.mark.needs_tshark
def test_tshark_baselines_are_current(tshark: str) -> None:
    for spec in O.FIELD_BASELINES["profinet_io"]:
        O.check_live(tshark, spec)


def _role(interface: str) -> str:
    return {"DEA00001": "io_device", "0100A0DE": "io_device", "DEA00002": "io_controller",
            "0200A0DE": "io_controller"}.get(interface[:8], interface)  # fmt: skip


def test_agrees_with_zeek_profinet_io_cm_log(capture: tuple[str, list[O.Unit]]) -> None:
    """Per call: sender and receiver port, packet type, operation, sequence number, interface,
    and the device/vendor id in the object UUID (its last octets, which Zeek prints unswapped)."""
    name, units = capture
    log = O.ZEEK / "profinet" / name.rsplit(".", 1)[0] / "profinet_io_cm.log"
    zeek = Counter(
        (int(r[5]), int(r[7]), r[10].lower(), r[31].lower().replace(" ", "_"), int(r[30]),
         _role(r[25]), r[24][-8:].upper())
        for r in O.zeek_rows(log)
        if r[10] in ("Request", "Response", "Fault", "Reject") and r[35] == "0"
    )  # fmt: skip
    ours: Counter[tuple] = Counter()
    for u in units:
        ports = (u.flow.src_port, u.flow.dst_port)[:: 1 if u.direction == 0 else -1]
        ids = {i.attribute: i.value[2:] for i in u.result.identities if i.confidence == 0.8}
        for op in u.result.operations:
            d = op.detail
            ours[(*ports, d["ptype"], op.name, d["seq"], d["interface"],
                  ids["device_id"] + ids["vendor_id"])] += 1  # fmt: skip
    assert ours == zeek


def test_detection_by_content_over_all_captures() -> None:
    assert O.detection_mismatches(ANALYZER, "profinet_io") == []


# -- fuzzing ---------------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    for from_client in (True, False):
        assert 0.0 <= ANALYZER.detect(data, from_client, 34964) <= 1.0
        assert len(ANALYZER.parse(data, from_client, {}).operations) <= 1


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(rpc(0, data[0] % 6 if data else 0, data))
    _check(rpc(2, 2, response_body(data)))


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return O.real_pdus(O.run_datagrams(ANALYZER, O.CAPTURES / O.PNIO_CAPTURES[1]))


@FUZZ
@given(st.data())
def test_fuzz_mutated_real_calls(seeds: list[bytes], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(80, 2000), st.integers(0, 255)), max_size=8))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))
