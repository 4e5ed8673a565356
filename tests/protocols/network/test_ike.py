"""IKE analyzer: the IKEv1 main mode and IKEv2 NAT-T captures against tshark and Zeek's
ipsec.log, hand-built IKEv1/IKEv2 messages (aggressive mode identities, certificates, notify
errors, fragments, NAT-T marker, ESP-in-UDP, keepalives), lying lengths, detection over every
capture and fuzzing."""

from __future__ import annotations

import datetime
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings
from tests.protocols import _wire_oracle as O
from tests.protocols.network._oracle import (
    datagram_flow_mismatches,
    tshark_fields,
    udp_capture_frames,
)

from cranewatch.protocols import ike
from cranewatch.protocols._base import IDENTITY_ATTRIBUTES, DatagramAnalyzer, ParseResult
from cranewatch.protocols.ike import ANALYZER, DH_GROUPS, NOTIFY, V1_ENCR, V1_HASH

V1_CAPTURE = O.CAPTURES / "ipsec_ikev1_main_mode.pcap"
V2_CAPTURE = O.CAPTURES / "ipsec_ikev2_client_nat_t_fragmented.pcap"
ZEEK = O.ZEEK / "ipsec"
ISPI = bytes.fromhex("0102030405060708")
RSPI = bytes.fromhex("a1a2a3a4a5a6a7a8")
NO_DEFRAGMENT = ("-o", "ip.defragment:FALSE")


# -- building messages ----------------------------------------------------------------------
def chain(payloads: list[tuple[int, bytes]]) -> bytes:
    out = b""
    for i, (_, body) in enumerate(payloads):
        following = payloads[i + 1][0] if i + 1 < len(payloads) else 0
        out += bytes([following, 0]) + (4 + len(body)).to_bytes(2, "big") + body
    return out


def message(payloads: list[tuple[int, bytes]], *, version: int = 0x20, exchange: int = 34,
            flags: int = 0x08, msgid: int = 0, ispi: bytes = ISPI, rspi: bytes = bytes(8),
            length: int | None = None) -> bytes:  # fmt: skip
    body = chain(payloads)
    first = payloads[0][0] if payloads else 0
    size = 28 + len(body) if length is None else length
    return (ispi + rspi + bytes([first, version, exchange, flags]) + msgid.to_bytes(4, "big")
            + size.to_bytes(4, "big") + body)  # fmt: skip


def v2_proposal(number: int, transforms: list[tuple[int, int, bytes]], last: bool = True) -> bytes:
    body = b""
    for i, (ttype, tid, attrs) in enumerate(transforms):
        more = 0 if i == len(transforms) - 1 else 3
        body += bytes([more, 0]) + (8 + len(attrs)).to_bytes(2, "big") + bytes([ttype, 0])
        body += tid.to_bytes(2, "big") + attrs
    head = bytes([0 if last else 2, 0]) + (8 + len(body)).to_bytes(2, "big")
    return head + bytes([number, 1, 0, len(transforms)]) + body


def notify_v2(kind: int, data: bytes = b"") -> tuple[int, bytes]:
    return 41, bytes([0, 0]) + kind.to_bytes(2, "big") + data


def run(pdu: bytes, from_client: bool = True, state: dict | None = None) -> ParseResult:
    result = ANALYZER.parse(pdu, from_client, {} if state is None else state)
    assert isinstance(result, ParseResult)
    return result


def only_op(result: ParseResult):
    assert len(result.operations) == 1, result
    return result.operations[0]


def test_contract() -> None:
    assert isinstance(ANALYZER, DatagramAnalyzer)
    assert ANALYZER.name == "ike" and ANALYZER.session_kind == "tunnel"
    assert ANALYZER.ports == (500, 4500) and ANALYZER.ethertypes == ()


# -- hand-built IKEv2 ----------------------------------------------------------------------------
AES_SHA256 = v2_proposal(1, [(1, 12, bytes.fromhex("800e0100")), (2, 5, b""), (3, 12, b""),
                             (4, 19, b"")])  # fmt: skip


