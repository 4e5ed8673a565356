"""The compiled tier of the S7comm analyzer agrees with its Python parse, PDU by PDU.

Every S7comm flow of every capture in tests/captures (found by content, as the dispatcher will)
and of the synthetic benchmark capture is framed, parsed in capture order with one state per
flow, and classified by ``_kernel.classify`` over one arena. Each PDU the kernel keeps must give
the operation ``parse`` gives: code, name, direction, flags, exception and, for a request, the
item text. The kernel must keep a substantial share of the Read/Write Var traffic (a kernel that
hands everything to Python fails). Hypothesis feeds random and mutated PDUs, fragments included,
through both tiers; a subprocess repeats a corpus of truncated and mutated PDUs with numba's
bounds checking on, each PDU in an arena of exactly its own length.
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols.test_s7comm_support import (
    SYNTH_NAME,
    Pdu,
    first_bytes,
    stream_pdus,
    sweep_captures,
    synth_capture,
)
from tests.protocols.test_s7comm_support import collected as collect_flows

from cranewatch.protocols._base import Operation, ParseResult
from cranewatch.protocols._pdu_kernel import (
    DIRECTIONS,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_READ,
    F_WRITE,
    N_CSTATE,
    N_OUT,
    O_CODE,
    O_DIRECTION,
    O_EXCEPTION,
    O_FLAGS,
    O_HI,
    O_LO,
    O_PYTHON,
    O_UNIT,
)
from cranewatch.protocols.s7comm import ANALYZER, describe_target, operation_name
from cranewatch.testing.protocols import edited

TIER = ANALYZER.compiled
READ_VAR, WRITE_VAR = 0x04, 0x05
ALL_FLAGS = F_READ | F_WRITE | F_CONTROL | F_DIAGNOSTIC


@dataclass(frozen=True)
class Classified:
    """The PDUs of some flows with both tiers' answers."""

    pdus: list[Pdu]
    flows: list[int]
    results: list[ParseResult]
    out: np.ndarray


def classify(pdus: list[bytes], clients: list[bool], flows: list[int], gap: bytes = b"") -> Any:
    """Run the kernel over ``pdus`` in one arena (``gap`` before and between them);
    returns (out, cstate)."""
    offs, pos, parts = [], len(gap), [gap]
    for data in pdus:
        offs.append(pos)
        parts += [data, gap]
        pos += len(data) + len(gap)
    arena = np.frombuffer(b"".join(parts), dtype=np.uint8).copy()
    out = np.full((len(pdus), N_OUT), -7, dtype=np.int64)
    cstate = np.zeros((max(flows, default=0) + 1, N_CSTATE), dtype=np.int64)
    TIER.classify(
        arena,
        np.array(offs, dtype=np.int64),
        np.array([len(p) for p in pdus], dtype=np.int64),
        np.array(clients, dtype=np.uint8),
        cstate,
        np.array(flows, dtype=np.int64),
        out,
    )
    return out, cstate


def parse_all(pdus: list[bytes], clients: list[bool], flows: list[int]) -> list[ParseResult]:
    states: dict[int, dict[str, Any]] = {}
    return [
        ANALYZER.parse(data, client, states.setdefault(flow, {}))
        for data, client, flow in zip(pdus, clients, flows, strict=True)
    ]


def s7_flows(flows: Any) -> list[list[Pdu]]:
    """The PDUs, in capture order, of every TCP flow detected as S7comm by content."""
    out = []
    for flow in flows:
        if flow.proto != 6:
            continue
        client, server = first_bytes(flow)
        if ANALYZER.detect(client, server, flow.dst_port or 0) < 0.8:
            continue
        out.append(stream_pdus(flow, ANALYZER, flow.dst_port or 0))
    return out


@functools.cache
def s7_captures() -> dict[str, list[list[Pdu]]]:
    by_capture: dict[str, list[Any]] = {}
    for name, flow in sweep_captures():
        by_capture.setdefault(name, []).append(flow)
    found = {name: s7_flows(flows) for name, flows in by_capture.items()}
    found[SYNTH_NAME] = s7_flows(collect_flows(synth_capture()).values())
    return {name: flows for name, flows in found.items() if flows}


@functools.cache
def classified(name: str) -> Classified:
    pdus: list[Pdu] = []
    flows: list[int] = []
    for k, flow_pdus in enumerate(s7_captures()[name]):
        pdus += flow_pdus
        flows += [k] * len(flow_pdus)
    data = [p.data for p in pdus]
    clients = [p.from_client for p in pdus]
    out, _ = classify(data, clients, flows)
    return Classified(pdus, flows, parse_all(data, clients, flows), out)


