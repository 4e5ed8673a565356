"""The compiled tier of the Modbus/TCP analyzer (``protocols/modbus/_kernel.py``) against ``parse``.

- Captures: every ADU of every Modbus flow of tests/captures/modbus_tcp_icsnpp_example.pcap (the
  shared capture that carries Modbus/TCP) and of a 20,000-frame ``testbed synth`` capture goes
  through ``classify`` (one arena for the whole capture) and through ``parse`` (per-flow state).
  Each compiled row must give the code, direction, flags, no exception, and for requests the
  target text of the Python operation; the kernel must hand over exactly the PDUs it leaves to
  Python (exceptions, functions 43 and 90, file-record requests, diagnostics responses,
  unknown codes, anything ``parse`` reports an error for), and most PDUs must be compiled.
- Names and targets: ``operation_name`` of every code is the Python name; ``describe_target``
  decodes the kernel's target key.
- Fuzz: random bytes and mutated ADUs always give valid rows, the same rows one by one as in one
  batch, and the same hand-over decision and fields as ``parse``. Each PDU is also classified
  alone in an arena of exactly its bytes, so a read past its end is a read past the arena; the
  same fuzz runs again in a child process with ``NUMBA_BOUNDSCHECK=1`` (and a fresh numba
  cache), where such a read raises ``IndexError``. Every truncation of every seed ADU (with an
  agreeing MBAP length) is checked too: the hand-over boundaries are exact sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import shared_capture
from tests.fuzzing import fuzz_settings

from cranewatch.protocols._base import CompiledTier, Operation, ParseResult
from cranewatch.protocols._pdu_kernel import (
    D_REQUEST,
    D_RESPONSE,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_EXCEPTION,
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
from cranewatch.protocols.modbus import ANALYZER
from cranewatch.testing.streams import collect, first_bytes, frame_run

TESTS = Path(__file__).resolve().parents[2]
CAPTURE = "modbus_tcp_icsnpp_example.pcap"
HIGH = 0.5  # detect() at or above this decides the flow (as in test_modbus.py)
TIER = ANALYZER.compiled
BOUNDS_CHECKED = os.environ.get("NUMBA_BOUNDSCHECK") == "1"

# What the kernel compiles when parse reports no error and no exception (the module docstring of
# _kernel.py): everything else must be handed to Python.
COMPILED_REQUESTS = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 22, 23, 24}
COMPILED_RESPONSES = {1, 2, 3, 4, 5, 6, 7, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24}
# exception responses (one exception code) of the public functions whose flags do not depend on
# the request: 8's do, 43 and 90 are not compiled at all
COMPILED_EXCEPTIONS = (COMPILED_REQUESTS | COMPILED_RESPONSES) - {8}
MAX_ADDRESS = 0xFFFF + 0xFFFF - 1  # last address of the largest range a PDU can name


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# ------------------------------------------------------------------------------ the two tiers


@dataclass
class Pdus:
    """PDUs in the order the dispatcher would classify them, with their flow and direction."""

    data: list[bytes] = field(default_factory=list)
    client: list[bool] = field(default_factory=list)
    flow: list[int] = field(default_factory=list)

    def add(self, pdu: bytes, client: bool, flow: int = 0) -> None:
        self.data.append(pdu)
        self.client.append(client)
        self.flow.append(flow)


def classify(pdus: Pdus, arena_pad: int = 0) -> np.ndarray:
    """Run the kernel over all PDUs in one arena (``arena_pad`` bytes of 0xEE between them)."""
    pad = b"\xee" * arena_pad
    offs, pos = [], 0
    for pdu in pdus.data:
        offs.append(pos)
        pos += len(pdu) + len(pad)
    arena = np.frombuffer(pad.join(pdus.data) + pad, np.uint8).copy()
    nflows = max(pdus.flow, default=0) + 1
    cstate = np.zeros((nflows, N_CSTATE), np.int64)
    out = np.full((len(pdus.data), N_OUT), 12345, np.int64)  # every cell must be written
    TIER.classify(
        arena,
        np.array(offs, np.int64),
        np.array([len(p) for p in pdus.data], np.int64),
        np.array(pdus.client, np.uint8),
        cstate,
        np.array(pdus.flow, np.int64),
        out,
    )
    assert not cstate.any()  # the Modbus kernel keeps no per-flow state
    return out


def classify_alone(pdu: bytes, client: bool) -> np.ndarray:
    """One PDU in an arena of exactly its bytes: a read past its end is out of the arena."""
    pdus = Pdus()
    pdus.add(pdu, client)
    return classify(pdus)[0]


def only_op(result: ParseResult) -> Operation:
    assert len(result.operations) == 1, result
    return result.operations[0]


def flags_of(op: Operation) -> int:
    return (
        F_READ * op.is_read
        + F_WRITE * op.is_write
        + F_CONTROL * op.is_control
        + F_DIAGNOSTIC * op.is_diagnostic
    )


def expect_compiled(result: ParseResult, client: bool) -> bool:
    """Whether the kernel must compile a PDU that ``parse`` turned into ``result``."""
    if result.error is not None or len(result.operations) != 1:
        return False
    op = result.operations[0]
    if op.exception is not None:
        return not client and op.code in COMPILED_EXCEPTIONS
    return op.code in (COMPILED_REQUESTS if client else COMPILED_RESPONSES)


def check_row(row: np.ndarray, client: bool) -> None:
    """What holds for any row, whatever the bytes."""
    assert row[O_PYTHON] in (0, 1)
    assert 0 <= row[O_CODE] <= 127
    assert row[O_DIRECTION] == (D_REQUEST if client else D_RESPONSE)
    exception = row[O_PYTHON] == 0 and bool(row[O_FLAGS] & F_EXCEPTION)
    assert (row[O_EXCEPTION] >= 0) if exception else (row[O_EXCEPTION] == -1)
    if row[O_PYTHON] == 0:
        assert 1 <= row[O_CODE] <= 127
        assert row[O_FLAGS] & ~(F_READ | F_WRITE | F_CONTROL | F_DIAGNOSTIC | F_EXCEPTION) == 0
        assert not (exception and client)
        assert row[O_UNIT] >= 0
        assert (row[O_LO], row[O_HI]) == (-1, -1) or 0 <= row[O_LO] <= row[O_HI] <= MAX_ADDRESS
        if not client:
            assert (row[O_UNIT], row[O_LO], row[O_HI]) == (row[O_UNIT] & 0xFF, -1, -1)
    else:
        assert (row[O_UNIT], row[O_LO], row[O_HI], row[O_FLAGS]) == (-1, -1, -1, 0)


def check_agrees(row: np.ndarray, result: ParseResult, client: bool, where: str) -> None:
    """A kernel row against the Python parse of the same PDU (in the same flow state)."""
    check_row(row, client)
    compiled = row[O_PYTHON] == 0
    assert compiled == expect_compiled(result, client), (where, row, result)
    if not compiled:
        return
    op = only_op(result)
    assert op.code == row[O_CODE], where
    assert op.name == TIER.operation_name(int(row[O_CODE])), where
    assert op.direction == ("request" if row[O_DIRECTION] == D_REQUEST else "response"), where
    assert flags_of(op) == row[O_FLAGS] & ~F_EXCEPTION, (where, op, row)
    assert op.exception == (row[O_EXCEPTION] if row[O_FLAGS] & F_EXCEPTION else None), where
    target = TIER.describe_target(int(row[O_UNIT]), int(row[O_LO]), int(row[O_HI]))
    assert op.detail is not None
    if client or op.detail["matched"] is False:
        assert target == op.target, (where, target, op.target)
    else:  # a matched response: parse gives it its request's target; the kernel cannot join it
        assert target == f"unit {op.detail['unit']}", where


# ------------------------------------------------------------------------------ captures


def capture_pdus(path: Path) -> tuple[Pdus, list[ParseResult]]:
    """Every ADU of every Modbus flow, both directions (client first, as test_modbus.run_flow),
    with its Python parse in a per-flow state."""
    pdus, results = Pdus(), []
    flows = [
        f
        for f in collect(path).values()
        if f.proto == 6 and ANALYZER.detect(*first_bytes(f), f.dst_port or 0) >= HIGH
    ]
    assert flows, f"no Modbus/TCP flow in {path.name}"
    for index, flow in enumerate(flows):
        state: dict[str, Any] = {}
        for direction in (0, 1):
            for run in flow.runs[direction]:
                for _, adu in frame_run(ANALYZER, run.data):
                    pdus.add(adu, direction == 0, index)
                    results.append(ANALYZER.parse(adu, direction == 0, state))
    return pdus, results


def compare_capture(path: Path) -> tuple[Counter[str], float]:
    """Compare both tiers on a capture; returns what was compiled/handed over, and the share."""
    pdus, results = capture_pdus(path)
    out = classify(pdus, arena_pad=3)
    kinds: Counter[str] = Counter()
    for i, (row, result) in enumerate(zip(out, results, strict=True)):
        check_agrees(row, result, pdus.client[i], f"{path.name} PDU {i}: {pdus.data[i].hex()}")
        side = "request" if pdus.client[i] else "response"
        code = row[O_CODE]
        kinds[f"{'compiled' if row[O_PYTHON] == 0 else 'python'} {side} {code}"] += 1
    share = float(np.mean(out[:, O_PYTHON] == 0))
    return kinds, share


def test_icsnpp_capture_agrees_with_parse() -> None:
    kinds, share = compare_capture(shared_capture(CAPTURE))
    # every function the capture holds is exercised on both sides of the hand-over
    compiled = {k for k in kinds if k.startswith("compiled")}
    assert {"compiled request 3", "compiled request 16", "compiled request 23",
            "compiled response 3", "compiled request 8"} <= compiled, kinds  # fmt: skip
    assert {"python request 43", "python response 43"} <= set(kinds), kinds
    assert share >= 0.6, (share, kinds)


def test_synth_capture_agrees_with_parse(synth_capture: Path) -> None:
    """The synthetic crane traffic is what the compiled tier is for: all of it compiles, the
    exception responses of the drives included."""
    kinds, share = compare_capture(synth_capture)
    assert sum(kinds.values()) > 5000
    handed = {k for k in kinds if k.startswith("python")}
    assert handed == set(), kinds
    assert share == 1.0, (share, kinds)


# ------------------------------------------------------------------------------ names, targets


def test_the_analyzer_offers_a_compiled_tier() -> None:
    assert isinstance(TIER, CompiledTier)
    assert TIER.framing == "mbap"


@pytest.mark.parametrize("code", range(1, 128))
def test_operation_name_is_the_python_name(code: int) -> None:
    adu = bytes.fromhex("0001 0000 0002 01".replace(" ", "")) + bytes([code])
    assert TIER.operation_name(code) == only_op(ANALYZER.parse(adu, True, {})).name


# (request ADU, target the Python parse gives it): one per compiled target shape, edge ranges
TARGETS = [
    ("0001 0000 0006 04 01 0001 0001", "unit 4 coils 1"),
    ("0002 0000 0006 11 02 00c4 0016", "unit 17 discrete_inputs 196-217"),
    ("0003 0000 0006 01 03 006b 0003", "unit 1 holding_registers 107-109"),
    ("0004 0000 0006 ff 04 ffff ffff", "unit 255 input_registers 65535-131069"),
    ("0005 0000 0006 11 03 0010 0000", "unit 17 holding_registers 16"),  # quantity 0
    ("0006 0000 0006 11 05 00ac ff00", "unit 17 coil 172"),
    ("0007 0000 0006 11 06 0001 0003", "unit 17 holding_register 1"),
    ("0008 0000 0002 11 07", "unit 17"),
    ("0009 0000 0006 11 08 0001 ff00", "unit 17"),
    ("000a 0000 0009 11 0f 0013 000a 02 cd 01", "unit 17 coils 19-28"),
    ("000b 0000 000b 11 10 0001 0002 04 000a 0102", "unit 17 holding_registers 1-2"),
    ("000c 0000 0008 11 16 0004 00f2 0025", "unit 17 holding_register 4"),
    ("000d 0000 0011 11 17 0003 0006 000e 0003 06 00ff 00ff 00ff",
     "unit 17 holding_registers read 3-8 write 14-16"),
    ("000e 0000 000b 00 17 ffff 0001 ffff ffff 00", "unit 0 holding_registers read 65535"
     " write 65535-131069"),  # byte count not checked, as in parse
    ("000f 0000 0004 11 18 04de", "unit 17 fifo 1246"),
]  # fmt: skip


@pytest.mark.parametrize(("adu", "target"), TARGETS, ids=[t for _, t in TARGETS])
def test_describe_target_gives_the_python_target(adu: str, target: str) -> None:
    assert only_op(ANALYZER.parse(h(adu), True, {})).target == target
    row = classify_alone(h(adu), True)
    assert row[O_PYTHON] == 0
    assert TIER.describe_target(int(row[O_UNIT]), int(row[O_LO]), int(row[O_HI])) == target


def test_describe_target_of_a_response_and_of_no_unit() -> None:
    row = classify_alone(h("0005 0000 0009 01 03 06 022b 0000 0064"), False)
    assert (row[O_PYTHON], row[O_UNIT], row[O_LO], row[O_HI]) == (0, 1, -1, -1)
    assert TIER.describe_target(1, -1, -1) == "unit 1"
    assert TIER.describe_target(-1, -1, -1) is None


# (ADU, from the client): what must go to Python although the header is fine
HANDED_OVER = [
    ("0001 0000 0004 00 83 02 00", False),  # exception response with a byte too many
    ("0001 0000 0003 00 88 02", False),  # diagnostics exception: flags from the request
    ("0001 0000 0003 00 ab 01", False),  # device identification exception
    ("0001 0000 0003 00 83 02", True),  # exception bit in a request (an error in parse)
    ("0017 0000 0005 01 2b 0e 03 00", True),  # device identification request
    ("0017 0000 0005 01 2b 0e 03 83", False),  # ... and its (truncated) answer
    ("0001 0000 0004 00 5a 01 41", True),  # UMAS stop_plc
    ("0001 0000 0004 00 5a 00 fe", False),  # UMAS answer
    ("0010 0000 000a 11 14 07 06 0004 0001 0002", True),  # read file record: lists the files
    ("000c 0000 0006 11 08 0001 ff00", False),  # diagnostics answer: control from the request
    ("0001 0000 0002 01 41", True),  # user-defined 65
    ("0001 0000 0002 01 09", False),  # reserved 9
    ("0001 0000 0002 01 00", True),  # function 0
    ("0001 0000 0004 01 03 006b", True),  # function 3 request too short
    ("0001 0000 0004 01 01 03 01", False),  # byte count does not match
    ("0001 0000 0006 01 03 006b", True),  # MBAP length beyond the bytes given
    ("0001 0001 0002 01 03", True),  # protocol id 1
    ("0001 0000 0001 01", True),  # MBAP length 1
    ("0001 0000 00", True),  # header cut
    ("", False),
]


@pytest.mark.parametrize(("adu", "client"), HANDED_OVER)
def test_what_the_kernel_hands_to_python(adu: str, client: bool) -> None:
    row = classify_alone(h(adu), client)
    check_row(row, client)
    assert row[O_PYTHON] == 1
    check_agrees(row, ANALYZER.parse(h(adu), client, {}), client, adu)


# ------------------------------------------------------------------------------ fuzzing

# Real ADUs (MODBUS Application Protocol V1.1b3 section 6 examples, exceptions, MEI 14, UMAS)
SEEDS = (
    [h(x) for x, _ in TARGETS]
    + [h(x) for x, _ in HANDED_OVER if x]
    + [
        h("0001 0000 0004 04 01 01 01"),
        h("0002 0000 0006 11 02 03 ac db 35"),
        h("0006 0000 0005 11 04 02 000a"),
        h("000a 0000 0006 11 06 0001 0003"),
        h("000b 0000 0003 11 07 6d"),
        h("000c 0000 0006 11 08 0000 a537"),
        h("000d 0000 0006 11 0f 0013 000a"),
        h("000f 0000 0008 11 11 05 4d 33 34 30 ff"),
        h("0010 0000 000f 11 14 0c 05 06 0dfe 0020 05 06 33cd 0040"),
        h("0011 0000 000c 11 15 09 06 0004 0007 0001 06af"),
        h("0012 0000 0008 11 16 0004 00f2 0025"),
        h("0013 0000 000f 11 17 0c 00fe 0acd 0001 0003 000d 00ff"),
        h("0014 0000 000a 11 18 0006 0002 01b8 1284"),
        h("0015 0000 0003 11 0b 00"),
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 3))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    elif draw(st.booleans()):
        data += draw(st.binary(min_size=1, max_size=8))
    if len(data) >= 6 and draw(st.booleans()):  # mostly keep the MBAP length honest
        data[4:6] = (len(data) - 6 if draw(st.booleans()) else draw(st.integers(0, 0xFFFF))
                     ).to_bytes(2, "big")  # fmt: skip
    return bytes(data)


def check_batch(batch: list[tuple[bytes, bool]]) -> None:
    pdus = Pdus()
    for pdu, client in batch:
        pdus.add(pdu, client)
    together = classify(pdus)
    for (pdu, client), row in zip(batch, together, strict=True):
        alone = classify_alone(pdu, client)
        assert (alone == row).all(), (pdu.hex(), alone, row)
        check_agrees(alone, ANALYZER.parse(pdu, client, {}), client, pdu.hex())


def test_every_truncation_of_every_seed_agrees_with_parse() -> None:
    """Each seed cut after every byte, its MBAP length field made to agree (the hand-over
    boundaries are exact sizes: a fuzzer rarely hits them), from either side."""
    batch = []
    for seed in SEEDS:
        for n in range(len(seed) + 1):
            cut = bytearray(seed[:n])
            if n >= 6:
                cut[4:6] = (n - 6).to_bytes(2, "big")
            batch += [(bytes(cut), True), (bytes(cut), False)]
    assert len(batch) > 1000
    check_batch(batch)


@fuzz_settings(300)
@given(batch=st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=8))
def test_fuzz_random_bytes_give_valid_rows(batch: list[tuple[bytes, bool]]) -> None:
    check_batch(batch)


@fuzz_settings(600)
@given(batch=st.lists(st.tuples(mutated(), st.booleans()), min_size=1, max_size=8))
def test_fuzz_mutated_adus_agree_with_parse(batch: list[tuple[bytes, bool]]) -> None:
    check_batch(batch)


def check_bounds_checking_is_active() -> None:
    """Collected only in the NUMBA_BOUNDSCHECK=1 child process (``check_*`` functions, see
    below): a read past the arena raises there, so the fuzz in it means something."""
    assert BOUNDS_CHECKED
    # a function 15 request whose byte count (body byte 5) lies one byte past the arena
    arena = np.frombuffer(h("0001 0000 0007 01 0f 0000 0001"), np.uint8).copy()
    out = np.zeros((1, N_OUT), np.int64)
    args = (np.zeros((1, N_CSTATE), np.int64), np.zeros(1, np.int64), out)
    with pytest.raises(IndexError):
        TIER.classify(arena, np.array([0], np.int64), np.array([13], np.int64),
                      np.ones(1, np.uint8), *args)  # fmt: skip


@pytest.mark.skipif(BOUNDS_CHECKED, reason="this is the child process")
def test_fuzz_with_numba_bounds_checking(tmp_path: Path) -> None:
    """The fuzz tests again with numba's bounds checks compiled in: any read of ``classify``
    outside a PDU's own bytes raises ``IndexError`` and fails them. A fresh numba cache, as the
    cached machine code of this process has no checks."""
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    selected = "fuzz_random or fuzz_mutated or every_truncation or bounds_checking_is_active"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-p", "no:cacheprovider",
         "-o", "python_functions=test_* check_*", "-k", selected],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout, proc.stdout[-2000:]