def test_ikev2_sa_init_proposal_ke_nat_detection_and_vendor_ids() -> None:
    strongswan = bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb")
    pdu = message([(33, AES_SHA256), (34, bytes([0, 19, 0, 0]) + bytes(64)), (40, bytes(32)),
                   notify_v2(16388, bytes(20)), notify_v2(16389, bytes(20)),
                   (43, strongswan), (43, b"\x12\x34\x56")])  # fmt: skip
    assert ANALYZER.detect(pdu, True, 500) >= 0.9
    result = run(pdu)
    op = only_op(result)
    assert result.error is None
    assert (op.code, op.name, op.direction) == (34, "ike_sa_init", "request")
    assert op.target == "ikev2 ike_sa_init spi=0102030405060708/0000000000000000"
    assert not (op.is_read or op.is_write or op.is_control)
    d = op.detail
    assert d["version"] == "2.0" and d["flags"] == ["initiator"] and d["message_id"] == 0
    assert d["proposals"] == [{"number": 1, "protocol": "ike", "encryption": ["AES_CBC_256"],
                               "prf": ["HMAC_SHA2_256"], "integrity": ["HMAC_SHA2_256_128"],
                               "dh_group": ["ECP_256"]}]  # fmt: skip
    assert d["ke_dh_group"] == "ECP_256" and d["nat_detection"] is True
    assert d["vendor_ids"] == ["strongSwan", "UNKNOWN:123456"]
    facts = {(i.attribute, i.value, i.confidence, i.source) for i in result.identities}
    assert facts == {("software", "strongSwan", 1.0, "ike vendor id"),
                     ("software", "123456", 0.5, "ike vendor id")}  # fmt: skip


def test_ikev2_error_notify_in_response_is_the_exception() -> None:
    pdu = message([notify_v2(14)], flags=0x20, rspi=RSPI)
    op = only_op(run(pdu, from_client=False))
    assert (op.direction, op.exception, op.detail["notify"]) == (
        "response",
        14,
        ["NO_PROPOSAL_CHOSEN"],
    )


def test_ikev2_sk_payload_is_encrypted_not_an_error_and_never_stops() -> None:
    pdu = message([(46, bytes(80))], exchange=35, msgid=1, rspi=RSPI)
    result = run(pdu)
    op = only_op(result)
    assert result.error == "encrypted" and not result.stop
    assert (op.code, op.name, op.detail["encrypted"], op.detail["payloads"]) == (
        35,
        "ike_auth",
        True,
        ["SK"],
    )


def test_ikev2_skf_fragment_counts_with_its_number() -> None:
    pdu = message([(53, bytes([0, 2, 0, 3]) + bytes(40))], exchange=35, msgid=1, rspi=RSPI)
    result = run(pdu)
    assert result.error == "encrypted"
    assert only_op(result).detail["fragment"] == {"number": 2, "total": 3}


def test_ikev2_informational_response_and_dpd() -> None:
    pdu = message([], exchange=37, flags=0x20, msgid=7, rspi=RSPI)
    op = only_op(run(pdu, from_client=False))
    assert (op.code, op.name, op.direction, op.detail["payloads"]) == (
        37,
        "informational",
        "response",
        [],
    )


def test_ikev2_idr_from_initiator_is_about_the_receiver() -> None:
    idi = bytes([2, 0, 0, 0]) + b"modem-7.example.net"
    idr = bytes([3, 0, 0, 0]) + b"vpn@vendor.example"
    result = run(message([(35, idi), (36, idr)], exchange=35, msgid=1, rspi=RSPI))
    facts = {(i.attribute, i.value, i.about, i.source) for i in result.identities}
    assert facts == {
        ("hostname", "modem-7.example.net", "sender", "ike identification (fqdn)"),
        ("client_id", "vpn@vendor.example", "receiver", "ike identification (user_fqdn)"),
    }
    assert [(n.name, n.action, n.about) for n in result.names] == [
        ("modem-7.example.net", "announced", "sender")
    ]