def flags_of(op: Operation) -> int:
    return (
        F_READ * op.is_read
        + F_WRITE * op.is_write
        + F_CONTROL * op.is_control
        + F_DIAGNOSTIC * op.is_diagnostic
    )


def check_row(row: np.ndarray) -> None:
    """What any row of ``out`` must look like, whatever the bytes."""
    assert row[O_PYTHON] in (0, 1), row
    if row[O_PYTHON] == 1:
        return
    assert 0 <= row[O_CODE] <= 0xFF, row
    assert row[O_DIRECTION] in (0, 1), row
    assert row[O_FLAGS] & ~ALL_FLAGS == 0, row
    assert row[O_EXCEPTION] == -1, row
    if row[O_DIRECTION] == 0:
        assert row[O_CODE] in (READ_VAR, WRITE_VAR), row
        assert row[O_UNIT] >= 0 and 0 <= row[O_LO] <= row[O_HI], row
        assert describe_target(*row[O_UNIT : O_HI + 1]) is not None
    else:
        assert row[O_UNIT] == row[O_LO] == row[O_HI] == -1, row


def check_agrees(row: np.ndarray, result: ParseResult) -> None:
    """A row the kernel kept gives the operation ``parse`` gives."""
    check_row(row)
    if row[O_PYTHON] == 1:
        return
    assert result.error is None and result.identities == [], result
    assert len(result.operations) == 1, result
    op = result.operations[0]
    assert op.code == row[O_CODE]
    assert op.name == operation_name(int(row[O_CODE]))
    assert op.direction == DIRECTIONS[row[O_DIRECTION]]
    assert flags_of(op) == row[O_FLAGS], (op, row)
    assert op.exception is None
    if op.direction == "request":
        text = describe_target(*row[O_UNIT : O_HI + 1])
        more = (int(row[O_UNIT]) >> 40) & 0xFF
        if more:  # several items: the compiled tier names the first and counts the others
            assert op.target is not None and text is not None
            first = op.target.split(", ")[0]
            assert text == f"{first} (+{more} more items)", (text, op.target)
            assert op.target.count(", ") == min(more, 7), op.target
        else:
            assert text == op.target


# ------------------------------------------------------------------------------ captures


def test_s7comm_is_found_in_the_shared_captures() -> None:
    names = set(s7_captures())
    assert {"s7comm_ident_szl_icsnpp.pcap", "s7comm_snap7_client_icsnpp.pcap"} <= names
    assert {"s7comm_plus_icsnpp.pcap", SYNTH_NAME} <= names


def test_compiled_rows_equal_python_parse() -> None:
    for name in s7_captures():  # one test: the captures are scanned when it runs, not collected
        run = classified(name)
        for pdu, row, result in zip(run.pdus, run.out, run.results, strict=True):
            try:
                check_agrees(row, result)
            except AssertionError as exc:
                raise AssertionError(f"{name} frame {pdu.frame}: {pdu.data.hex()}") from exc


def compiled_share(names: list[str], codes: tuple[int, ...] | None) -> tuple[int, int]:
    """(compiled, total) PDUs whose Python operation has one of ``codes`` (None: any PDU)."""
    kept = total = 0
    for name in names:
        run = classified(name)
        for row, result in zip(run.out, run.results, strict=True):
            if codes is not None and not any(op.code in codes for op in result.operations):
                continue
            total += 1
            kept += row[O_PYTHON] == 0
    return kept, total


def test_most_read_write_var_pdus_of_the_captures_are_compiled() -> None:
    real = [name for name in s7_captures() if name != SYNTH_NAME]
    kept, total = compiled_share(real, (READ_VAR, WRITE_VAR))
    assert total >= 40
    assert kept >= 0.75 * total, (kept, total)
    # the S7 connection of s7comm_plus_icsnpp polls one item per job: every job and answer
    assert compiled_share(["s7comm_plus_icsnpp.pcap"], (READ_VAR, WRITE_VAR)) == (32, 32)


def test_synthetic_s7_traffic_is_mostly_compiled() -> None:
    kept, total = compiled_share([SYNTH_NAME], None)
    assert total >= 4000
    assert kept >= 0.75 * total, (kept, total)
    run = classified(SYNTH_NAME)
    requests = (run.out[:, O_PYTHON] == 0) & (run.out[:, O_DIRECTION] == 0)
    assert requests.sum() >= 0.3 * total  # single-item jobs, not only the answers


