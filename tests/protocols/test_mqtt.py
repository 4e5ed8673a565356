"""MQTT analyzer: inline packets of 3.1.1 and 5.0, the real capture against tshark and Zeek,
detection over every capture, and fuzzing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols import _wire_oracle as O

from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, StreamAnalyzer
from cranewatch.protocols.mqtt import ANALYZER, MAX_REMAINING

CAPTURE = O.CAPTURES / O.MQTT_CAPTURE
ZEEK = O.ZEEK / "mqtt" / "mqtt_connect_subscribe_publish"


def parse(hexstr: str, from_client: bool = True, state: dict | None = None):
    pdu = bytes.fromhex(hexstr.replace(" ", ""))
    assert ANALYZER.pdu_length(pdu, 0) == len(pdu)
    result = ANALYZER.parse(pdu, from_client, {} if state is None else state)
    assert result.error is None, result.error
    assert len(result.operations) == 1
    return result.operations[0], result


def test_contract() -> None:
    assert isinstance(ANALYZER, StreamAnalyzer)
    assert ANALYZER.name == "mqtt" and 1883 in ANALYZER.ports


# -- MQTT 3.1.1 ------------------------------------------------------------------------------
CONNECT_311 = "10 1d 0004 4d515454 04 c2 003c 0008 6372616e652d3037 0003 6f7073 0002 7077"


def test_connect_311_client_id_username_present_password_never_kept() -> None:
    state: dict = {}
    op, result = parse(CONNECT_311, state=state)
    assert (op.code, op.name, op.direction) == (1, "connect", "request")
    assert op.target == "client_id=crane-07"
    assert op.detail["protocol_name"] == "MQTT" and op.detail["protocol_version"] == "3.1.1"
    assert op.detail["username_present"] and op.detail["password_present"]
    assert op.detail["username"] == "ops" and "pw" not in str(op.detail)
    assert [(i.attribute, i.value, i.about) for i in result.identities] == [
        ("client_id", "crane-07", "sender")
    ]
    assert state["level"] == 4


@pytest.mark.parametrize(("code", "exception"), [(0, None), (4, 4), (5, 5)])
def test_connack_return_codes(code: int, exception: int | None) -> None:
    op, _ = parse(f"20 02 00 {code:02x}", from_client=False)
    assert (op.code, op.name, op.direction, op.exception) == (2, "connack", "response", exception)


def test_publish_qos1_from_client_is_a_write_to_the_topic() -> None:
    op, _ = parse("32 0f 000a 6372616e652f73746f70 0007 31")
    assert (op.code, op.name, op.direction, op.target) == (3, "publish", "request", "crane/stop")
    assert op.is_write and not op.is_read
    assert op.detail == {"qos": 1, "retain": False, "dup": False, "packet_id": 7, "payload_len": 1}


def test_publish_from_broker_is_unsolicited_and_multi_byte_remaining_length() -> None:
    pdu = "31 cb01 0001 61" + "00" * 200  # Remaining Length 203 in two bytes, retain set
    op, _ = parse(pdu, from_client=False)
    assert op.direction == "unsolicited" and op.target == "a"
    assert op.detail["retain"] and op.detail["payload_len"] == 200


@pytest.mark.parametrize(
    ("hexstr", "code", "name", "direction"),
    [
        ("40 02 0007", 4, "puback", "response"),
        ("50 02 0007", 5, "pubrec", "response"),
        ("62 02 0007", 6, "pubrel", "request"),
        ("70 02 0007", 7, "pubcomp", "response"),
        ("c0 00", 12, "pingreq", "request"),
        ("d0 00", 13, "pingresp", "response"),
        ("e0 00", 14, "disconnect", "request"),
    ],
)
def test_acknowledgements_ping_disconnect(
    hexstr: str, code: int, name: str, direction: str
) -> None:
    op, _ = parse(hexstr, from_client=direction == "request")
    assert (op.code, op.name, op.direction, op.exception) == (code, name, direction, None)


def test_subscribe_and_suback() -> None:
    op, _ = parse("82 10 0001 000b 6372616e652f2b2f706f73 01")
    assert (op.code, op.name, op.target, op.is_read) == (8, "subscribe", "crane/+/pos", True)
    assert op.detail["qos_levels"] == [1]
    ack, _ = parse("90 03 0001 01", from_client=False)
    assert (ack.code, ack.name, ack.exception, ack.detail["return_codes"]) == (
        9,
        "suback",
        None,
        [1],
    )
    failed, _ = parse("90 03 0001 80", from_client=False)
    assert failed.exception == 0x80


def test_unsubscribe_and_unsuback() -> None:
    op, _ = parse("a2 0f 0002 000b 6372616e652f2b2f706f73")
    assert (op.code, op.name, op.target) == (10, "unsubscribe", "crane/+/pos")
    ack, _ = parse("b0 02 0002", from_client=False)
    assert (ack.code, ack.name) == (11, "unsuback")


# -- MQTT 5.0 --------------------------------------------------------------------------------
def test_mqtt5_connect_properties_and_assigned_client_identifier() -> None:
    state: dict = {}
    op, _result = parse("10 16 0004 4d515454 05 02 003c 05 110000003c 0004 67773031", state=state)
    assert op.detail["protocol_version"] == "5.0" and op.target == "client_id=gw01"
    assert state["level"] == 5
    ack, ack_result = parse("20 0d 00 00 0a 12 0007 6175746f2d6964", from_client=False, state=state)
    assert ack.exception is None
    assert [(i.attribute, i.value, i.about) for i in ack_result.identities] == [
        ("client_id", "auto-id", "receiver")
    ]
    refused, _ = parse("20 03 00 87 00", from_client=False, state=state)
    assert refused.exception == 0x87  # Not authorized


def test_mqtt5_publish_with_topic_alias_and_server_disconnect() -> None:
    state = {"level": 5}
    op, _ = parse("30 07 0000 03 230005 78", state=state)
    assert op.target == "alias:5" and op.detail["topic_alias"] == 5
    bye, _ = parse("e0 01 8e", from_client=False, state=state)
    assert (bye.direction, bye.exception) == ("unsolicited", 0x8E)  # Session taken over
    auth, _ = parse("f0 00", state=state)
    assert (auth.code, auth.name) == (15, "auth")


# -- framing and malformed input -------------------------------------------------------------
@pytest.mark.parametrize(
    ("hexstr", "expected"),
    [
        ("", 0),
        ("30", 0),  # Remaining Length not there yet
        ("30ff", 0),  # Remaining Length continues
        ("00 00", -1),  # packet type 0 is reserved
        ("81 02 0001", -1),  # SUBSCRIBE must have flags 0b0010
        ("36 00", -1),  # PUBLISH with QoS 3
        ("30 ffffffff7f", -1),  # five-byte Remaining Length
        ("30 8000", -1),  # over-long encoding of 0
        ("30 ffffff7f", 1 + 4 + MAX_REMAINING),
    ],
)
def test_pdu_length(hexstr: str, expected: int) -> None:
    assert ANALYZER.pdu_length(bytes.fromhex(hexstr.replace(" ", "")), 0) == expected


def test_malformed_packets_give_errors_not_exceptions() -> None:
    short_topic = ANALYZER.parse(bytes.fromhex("3005 0009 6161 61"), True, {})
    assert short_topic.error and short_topic.operations[0].name == "publish"
    assert ANALYZER.parse(bytes.fromhex("c001 00"), True, {}).error  # PINGREQ with a body
    assert ANALYZER.parse(bytes.fromhex("3009 00"), True, {}).error  # length lies
    assert ANALYZER.parse(b"\x10\x04\x00\x02XY", True, {}).error  # unknown protocol name


# -- real capture ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[O.Unit]:
    return O.run_stream(ANALYZER, CAPTURE)


def test_capture_parses_without_errors(units: list[O.Unit]) -> None:
    assert units and all(u.result.error is None for u in units)
    for u in units:
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)


def test_counts_equal_tshark_msgtype(units: list[O.Unit]) -> None:
    (spec,) = O.FIELD_BASELINES["mqtt"]
    ours = O.op_counts(units, lambda u, op: str(op.code))
    assert ours == Counter(O.load_baseline(spec).counts)


@pytest.mark.needs_tshark
def test_tshark_baseline_is_current(tshark: str) -> None:
    for spec in O.FIELD_BASELINES["mqtt"]:
        O.check_live(tshark, spec)


def test_detection_by_content_over_all_captures() -> None:
    assert O.detection_mismatches(ANALYZER, "mqtt") == []


def test_agrees_with_zeek_connect_log(units: list[O.Unit]) -> None:
    """mqtt_connect.log: orig port, proto_name, proto_version, client_id, connect_status."""
    zeek = sorted(
        (int(r[3]), r[6], r[7], r[8], r[9]) for r in O.zeek_rows(ZEEK / "mqtt_connect.log")
    )
    ours = []
    for u in units:
        for op in u.result.operations:
            if op.name == "connect":
                acks = [a for v in units if v.flow is u.flow for a in v.result.operations
                        if a.name == "connack"]  # fmt: skip
                status = "Connection Accepted" if acks and acks[0].exception is None else "refused"
                d = op.detail
                ours.append((u.flow.src_port, d["protocol_name"], d["protocol_version"],
                             d["client_id"], status))  # fmt: skip
    assert sorted(ours) == zeek


def test_agrees_with_zeek_publish_and_subscribe_logs(units: list[O.Unit]) -> None:
    qos_names = {0: "at most once", 1: "at least once", 2: "exactly once"}
    zeek_pub = Counter((int(r[3]), r[6] == "T", r[7] == "T", r[8], r[10], int(r[12]))
                       for r in O.zeek_rows(ZEEK / "mqtt_publish.log"))  # fmt: skip
    ours_pub = Counter(
        (u.flow.src_port, u.direction == 0, op.detail["retain"], qos_names[op.detail["qos"]],
         op.target, op.detail["payload_len"])
        for u in units for op in u.result.operations if op.name == "publish"
    )  # fmt: skip
    assert ours_pub == zeek_pub
    zeek_sub = [
        (int(r[3]), r[7], r[8], r[9], r[10]) for r in O.zeek_rows(ZEEK / "mqtt_subscribe.log")
    ]
    subs = [(u, op) for u in units for op in u.result.operations if op.name == "subscribe"]
    acks = [op for u in units for op in u.result.operations if op.name == "suback"]
    ours_sub = [(u.flow.src_port, op.target, ",".join(map(str, op.detail["qos_levels"])),
                 str(acks[0].detail["return_codes"][0]), "T" if acks else "F")
                for u, op in subs]  # fmt: skip
    assert ours_sub == zeek_sub


# -- fuzzing ---------------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    n = ANALYZER.pdu_length(data, 0)
    assert n >= -1 and n <= 1 + 4 + MAX_REMAINING
    if n > 0:
        # the claimed framing: one type byte, the Remaining Length varint, that many bytes
        used = next(i for i in range(1, 5) if not data[i] & 0x80)
        claimed = sum((data[1 + i] & 0x7F) << (7 * i) for i in range(used))
        assert n == 1 + used + claimed
        result = ANALYZER.parse(data[:n], True, {"level": 5})
        assert result.operations or result.error
    ANALYZER.parse(data, False, {})
    ANALYZER.detect(data, data[::-1], 1883)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)


@FUZZ
@given(st.data())
def test_fuzz_mutated_real_packets(units: list[O.Unit], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(O.real_pdus(units)))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))