# -- hand-built IKEv1 ----------------------------------------------------------------------------
def v1_sa() -> bytes:
    attrs = bytes.fromhex("8001000580020002800300018004000e")  # 3DES SHA1 PSK 2048
    transform = bytes([0, 0]) + (8 + len(attrs)).to_bytes(2, "big") + bytes([1, 1, 0, 0])
    proposal_body = bytes([1, 1, 0, 1]) + transform + attrs
    proposal = bytes([0, 0]) + (4 + len(proposal_body)).to_bytes(2, "big") + proposal_body
    return (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + proposal


def test_ikev1_aggressive_mode_identity_is_in_clear_text() -> None:
    ident = bytes([2, 17, 1, 0xF4]) + b"Crane-Modem.Example.COM"
    xauth = bytes.fromhex("09002689dfd6b712")
    pdu = message([(1, v1_sa()), (4, bytes(128)), (10, bytes(20)), (5, ident), (13, xauth)],
                  version=0x10, exchange=4, flags=0)  # fmt: skip
    assert ANALYZER.detect(pdu, True, 500) >= 0.9
    result = run(pdu)
    op = only_op(result)
    assert result.error is None
    assert (op.code, op.name, op.direction) == (4, "aggressive", "request")
    assert op.target == "ikev1 aggressive spi=0102030405060708/0000000000000000"
    assert op.detail["proposals"][0] == {"number": 1, "protocol": "ike",
                                         "encryption": ["3DES_CBC"], "integrity": ["SHA1"],
                                         "auth_method": ["PSK"],
                                         "dh_group": ["MODP_2048"]}  # fmt: skip
    assert op.detail["identification"] == [{"type": "fqdn", "protocol": 17, "port": 500,
                                             "value": "Crane-Modem.Example.COM"}]  # fmt: skip
    facts = {(i.attribute, i.value, i.confidence) for i in result.identities}
    assert ("hostname", "Crane-Modem.Example.COM", 1.0) in facts
    assert ("software", "XAUTH", 0.7) in facts
    assert result.names[0].action == "announced"


def test_ikev1_ipv4_identification_and_phase2_ids_are_not_identities() -> None:
    ident = bytes([1, 0, 0, 0]) + bytes([10, 1, 2, 3])
    result = run(message([(5, ident)], version=0x10, exchange=4, flags=0))
    assert [(i.attribute, i.value) for i in result.identities] == [("ip_address", "10.1.2.3")]
    phase2 = run(message([(5, ident)], version=0x10, exchange=32, flags=0, msgid=9, rspi=RSPI))
    assert phase2.identities == []
    assert only_op(phase2).detail["identification"][0]["value"] == "10.1.2.3"


def test_ikev1_direction_follows_who_opened_the_exchange() -> None:
    state: dict = {}
    first = only_op(run(message([(1, v1_sa())], version=0x10, exchange=2, flags=0), False, state))
    again = only_op(
        run(message([(1, v1_sa())], version=0x10, exchange=2, flags=0, rspi=RSPI), True, state)
    )
    assert (first.direction, again.direction) == ("request", "response")
    quick = message([(8, bytes(20))], version=0x10, exchange=32, flags=1, msgid=5, rspi=RSPI)
    assert only_op(run(quick, True, state)).direction == "request"
    assert only_op(run(quick, False, state)).direction == "response"
    info = message([(8, bytes(20))], version=0x10, exchange=5, flags=1, msgid=6, rspi=RSPI)
    assert only_op(run(info, True, state)).direction == "unsolicited"


def test_ikev1_encryption_flag_means_encrypted() -> None:
    pdu = message([(5, bytes(40))], version=0x10, exchange=2, flags=1, rspi=RSPI)
    result = run(pdu)
    assert result.error == "encrypted" and not result.stop and result.identities == []
    assert only_op(result).detail["flags"] == ["encrypted"]


def test_ikev1_dpd_notify_and_windows_vendor_id() -> None:
    windows = bytes.fromhex("1e2b516905991c7d7c96fcbfb587e46100000007")
    dpd = (1).to_bytes(4, "big") + bytes([1, 16]) + (36136).to_bytes(2, "big") + bytes(16)
    result = run(message([(13, windows), (11, dpd + bytes(4))], version=0x10, exchange=5,
                         flags=0, msgid=3, rspi=RSPI))  # fmt: skip
    op = only_op(result)
    assert op.detail["dead_peer_detection"] and op.detail["notify"] == ["R_U_THERE"]
    assert op.exception is None
    facts = {(i.attribute, i.value) for i in result.identities}
    assert facts == {("software", "Windows-7"), ("os", "Windows 7")}


def test_certificate_payload_names_are_certified() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw.remote-vendor.example")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("vpn.remote-vendor.example")]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    der = cert.public_bytes(serialization.Encoding.DER)
    result = run(message([(6, bytes([4]) + der)], version=0x10, exchange=4, flags=0, rspi=RSPI),
                 from_client=False)  # fmt: skip
    assert [(n.name, n.action, n.about) for n in result.names] == [
        ("gw.remote-vendor.example", "certified", "sender"),
        ("vpn.remote-vendor.example", "certified", "sender"),
    ]
    assert only_op(result).detail["certificates"][0]["subject"] == "CN=gw.remote-vendor.example"
    broken = run(message([(6, bytes([4]) + der[:50])], version=0x10, exchange=4, flags=0))
    assert broken.names == [] and only_op(broken).detail["certificates"][0]["error"]


# -- NAT-T framing on UDP 4500 -------------------------------------------------------------------
def test_nat_t_marker_keepalive_and_esp_in_udp_share_the_flow() -> None:
    state: dict = {}
    ike_msg = message([(46, bytes(64))], exchange=35, msgid=1, rspi=RSPI)
    assert ANALYZER.detect(b"\x00" * 4 + ike_msg, True, 4500) >= 0.9
    assert only_op(run(b"\x00" * 4 + ike_msg, True, state)).name == "ike_auth"
    keepalive = run(b"\xff", True, state)
    assert [(o.protocol, o.code, o.name) for o in keepalive.operations] == [
        ("ike", 0xFF, "nat_keepalive")
    ]
    assert ANALYZER.detect(b"\xff", True, 4500) >= 0.5 and ANALYZER.detect(b"\xff", True, 53) == 0
    results = []
    for seq in range(1, 7):
        esp = bytes.fromhex("c0ffee01") + seq.to_bytes(4, "big") + bytes(48)
        results.append(run(esp, seq % 2 == 1, state))
    ops = [o for r in results[:3] for o in r.operations]
    assert [(o.protocol, o.code, o.name, o.target) for o in ops] == [
        ("esp", 0, "esp_packet", "spi=0xc0ffee01")
    ] * 3
    assert [o.detail["sequence"] for o in ops] == [1, 2, 3]
    assert ops[-1].detail["first_sequence"] == 1 and ops[-1].detail["last_sequence"] == 3
    assert all(r.error == "encrypted" and not r.stop for r in results[3:])  # rekeys matter
    # the IKE rekey later in the same flow still decodes
    rekey = message([(46, bytes(64))], exchange=36, msgid=2, rspi=RSPI)
    assert only_op(run(b"\x00" * 4 + rekey, False, state)).name == "create_child_sa"


def test_plain_ike_flow_does_not_take_garbage_for_esp() -> None:
    state: dict = {}
    run(message([(33, AES_SHA256)]), True, state)
    garbage = run(bytes(range(1, 60)), False, state)
    assert garbage.error and garbage.operations == []


# -- lying lengths and malformed input -------------------------------------------------------------
@pytest.mark.parametrize(
    "pdu",
    [
        message([(43, b"x" * 16)], length=0),
        message([(43, b"x" * 16)], length=27),
        message([(43, b"x" * 16)], length=0xFFFFFFFF),
        ISPI
        + bytes(8)
        + bytes([43, 0x20, 34, 8])
        + bytes(4)
        + (36).to_bytes(4, "big")
        + bytes([0, 0, 0, 0])
        + bytes(4),  # payload length 0
        ISPI
        + bytes(8)
        + bytes([43, 0x20, 34, 8])
        + bytes(4)
        + (36).to_bytes(4, "big")
        + bytes([0, 0, 0xFF, 0xFF])
        + bytes(4),  # payload length 65535
        message([(33, bytes([0, 0, 0xFF, 0xFF, 1, 1, 0, 200]))]),  # proposal lies
        message([(33, bytes([0, 0, 0, 8, 1, 1, 0, 1]))]),  # 1 transform announced, none there
        message([(33, v2_proposal(1, [(1, 12, bytes.fromhex("000effff") + b"ab")]))]),  # TLV
        message([(1, bytes(8) + bytes([0, 0, 0, 3]))], version=0x10, exchange=2, flags=0),
        message([(41, b"\x00")]),
        message([(35, b"\x02")]),
        b"\x00\x00\x00\x00" + ISPI,  # marker then a cut header
        b"",
        b"\xff\xff",
    ],
)
def test_lying_lengths_give_errors_not_exceptions(pdu: bytes) -> None:
    result = run(pdu)
    assert result.error or result.operations
    if result.operations and result.operations[0].protocol == "ike":
        assert result.operations[0].detail["length"] == int.from_bytes(pdu[24:28], "big")


def test_truncated_message_says_so() -> None:
    pdu = message([(46, bytes(2000))], exchange=35, msgid=1, rspi=RSPI)[:1000]
    result = run(pdu)
    assert result.error.startswith("truncated IKE message: 1000 of 2032 bytes")
    assert only_op(result).detail["encrypted"]


def test_payload_chain_is_bounded() -> None:
    pdu = message([(43, b"")] * 200)
    result = run(pdu)
    assert result.error == "too many payloads"
    assert len(only_op(result).detail["payloads"]) == ike.MAX_PAYLOADS


def test_vendor_ids_announced_by_md5_of_their_names() -> None:
    import hashlib

    for text, name in [
        ("RFC 3947", "RFC 3947 NAT-T"),
        ("strongSwan", "strongSwan"),
        ("FRAGMENTATION", "IKE Fragmentation"),
        ("KAME/racoon", "KAME/racoon"),
    ]:
        vid = hashlib.md5(text.encode()).digest()
        assert ike.vendor_id_name(vid) == (name, ike.VENDOR_IDS[vid.hex()][1])
    assert ike.vendor_id_name(bytes.fromhex("12f5f28c457168a9702d9fe274cc0100"))[0] == "Cisco Unity"
    assert ike.vendor_id_name(b"\x00" * 16) is None


# -- the real captures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units() -> list[O.Unit]:
    return O.run_datagrams(ANALYZER, V1_CAPTURE) + O.run_datagrams(ANALYZER, V2_CAPTURE)


def _capture_units(units: list[O.Unit], capture: Path) -> list[O.Unit]:
    flows = set(map(id, O.flows(str(capture)).values()))
    return [u for u in units if id(u.flow) in flows]


def test_captures_decode_and_fragments_are_explained(units: list[O.Unit]) -> None:
    assert len(units) == 9 + 5
    for u in units:
        assert len(u.result.operations) == 1 and u.result.operations[0].protocol == "ike"
        assert all(i.attribute in IDENTITY_ATTRIBUTES for i in u.result.identities)
    errors = Counter(u.result.error for u in units)
    truncated = "truncated IKE message: 1428 of 3468 bytes"
    assert errors == Counter(
        {None: 6, "encrypted": 5, truncated + " (first fragment of an IP-fragmented datagram?)": 3}
    )


def _tshark_rows(tshark: str, capture: Path) -> dict[int, list[str]]:
    fields = ["frame.number", "isakmp.ispi", "isakmp.rspi", "isakmp.version",
              "isakmp.exchangetype", "isakmp.flags", "isakmp.messageid", "isakmp.typepayload",
              "isakmp.vid_bytes", "isakmp.notify.msgtype"]  # fmt: skip
    rows = tshark_fields(tshark, capture, "isakmp", *fields, options=NO_DEFRAGMENT)
    return {int(r[0]): r[1:] for r in rows}


@pytest.mark.needs_tshark
@pytest.mark.parametrize("capture", [V1_CAPTURE, V2_CAPTURE], ids=lambda p: p.stem)
def test_headers_payloads_vendor_ids_and_notifies_equal_tshark(
    tshark: str, units: list[O.Unit], capture: Path
) -> None:
    rows = _tshark_rows(tshark, capture)
    mine = {u.first_frame: u for u in _capture_units(units, capture)}
    assert sorted(mine) == sorted(rows)
    for frame, (ispi, rspi, version, exchange, flags, msgid, types, vids, notes) in rows.items():
        unit = mine[frame]
        d = unit.result.operations[0].detail
        assert (d["initiator_spi"], d["responder_spi"]) == (ispi, rspi)
        assert int(version, 16) == int(d["version"][0]) << 4
        assert (unit.result.operations[0].code, d["message_id"]) == (int(exchange), int(msgid, 16))
        assert int(flags, 16) & 0x01 == (1 if "encrypted" in d["flags"] else 0)
        assert int(flags, 16) & 0x20 == (0x20 if "response" in d["flags"] else 0)
        if d.get("encrypted"):
            continue
        # tshark lists the proposal (2) and transform (3) substructures as payloads too
        names = ike.V1_PAYLOADS if d["version"] == "1.0" else ike.V2_PAYLOADS
        theirs = [int(t) for t in types.split(",") if t and int(t) not in (2, 3)]
        assert [names[t] for t in theirs] == d["payloads"]
        vid_list = [v for v in vids.split(",") if v]
        assert len(vid_list) == len(d.get("vendor_ids", []))
        for vid, name in zip(vid_list, d.get("vendor_ids", []), strict=True):
            known = ike.vendor_id_name(bytes.fromhex(vid))
            assert name == (known[0] if known else f"UNKNOWN:{vid}")
        assert [NOTIFY[int(n)] for n in notes.split(",") if n] == d.get("notify", [])


def _zeek_key(r: list[str]) -> tuple:
    return (r[6] == "T", r[7], r[8], int(r[9]), int(r[10]), int(r[11]), r[12] == "T",
            r[15] == "T", r[17] == "T", int(r[18]), r[19], int(r[27]))  # fmt: skip


def _my_key(u: O.Unit) -> tuple:
    op = u.result.operations[0]
    d = op.detail
    vids = ",".join(d.get("vendor_ids", [])) or "(empty)"
    return (u.direction == 0, d["initiator_spi"], d["responder_spi"], int(d["version"][0]), 0,
            op.code, "encrypted" in d["flags"], "initiator" in d["flags"],
            "response" in d["flags"], d["message_id"], vids, d["length"])  # fmt: skip


@pytest.mark.parametrize("capture", [V1_CAPTURE, V2_CAPTURE], ids=lambda p: p.stem)
def test_agrees_with_zeek_ipsec_log(units: list[O.Unit], capture: Path) -> None:
    """ipsec.log: direction, SPIs, version, exchange, flags, message id, vendor ids, length
    (Zeek reassembles the IP fragments; the IKE header's length agrees either way), and for
    IKEv2 the notifies (NAT detection), KE DH groups and proposal numbers."""
    rows = O.zeek_rows(ZEEK / capture.stem / "ipsec.log")
    mine = _capture_units(units, capture)
    assert Counter(map(_zeek_key, rows)) == Counter(map(_my_key, mine))
    if capture == V2_CAPTURE:
        zeek_v2 = Counter((r[20], r[22], r[23]) for r in rows)
        ours = Counter()
        for u in mine:
            d = u.result.operations[0].detail
            dh = str(next(k for k, v in DH_GROUPS.items() if v == d["ke_dh_group"])) \
                if "ke_dh_group" in d else "(empty)"  # fmt: skip
            numbers = ",".join(str(p["number"]) for p in d.get("proposals", [])) or "(empty)"
            ours[(",".join(d.get("notify", [])) or "(empty)", dh, numbers)] += 1
        assert ours == zeek_v2
        assert sum(bool(u.result.operations[0].detail.get("nat_detection")) for u in mine) == 2
    else:
        first = mine[0].result.operations[0].detail["proposals"][0]
        # 1:1:Encryption Algorithm=7, Key Length=128, Hash Algorithm=2, Group Description=2
        assert first["encryption"] == [f"{V1_ENCR[7]}_128"] and first["integrity"] == [V1_HASH[2]]
        assert first["dh_group"] == [DH_GROUPS[2]]
        assert [bool(u.result.operations[0].detail.get("nat_detection")) for u in mine] == [
            False, False, True, True, False, False, False, False, False]  # fmt: skip


# -- detection over every capture ------------------------------------------------------------------
@pytest.mark.needs_tshark
def test_detection_claims_only_ike_flows(tshark: str) -> None:
    """Every non-TCP flow of every capture: detect (>= 0.5 on its first datagram) iff tshark
    finds ISAKMP, UDP-encapsulated ESP or a NAT-keepalive in the flow (captures without UDP
    cannot hold IKE and are checked to be unclaimed without asking tshark)."""
    frames = udp_capture_frames(tshark, "isakmp || udpencap || (udp && esp)", NO_DEFRAGMENT)
    assert datagram_flow_mismatches(ANALYZER, frames) == ([], 3)


# -- fuzzing -----------------------------------------------------------------------------------------
def _check(data: bytes) -> None:
    for state in ({}, {"nat_t": True}, {"plain_ike": True}):
        result = ANALYZER.parse(data, True, state)
        assert isinstance(result, ParseResult)
        assert result.operations or result.error
        for op in result.operations:
            assert op.protocol in ("ike", "esp") and (op.target is None or len(op.target) < 300)
    assert 0.0 <= ANALYZER.detect(data, True, 4500) <= 1.0


@fuzz_settings(300)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(b"\x00\x00\x00\x00" + data)


@fuzz_settings(400)
@given(st.data())
def test_fuzz_mutated_real_messages(units: list[O.Unit], data: st.DataObject) -> None:
    seeds = [*O.real_pdus(units), message([(33, AES_SHA256), notify_v2(16388, bytes(20))])]
    seed = data.draw(st.sampled_from(seeds))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8))
    _check(O.mutate(seed, edits, data.draw(st.integers(0, len(seed)))))