def test_operation_names_equal_python_names() -> None:
    seen = 0
    for name in s7_captures():
        for result in classified(name).results:
            for op in result.operations:
                assert operation_name(op.code) == op.name
                seen += op.code >= 0x4000  # userdata codes too
    assert seen > 0
    assert operation_name(0x99) == "function_0x99"
    assert operation_name(0x4401) == "read_szl"


def test_framing_and_tier_description() -> None:
    assert TIER.framing == "tpkt"
    assert describe_target(-1, -1, -1) is None


# ---------------------------------------------------------------------------- inline PDUs


def dt(payload: bytes, eot: bool = True) -> bytes:
    """A TPKT/COTP DT around an S7 payload, with the right TPKT length."""
    head = b"\x03\x00" + (7 + len(payload)).to_bytes(2, "big") + b"\x02\xf0"
    return head + (b"\x80" if eot else b"\x00") + payload


def s7(rosctr: int, param: str, data: str = "", error: str = "0000", eot: bool = True) -> bytes:
    """A DT carrying an S7 PDU with the given parameter and data (hex) and right lengths."""
    p, d = bytes.fromhex(param), bytes.fromhex(data)
    header = bytes([0x32, rosctr, 0, 0, 0, 1]) + len(p).to_bytes(2, "big")
    header += len(d).to_bytes(2, "big") + (bytes.fromhex(error) if rosctr in (2, 3) else b"")
    return dt(header + p + d, eot)


def read_job(item: str) -> bytes:
    """A Read Var job of one S7ANY item (``item``: size, count, db, area, address in hex)."""
    return s7(1, "0401120a10" + item)


def read_answer(*sizes: int) -> bytes:
    """A Read Var Ack-Data with one successful BYTE item of each size."""
    data = ""
    for k, n in enumerate(sizes):
        data += "ff04" + f"{n * 8:04x}" + "00" * n + ("00" if n % 2 and k < len(sizes) - 1 else "")
    return s7(3, f"04{len(sizes):02x}", data)


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ("020014000a84000000", "DB10.DBX0.0 BYTE 20"),
        ("01000100008300002d", "M5.5 BIT 1"),
        ("080001000083000080", "M16.0 REAL 1"),
        ("040010000083000000", "M0.0 WORD 16"),
        ("0f0002ffff85ffffff", "DI65535.DBX2097151.7 DATE_AND_TIME 2"),
        ("1d0008000a1d000007", "T7 TIMER 8"),
        ("1c000800001cffffff", "C16777215 COUNTER 8"),
        ("2a0003000081000010", "I2.0 size42 3"),
        ("1e0001000081000010", "I2.0 IEC_TIMER 1"),
        ("0200020000ab000008", "area0xab1.0 BYTE 2"),
    ],
)
def test_item_forms_are_described_as_parse_describes_them(item: str, text: str) -> None:
    pdu = read_job(item)
    out, _ = classify([pdu], [True], [0])
    check_agrees(out[0], ANALYZER.parse(pdu, True, {}))
    assert out[0, O_PYTHON] == 0
    assert describe_target(*out[0, O_UNIT : O_HI + 1]) == text


def test_a_job_of_several_items_is_compiled_with_its_first_item_as_target() -> None:
    pdu = s7(1, "0403" + "120a10020014000a84000000" + "120a10020008000b84000010" * 2)
    out, _ = classify([pdu], [True], [0])
    assert out[0, O_PYTHON] == 0
    assert (int(out[0, O_UNIT]) >> 40) & 0xFF == 2
    check_agrees(out[0], ANALYZER.parse(pdu, True, {}))
    assert describe_target(*out[0, O_UNIT : O_HI + 1]) == "DB10.DBX0.0 BYTE 20 (+2 more items)"


def test_target_packing_is_a_byte_range() -> None:
    out, _ = classify([read_job("040010002a84000040")], [True], [0])  # DB42.DBW8, 16 words
    unit, lo, hi = out[0, O_UNIT : O_HI + 1]
    assert (unit & 0xFFFF, (unit >> 16) & 0xFF, (unit >> 24) & 0xFF, unit >> 32) == (42, 0x84, 4, 0)
    assert (lo, hi) == (8, 8 + 32 - 1)


@pytest.mark.parametrize(
    "pdu",
    [
        read_answer(20),
        read_answer(64, 120, 7),
        read_answer(3, 5),
        s7(3, "0502", "ffff"),  # write answer
        s7(3, "04"),  # read answer without item count: no return codes, no exception
        s7(3, "1e", "00d8"),  # upload
        s7(3, "f0000001000101e0"),  # setup communication answer
        s7(1, "0401120a10020014000a84000000120a10"),  # one item, then bytes parse ignores
    ],
)
def test_compiled(pdu: bytes) -> None:
    out, _ = classify([pdu], [False], [0])
    assert out[0, O_PYTHON] == 0
    check_agrees(out[0], ANALYZER.parse(pdu, False, {}))


@pytest.mark.parametrize(
    "pdu",
    [
        read_job("020000000a84000000"),  # count 0
        s7(1, "0402120a10020014000a84000000"),  # says two items
        s7(1, "0401120910020014000a84000000"),  # specification too short
        s7(1, "0401120ab2020014000a84000000"),  # symbolic (1200SYM) item
        s7(1, "0401120a10020014000a840000"),  # parameter ends inside the item
        s7(1, "29000000000009505f50524f4752414d"),  # PLC stop: target from the PI text
        s7(1, "f0000001000101e0"),  # setup communication: target from the CR's TSAP
        s7(1, "1e00000000000007"),  # upload job
        s7(1, ""),  # job without function
        s7(3, "0501", "ff", error="d201"),  # header error class/code
        s7(3, "0401", "0a000000"),  # failed item
        s7(3, "0502", "ff03"),  # failed second item
        s7(3, "99", ""),  # unknown function
        s7(3, ""),  # ack-data without function: from the job
        s7(2, "", error="d241"),  # Ack: the function comes from the job
        s7(7, "0001120411440100", "ff09000400110000"),  # userdata (SZL read)
        dt(b""),
        dt(b"\x72\x01\x00\x00"),  # S7comm-plus
        s7(1, "0401120a10020014000a84000000")[:-1],  # TPKT length beyond the bytes
        read_job("020014000a84000000")[:-1],
        s7(1, "0401120a10020014000a84000000", eot=False),  # fragment
        bytes.fromhex("0300001611e00000000100c0010ac1020100c2020101"),  # CR
    ],
)
def test_handed_to_python(pdu: bytes) -> None:
    out, _ = classify([pdu], [True], [0])
    assert out[0, O_PYTHON] == 1, ANALYZER.parse(pdu, True, {})


def test_fragments_keep_the_next_data_unit_in_python_per_flow_and_direction() -> None:
    job = read_job("020014000a84000000")
    payload = job[7:]
    first = b"\x03\x00\x00\x0d\x02\xf0\x00" + payload[:6]
    second = dt(payload[6:])
    pdus = [first, job, second, job, job, first, second, job]
    clients = [True, False, True, True, True, True, True, True]
    flows = [0, 0, 0, 0, 1, 1, 1, 1]
    out, cstate = classify(pdus, clients, flows)
    # flow 0: the fragment, the server's job (other direction), the completing DT, then a job
    # flow 1: a job, the fragment, the completing DT, a job
    assert list(out[:, O_PYTHON]) == [1, 0, 1, 0, 0, 1, 1, 0]
    assert not cstate.any()
    for row, result in zip(out, parse_all(pdus, clients, flows), strict=True):
        check_agrees(row, result)


# ------------------------------------------------------------------------------- fuzzing

SEEDS = [
    read_job("020014000a84000000"),
    read_job("1d0008000a1d000007"),
    s7(1, "0501120a10020008000c84000020", "000400405724e9f600112233"),
    read_answer(20),
    read_answer(64, 120, 7),
    read_answer(3, 5),
    s7(3, "0501", "ff"),
    s7(3, "0505", "ffffff0303"),
    s7(3, "0405", "0a0000040a0000040a0000040a0000040a000004"),
    s7(3, "f0000001000101e0"),
    s7(3, "1d000100000000070730303030323136"),
    s7(1, "29000000000009505f50524f4752414d"),
    s7(7, "0001120411440100", "ff09000400110000"),
    s7(2, "", error="d241"),
    s7(1, "0401120a10020014000a84000000", eot=False)[:13],
    bytes.fromhex("0300001611e00000000100c0010ac1020100c2020101"),
]


def variant(seed: bytes, edits: list[tuple[int, int]], cut: int, fix: bool) -> bytes:
    data = edited(seed, edits)[:cut]
    if fix and len(data) >= 4:  # keep the TPKT length right so the S7 part is reached
        data = data[:2] + len(data).to_bytes(2, "big") + data[4:]
    return data


PDU = st.one_of(
    st.sampled_from(SEEDS),
    st.builds(
        variant,
        st.sampled_from(SEEDS),
        st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), max_size=4),
        st.integers(0, 300),
        st.booleans(),
    ),
    st.binary(max_size=80),
    st.binary(max_size=40).map(dt),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(st.tuples(PDU, st.booleans(), st.integers(0, 1)), min_size=1, max_size=8),
       st.binary(min_size=1, max_size=16))  # fmt: skip
def test_random_and_mutated_pdus_give_valid_rows_that_agree_with_parse(
    items: list[tuple[bytes, bool, int]], guard: bytes
) -> None:
    pdus = [p for p, _, _ in items]
    clients = [c for _, c, _ in items]
    flows = [f for _, _, f in items]
    out, cstate = classify(pdus, clients, flows, gap=guard * 2)
    for row, result in zip(out, parse_all(pdus, clients, flows), strict=True):
        check_agrees(row, result)
    assert set(np.unique(cstate[:, :2])) <= {0, 1} and not cstate[:, 2:].any()
    # bytes around a PDU never change its row: the kernel reads only inside it
    other, _ = classify(pdus, clients, flows, gap=bytes(b ^ 0xFF for b in guard * 2))
    assert (other == out).all()


BOUNDS_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import numba
    from cranewatch.protocols._pdu_kernel import N_CSTATE, N_OUT
    from cranewatch.protocols.s7comm import _kernel

    assert numba.config.BOUNDSCHECK == 1
    corpus = np.load(sys.argv[1])
    arena, offs, lens = corpus["arena"], corpus["offs"], corpus["lens"]
    one = np.zeros(1, dtype=np.int64)
    client = np.ones(1, dtype=np.uint8)

    def run(data, n):
        out = np.zeros((1, N_OUT), dtype=np.int64)
        cstate = np.zeros((1, N_CSTATE), dtype=np.int64)
        _kernel.classify(data, one, np.array([n]), client, cstate, one, out)
        return out

    # the check is live: an arena shorter than the length it is told must raise
    job = bytes.fromhex("0300001f02f08032010000adc1000e00000401120a10020014000a84000000")
    try:
        run(np.frombuffer(job[:20], dtype=np.uint8).copy(), len(job))
    except IndexError:
        pass
    else:
        raise SystemExit("bounds checking is not active")
    kept = 0
    for o, n in zip(offs, lens):
        kept += run(arena[o : o + n].copy(), n)[0, 0] == 0  # an arena of exactly the PDU
    print(len(offs), kept)
    """
)


def bounds_corpus() -> list[bytes]:
    """Real PDUs, every prefix of each (TPKT length fixed), and random mutations."""
    shapes: dict[tuple[int, bytes], bytes] = {}  # one per length and head, PDU reference aside
    for flows in s7_captures().values():
        for flow in flows:
            for pdu in flow:
                shapes.setdefault((len(pdu.data), pdu.data[:11] + pdu.data[13:25]), pdu.data)
    seeds = sorted(set(shapes.values()) | set(SEEDS), key=lambda b: (len(b), b))
    rng = random.Random(102)
    corpus = list(seeds)
    for seed in seeds:
        for cut in range(min(len(seed), 120)):
            corpus.append(variant(seed, [], cut, True))
    for _ in range(10_000):
        seed = rng.choice(seeds)
        edits = [(rng.randrange(4, 60), rng.randrange(256)) for _ in range(rng.randint(1, 4))]
        corpus.append(variant(seed, edits, rng.randrange(len(seed) + 1), rng.random() < 0.8))
    return corpus


def test_no_read_outside_the_pdu_with_bounds_checking(tmp_path: Path) -> None:
    corpus = bounds_corpus()
    lens = np.array([len(p) for p in corpus], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    path = tmp_path / "corpus.npz"
    np.savez(path, arena=np.frombuffer(b"".join(corpus), dtype=np.uint8), offs=offs, lens=lens)
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    proc = subprocess.run(
        [sys.executable, "-c", BOUNDS_SCRIPT, str(path)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    total, kept = map(int, proc.stdout.split())
    assert total == len(corpus)
    assert kept >= 50  # the corpus reaches the compiled paths, not only the early exits


def test_read_var_answers_with_several_items_are_walked_like_parse() -> None:
    items: Counter[int] = Counter()
    run = classified(SYNTH_NAME)
    for row, result in zip(run.out, run.results, strict=True):
        for op in result.operations:
            if op.code == READ_VAR and op.direction == "response" and row[O_PYTHON] == 0:
                items[len((op.detail or {}).get("return_codes", []))] += 1
    assert items[1] > 0 and items[3] > 0  # the three-item answers are compiled too
