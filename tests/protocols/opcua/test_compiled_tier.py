"""The compiled tier of the OPC UA analyzer (``protocols/opcua/_kernel.py``) against its Python
``parse``, PDU by PDU.

Every check goes through :func:`run_tiers`, which does what the dispatcher will do: the kernel
classifies the PDUs in order with per-flow ``cstate``, and the PDUs it hands over (``O_PYTHON``)
reach ``parse`` with a per-flow ``state``. It asserts, for any input:

- every compiled row is valid and equals what ``parse`` reports for that PDU when it is fed every
  PDU (code, name, direction, read/write/control/diagnostic, exception, no error, no identity;
  the target where the kernel derived one);
- ``parse`` fed only the handed-over PDUs reports them exactly as when fed every PDU (the chunks
  the kernel keeps never change the Python state);
- classifying the batch at once, or one PDU at a time from an arena of exactly its bytes, or from
  an arena with junk between the PDUs, gives the same rows and ``cstate`` (no read outside
  ``arena[offs[i] : offs[i] + lens[i]]`` changes a result).

It runs over the OPC UA captures of tests/captures in capture order, over the synthetic crane
capture, over hand-built chunks for every branch of the kernel, and under hypothesis over random
and mutated chunks; a subprocess repeats the fuzzing with ``NUMBA_BOUNDSCHECK=1`` so that a read
past a PDU raises.
"""

from __future__ import annotations

import os
import struct
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
from tests.protocols import _wire_oracle as O

from cranewatch.protocols._base import ParseResult
from cranewatch.protocols._pdu_kernel import (
    D_REQUEST,
    D_RESPONSE,
    DIRECTIONS,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_EXCEPTION,
    F_READ,
    F_WRITE,
    MAX_STORED,
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
from cranewatch.protocols.opcua import ANALYZER, describe_target, operation_name
from cranewatch.protocols.opcua import _kernel as K
from cranewatch.protocols.opcua import _services as S
from cranewatch.testing.streams import frame_run

NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"
BASIC256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
TIER = ANALYZER.compiled
ROOT = Path(__file__).resolve().parents[3]
FLAG_BITS = (F_READ, F_WRITE, F_CONTROL, F_DIAGNOSTIC)
NODE_LISTS = ("read", "browse", "history_read", "create_monitored_items")  # targets: NodeIds


# -- running both tiers ----------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One PDU as the dispatcher hands it over: its flow, sender and bytes."""

    flow: Any
    from_client: bool
    pdu: bytes


@dataclass
class Run:
    items: list[Item]
    out: np.ndarray  # the kernel's rows
    cstate: np.ndarray
    full: list[ParseResult]  # parse fed every PDU
    policy_before: list[str | None]  # the flow's Python state["policy"] before each PDU

    def compiled(self, k: int) -> bool:
        return bool(self.out[k, O_PYTHON] == 0)

    def msg_final(self, k: int) -> bool:
        return self.items[k].pdu[:4] == b"MSGF"


def _classify(items: list[Item], flows: np.ndarray, cstate: np.ndarray, gap: int,
              junk: int) -> np.ndarray:  # fmt: skip
    """Run the kernel over one arena holding the PDUs (``gap`` junk bytes around each)."""
    stored = [it.pdu[:MAX_STORED] for it in items]
    filler = bytes([junk]) * gap
    arena = np.frombuffer(filler + b"".join(p + filler for p in stored), np.uint8).copy()
    lens = np.array([len(p) for p in stored], np.int64)
    offs = gap + np.concatenate([[0], np.cumsum(lens + gap)[:-1]]).astype(np.int64)
    client = np.array([it.from_client for it in items], np.uint8)
    out = np.full((len(items), N_OUT), -99, np.int64)
    TIER.classify(arena, offs, lens, client, cstate, flows, out)
    return out


def _classify_one_by_one(items: list[Item], flows: np.ndarray, cstate: np.ndarray) -> np.ndarray:
    out = np.full((len(items), N_OUT), -99, np.int64)
    for k, it in enumerate(items):
        pdu = it.pdu[:MAX_STORED]
        arena = np.frombuffer(pdu, np.uint8).copy()  # exactly the stored bytes
        row = np.full((1, N_OUT), -99, np.int64)
        TIER.classify(
            arena,
            np.zeros(1, np.int64),
            np.array([len(pdu)], np.int64),
            np.array([it.from_client], np.bool_),
            cstate,
            flows[k : k + 1],
            row,
        )  # fmt: skip  (bool here, uint8 in the batch: both dtypes)
        out[k] = row[0]
    return out


def _parse_all(items: list[Item], policy: str | None, keep: list[bool]) -> dict[int, ParseResult]:
    states: dict[Any, dict[str, Any]] = {}
    results = {}
    for k, it in enumerate(items):
        if keep[k]:
            state = states.setdefault(it.flow, {} if policy is None else {"policy": policy})
            results[k] = ANALYZER.parse(it.pdu, it.from_client, state)
    return results


def run_tiers(items: list[Item], policy: str | None = None, junk: int = 0xA5) -> Run:
    """Both tiers over ``items`` in order, with every cross-check of the module docstring.
    ``policy``: a security policy both tiers start each flow with (None: nothing known)."""
    index = {f: k for k, f in enumerate(dict.fromkeys(it.flow for it in items))}
    flows = np.array([index[it.flow] for it in items], np.int64)

    def fresh() -> np.ndarray:
        cstate = np.zeros((max(len(index), 1), N_CSTATE), np.int64)
        if policy is not None:
            cstate[:, K.C_POLICY] = K.POLICY_NONE if policy == NONE else K.POLICY_OTHER
        return cstate

    cstate = fresh()
    out = _classify(items, flows, cstate, 0, 0)
    for gap, filler in ((7, junk), (3, 0xFF - junk)):
        other = fresh()
        assert np.array_equal(_classify(items, flows, other, gap, filler), out)
        assert np.array_equal(other, cstate)
    other = fresh()
    assert np.array_equal(_classify_one_by_one(items, flows, other), out)
    assert np.array_equal(other, cstate)

    # parse fed every PDU, noting the flow's security policy before each
    states: dict[Any, dict[str, Any]] = {}
    full, policy_before = [], []
    for it in items:
        state = states.setdefault(it.flow, {} if policy is None else {"policy": policy})
        policy_before.append(state.get("policy"))
        full.append(ANALYZER.parse(it.pdu, it.from_client, state))
    run = Run(items, out, cstate, full, policy_before)

    for k in range(len(items)):
        assert out[k, O_PYTHON] in (0, 1), out[k]
        if run.compiled(k):
            assert_agrees(out[k], full[k], items[k])
    handed = [not run.compiled(k) for k in range(len(items))]
    for k, result in _parse_all(items, policy, handed).items():
        assert result == full[k], f"PDU {k}: parse reports it differently without the compiled PDUs"
    return run


def assert_agrees(row: np.ndarray, result: ParseResult, item: Item) -> None:
    """A compiled row is valid and says what ``parse`` says."""
    code = int(row[O_CODE])
    assert item.pdu[:4] == b"MSGF" and item.pdu[:MAX_STORED] == item.pdu
    assert code in S.SERVICES and row[O_DIRECTION] in (D_REQUEST, D_RESPONSE), row
    assert result.error is None and not result.identities, (result, row)
    assert len(result.operations) == 1
    op = result.operations[0]
    assert (op.code, op.name, op.direction) == (code, operation_name(code),
                                                DIRECTIONS[row[O_DIRECTION]])  # fmt: skip
    flags = int(row[O_FLAGS])
    assert flags & ~(F_READ | F_WRITE | F_CONTROL | F_DIAGNOSTIC | F_EXCEPTION) == 0
    assert (op.is_read, op.is_write, op.is_control, op.is_diagnostic) == tuple(
        bool(flags & f) for f in FLAG_BITS
    )
    exception = int(row[O_EXCEPTION])
    assert -1 <= exception < 1 << 32
    assert op.exception == (None if exception < 0 else exception)
    assert bool(flags & F_EXCEPTION) == (op.exception is not None)
    unit, lo, hi = (int(row[c]) for c in (O_UNIT, O_LO, O_HI))
    if unit < 0:
        assert lo == hi == -1
        # the one thing the compiled tier may lose: a node list it cannot express
        assert op.target is None or op.name in NODE_LISTS, (op, row)
    else:
        assert 0 <= lo <= hi < lo + 8 and op.direction == "request"
        assert describe_target(unit, lo, hi) == op.target


def capture_items(path: Path | str) -> list[Item]:
    """Every PDU of every OPC UA flow of a capture, in capture order (by the frame that completes
    it), framed as the dispatcher frames them."""
    found = []
    for flow in O.flows(str(path)).values():
        if flow.proto != 6:
            continue
        client, server = (O.first_bytes(flow, d) for d in (0, 1))
        if ANALYZER.detect(client, server, flow.dst_port or 0) < 0.5:
            continue
        for direction in (0, 1):
            for r, run in enumerate(flow.runs[direction]):
                for offset, pdu in frame_run(ANALYZER, run.data, strict=False):
                    frame = run.frame_at(offset + len(pdu) - 1)
                    key = (frame, flow.flow_id, direction, r, offset)
                    found.append((key, Item(flow.flow_id, direction == 0, pdu)))
    found.sort(key=lambda t: t[0])
    return [item for _, item in found]


# -- the table and the names -----------------------------------------------------------------
def test_service_table_equals_the_python_one() -> None:
    kinds = {S.READ: F_READ, S.WRITE: F_WRITE, S.CONTROL: F_CONTROL, S.DIAGNOSTIC: F_DIAGNOSTIC,
             S.NONE: 0}  # fmt: skip
    table = {name: (req, res, kinds[kind]) for name, (req, res, kind) in S._TABLE.items()}
    assert sorted(table.values()) == sorted((r, s, f) for r, s, f, _, _ in K.SERVICES)
    for code, service in S.SERVICES.items():
        entry = int(K.SERVICE_TABLE[code])
        assert entry & K.KNOWN and bool(entry & K.REQUEST) == service.is_request
        assert (entry >> 2) & 0xF == kinds[service.kind]
        assert operation_name(code) == service.name
    assert np.count_nonzero(K.SERVICE_TABLE) == len(S.SERVICES)
    # identities, endpoint URLs and user names stay with Python, as do Write and Call requests
    python = {code for code in S.SERVICES if int(K.SERVICE_TABLE[code]) >> 8 == K.H_PYTHON}
    assert python == {422, 425, 428, 431, 461, 464, 467, 470, 673, 712}
    assert K.POLICY_NONE_URI.tobytes().decode() == NONE


def test_describe_target_is_the_python_node_list() -> None:
    assert describe_target(-1, -1, -1) is None
    assert describe_target(0, 2255, 2255) == "i=2255"
    assert describe_target(2, 7, 9) == "ns=2;i=7,ns=2;i=8,ns=2;i=9"
    assert describe_target(2, 9, 7) is None and describe_target(1, 0, 8) is None


# -- hand-built chunks -----------------------------------------------------------------------
def s(text: str | None) -> bytes:
    if text is None:
        return struct.pack("<i", -1)
    raw = text.encode()
    return struct.pack("<i", len(raw)) + raw


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def i32(value: int) -> bytes:
    return struct.pack("<i", value)


def nodeid(ns: int, ident: int | str) -> bytes:
    if isinstance(ident, str):
        return b"\x03" + struct.pack("<H", ns) + s(ident)
    if ns == 0 and ident < 256:
        return bytes([0, ident])
    if ns < 256 and ident < 65536:
        return struct.pack("<BBH", 1, ns, ident)
    return struct.pack("<BHI", 2, ns, ident)


REQUEST_HEADER = b"\x00\x00" + bytes(8) + u32(7) + u32(0) + s(None) + u32(10000) + b"\x00\x00\x00"


def response_header(status: int = 0, diagnostics: bytes = b"\x00") -> bytes:
    return bytes(8) + u32(7) + u32(status) + diagnostics + i32(-1) + b"\x00\x00\x00"


def chunk(kind: str, body: bytes, chunk_type: str = "F") -> bytes:
    return kind.encode() + chunk_type.encode() + u32(len(body) + 8) + body


def msg(type_id: int, body: bytes, request_id: int = 5, chunk_type: str = "F",
        encoding: int = 1) -> bytes:  # fmt: skip
    tid = (
        struct.pack("<BBH", 1, 0, type_id) if encoding == 1 else struct.pack("<BHI", 2, 0, type_id)
    )
    return chunk("MSG", u32(1) + u32(1) + u32(20) + u32(request_id) + tid + body, chunk_type)


def opn(policy: str | None, from_client: bool = True) -> bytes:
    head = u32(0) + s(policy) + i32(-1) + i32(-1) + u32(1) + u32(1)
    if from_client:
        body = struct.pack("<BBH", 1, 0, 446) + REQUEST_HEADER + u32(0) * 3 + i32(0) + u32(600000)
    else:
        body = struct.pack("<BBH", 1, 0, 449) + response_header() + u32(0) * 3 + bytes(12)
    return chunk("OPN", head + body)


def read_value_ids(nodes: list[bytes]) -> bytes:
    return i32(len(nodes)) + b"".join(n + u32(13) + s(None) + b"\x00\x00" + s(None) for n in nodes)


def read_request(nodes: list[bytes], request_id: int = 5) -> bytes:
    return msg(631, REQUEST_HEADER + bytes(8) + u32(2) + read_value_ids(nodes), request_id)


def browse_request(nodes: list[bytes]) -> bytes:
    per = [n + u32(0) + nodeid(0, 33) + b"\x01" + u32(0) + u32(63) for n in nodes]
    return msg(527, REQUEST_HEADER + nodeid(0, 0) + bytes(16) + i32(len(nodes)) + b"".join(per))


def history_read_request(nodes: list[bytes]) -> bytes:
    per = [n + s(None) + b"\x00\x00" + s(None) + s(None) for n in nodes]
    details = nodeid(0, 0) + b"\x00"
    return msg(664, REQUEST_HEADER + details + u32(0) + b"\x00" + i32(len(nodes)) + b"".join(per))


def monitored_items_request(nodes: list[bytes]) -> bytes:
    per = [
        n + u32(13) + s(None) + b"\x00\x00" + s(None) + u32(2) + u32(1) + struct.pack("<d", 100)
        + nodeid(0, 0) + b"\x00" + u32(1) + b"\x01"
        for n in nodes
    ]  # fmt: skip
    return msg(751, REQUEST_HEADER + u32(1) + u32(0) + i32(len(nodes)) + b"".join(per))


PUBLISH = msg(826, REQUEST_HEADER + i32(0), request_id=9)
READ_RESPONSE = msg(634, response_header() + i32(1) + b"\x01\x06" + i32(42) + i32(-1))


def _diagnostics(depth: int) -> bytes:
    inner = b"\x01" + i32(3)  # SymbolicId only
    for _ in range(depth):
        inner = b"\x51" + i32(1) + s("more") + inner  # SymbolicId, AdditionalInfo, Inner
    return inner


def fix_size(data: bytes) -> bytes:
    """The MessageSize set to the length (so that a cut or mutated chunk gets past framing)."""
    return data[:4] + u32(len(data)) + data[8:] if len(data) >= 8 else data


ACTIVATE_SESSION = msg(467, REQUEST_HEADER + s(None) * 2 + i32(0) * 2 + nodeid(0, 0) + b"\x00")
#: a Read request whose type id is an ExpandedNodeId with a ServerIndex: Python decodes it
EXPANDED_TYPE_ID = chunk(
    "MSG", u32(1) * 4 + b"\x41\x00" + struct.pack("<H", 631) + u32(0) + REQUEST_HEADER + bytes(12)
)

#: (chunk, from the client, compiled on a plain channel)
HAND_BUILT: list[tuple[bytes, bool, bool]] = [
    (read_request([nodeid(0, 2255)]), True, True),  # target "i=2255"
    (read_request([nodeid(2, 7), nodeid(2, 8), nodeid(2, 9)]), True, True),  # ns=2;i=7..9
    (read_request([nodeid(2, 7), nodeid(2, 9)]), True, True),  # not consecutive: no target
    (read_request([nodeid(2, 70000 + k) for k in range(9)]), True, True),  # "(+1 more)"
    (read_request([nodeid(3, '"DB_crane1"."HoistSpeed"')]), True, True),  # string NodeId
    (read_request([]), True, True),
    (fix_size(read_request([nodeid(2, 7)])[:-1]), True, False),  # malformed node list
    (read_request([nodeid(2, 7)])[:-4] + i32(1), True, False),  # last length lies
    (msg(428, REQUEST_HEADER + s("opc.tcp://plc:4840") + i32(0) + i32(0)), True, False),
    (msg(422, REQUEST_HEADER + s("opc.tcp://plc:4840") + i32(0) + i32(0)), True, False),
    (ACTIVATE_SESSION, True, False),
    (msg(470, response_header() + s(None) + i32(0) + i32(0) + i32(0)), False, False),
    (read_request([nodeid(2, 7)])[:-1], True, False),  # shorter than its MessageSize
    (browse_request([nodeid(0, 85)]), True, True),
    (history_read_request([nodeid(4, 1000), nodeid(4, 1001)]), True, True),
    (monitored_items_request([nodeid(1, 12)]), True, True),
    (fix_size(monitored_items_request([nodeid(1, 12)])[:-2]), True, False),
    (PUBLISH, True, True),
    (msg(826, REQUEST_HEADER + i32(0), encoding=2), True, True),  # type id as a numeric NodeId
    (fix_size(msg(826, REQUEST_HEADER, encoding=2)[:-1]), True, False),  # malformed header
    (READ_RESPONSE, False, True),
    (msg(634, response_header(0x80340000)), False, True),  # Bad ServiceResult
    (msg(634, response_header(0x80340000, _diagnostics(8))), False, True),
    (msg(634, response_header(0x80340000, _diagnostics(9))), False, False),  # nested too deep
    (msg(397, response_header(0x800D0000)), False, True),  # ServiceFault
    (msg(397, response_header(0)), True, True),  # ServiceFault from the client, Good status
    (msg(676, response_header() + i32(2) + u32(0) + u32(0x803B0000) + i32(-1)), False, True),
    (msg(676, response_header() + i32(2) + u32(0) + u32(0)), False, True),
    (msg(676, response_header() + i32(3) + u32(0)), False, False),  # fewer results than counted
    (msg(676, response_header(0x80010000)), False, True),
    (msg(673, REQUEST_HEADER + i32(0)), True, False),  # Write request: Python
    (msg(712, REQUEST_HEADER + i32(0)), True, False),  # Call request: Python
    (msg(464, response_header()), False, False),  # CreateSession response: Python
    (msg(631, REQUEST_HEADER), False, False),  # a request from the server: opaque
    (msg(634, response_header()), True, False),  # a response from the client: opaque
    (msg(9999, REQUEST_HEADER), True, False),  # unknown service
    (EXPANDED_TYPE_ID, True, False),
    (chunk("MSG", u32(1) * 4 + nodeid(1, 631) + REQUEST_HEADER), True, False),  # namespace 1
    (chunk("CLO", u32(1) * 4 + struct.pack("<BBH", 1, 0, 452) + REQUEST_HEADER), True, False),
    (chunk("HEL", u32(0) * 5 + s("opc.tcp://plc:4840")), True, False),
]


def test_hand_built_chunks_on_a_plain_channel() -> None:
    items = [Item(0, True, opn(NONE)), Item(0, False, opn(NONE, from_client=False))]
    items += [Item(0, c, pdu) for pdu, c, _ in HAND_BUILT]
    run = run_tiers(items)
    assert [run.compiled(k) for k in range(2, len(items))] == [c for _, _, c in HAND_BUILT]
    rows = {items[k].pdu: run.out[k] for k in range(len(items))}
    targets = {
        read_request([nodeid(0, 2255)]): "i=2255",
        read_request([nodeid(2, 7), nodeid(2, 8), nodeid(2, 9)]): "ns=2;i=7,ns=2;i=8,ns=2;i=9",
        browse_request([nodeid(0, 85)]): "i=85",
        history_read_request([nodeid(4, 1000), nodeid(4, 1001)]): "ns=4;i=1000,ns=4;i=1001",
        monitored_items_request([nodeid(1, 12)]): "ns=1;i=12",
    }
    for pdu, target in targets.items():
        row = rows[pdu]
        assert describe_target(*(int(row[c]) for c in (O_UNIT, O_LO, O_HI))) == target
    fault = rows[msg(397, response_header(0x800D0000))]
    assert (fault[O_PYTHON], fault[O_CODE], fault[O_EXCEPTION]) == (0, 397, 0x800D0000)
    assert fault[O_FLAGS] == F_EXCEPTION and fault[O_DIRECTION] == D_RESPONSE
    bad_write = rows[msg(676, response_header() + i32(2) + u32(0) + u32(0x803B0000) + i32(-1))]
    assert bad_write[O_EXCEPTION] == 0x803B0000 and bad_write[O_FLAGS] == F_WRITE | F_EXCEPTION
    # and it hands over only chunks that are not plain MSGs, that Python finds malformed or
    # unknown, that name identities or endpoints, or Write and Call requests
    python = ("write", "call", "get_endpoints", "find_servers", "create_session",
              "activate_session")  # fmt: skip
    for k in range(2, len(items)):
        if not run.compiled(k):
            result, pdu = run.full[k], items[k].pdu
            op = result.operations[0] if result.operations else None
            assert (pdu[:4] != b"MSGF" or pdu[24] not in (1, 2) or result.error
                    or (op is not None and op.name in python))  # fmt: skip


def test_policy_decides_what_is_compiled() -> None:
    plain = [Item(0, True, PUBLISH), Item(0, False, READ_RESPONSE)]
    # an encrypted channel: nothing compiled, even what decodes
    run = run_tiers([Item(0, True, opn(BASIC256)), *plain])
    assert not any(run.compiled(k) for k in range(3)) and run.cstate[0, 0] == K.POLICY_OTHER
    # a null policy is not None either
    run = run_tiers([Item(0, True, opn(None)), *plain])
    assert not any(run.compiled(k) for k in range(3))
    # no OpenSecureChannel seen (the capture began later): compiled when it decodes
    run = run_tiers(plain)
    assert all(run.compiled(k) for k in range(2)) and run.cstate[0, 0] == K.POLICY_UNKNOWN
    # a renewal with another policy switches the flow over; each flow keeps its own
    run = run_tiers([Item(0, True, opn(NONE)), Item(1, True, opn(BASIC256)), *plain,
                     Item(1, True, PUBLISH), Item(0, True, opn(BASIC256)), *plain])  # fmt: skip
    assert [run.compiled(k) for k in range(8)] == [False, False, True, True, False, False,
                                                   False, False]  # fmt: skip
    # an OpenSecureChannel cut short or with a lying certificate length leaves the policy as is
    encrypted = opn(BASIC256)
    lying = fix_size(encrypted.replace(i32(-1) + i32(-1), i32(10_000) + i32(-1), 1))
    for bad in (encrypted[:-1], lying):
        run = run_tiers([Item(0, True, opn(NONE)), Item(0, True, bad), *plain])
        assert run.full[1].error and run.compiled(2) and run.compiled(3)


def test_chunked_messages_reach_python() -> None:
    """The final chunk of a message Python counted at its first chunk must reach Python, which
    drops it: per side, every final chunk with a RequestId up to the highest one of an
    intermediate chunk goes to Python, including after a final chunk Python never got whole."""
    read = read_request([nodeid(2, 7)], request_id=7)
    first = msg(631, REQUEST_HEADER, request_id=7, chunk_type="C")
    items = [
        Item(0, True, opn(NONE)),
        Item(0, True, first),
        Item(0, True, read),  # looks like a whole Read, but is the final chunk of request 7
        Item(0, True, read),  # request 7 again: Python decodes it, the kernel still hands it over
        Item(0, False, READ_RESPONSE),  # the server's side is not concerned
        Item(0, True, read_request([nodeid(2, 7)], request_id=8)),
        Item(0, True, msg(631, REQUEST_HEADER, request_id=11, chunk_type="C")),
        Item(0, True, msg(631, REQUEST_HEADER, request_id=11, chunk_type="A")),
        Item(0, True, read_request([nodeid(2, 7)], request_id=11)),
        Item(0, True, read_request([nodeid(2, 7)], request_id=12)),
        Item(1, True, read),  # another flow
    ]
    run = run_tiers(items)
    assert run.full[2] == ParseResult() and run.full[3].operations
    assert [run.compiled(k) for k in range(len(items))] == [
        False, False, False, False, True, True, False, False, False, True, True,
    ]  # fmt: skip
    assert run.cstate[0, K.C_CHUNKED_CLIENT] == 12 and run.cstate[0, K.C_CHUNKED_SERVER] == 0
    # a final chunk cut short (stored bytes < size) leaves its RequestId with Python for good
    run = run_tiers([Item(0, True, first), Item(0, True, read[:-1]), Item(0, True, read)])
    assert run.full[2] == ParseResult() and not run.compiled(2)
    # a response overtaken by a chunked one goes to Python; later ones are compiled again
    big = msg(634, response_header(), request_id=30, chunk_type="C")
    late = msg(829, response_header(), request_id=29)  # a Publish answered late
    run = run_tiers([Item(0, False, big), Item(0, False, late),
                     Item(0, False, msg(829, response_header(), request_id=31))])  # fmt: skip
    assert [run.compiled(k) for k in range(3)] == [False, False, True]
    # two chunked messages interleaved: the older one's chunk does not lower the mark
    run = run_tiers([Item(0, False, big), Item(0, False, big.replace(u32(30), u32(25), 1)),
                     Item(0, False, msg(634, response_header(), request_id=30))])  # fmt: skip
    assert run.full[2] == ParseResult() and not run.compiled(2)


# -- real captures ---------------------------------------------------------------------------
def test_opcua_captures_are_those_named() -> None:
    """test_opcua's detection test proves that only O.OPCUA_CAPTURES carry OPC UA flows; this
    keeps the list here from missing a capture added later."""
    named = {p.name for p in O.all_captures() if "opcua" in p.name}
    assert named == set(O.OPCUA_CAPTURES)


@pytest.fixture(scope="module", params=O.OPCUA_CAPTURES)
def capture_run(request: pytest.FixtureRequest) -> tuple[str, Run]:
    return request.param, run_tiers(capture_items(O.CAPTURES / request.param))


def test_capture_agrees_pdu_by_pdu(capture_run: tuple[str, Run]) -> None:
    name, run = capture_run
    kinds = Counter(it.pdu[:4] for it in run.items)
    assert kinds[b"MSGF"] >= 10
    compiled = [k for k in range(len(run.items)) if run.compiled(k)]
    # nothing compiled on a channel whose policy is not None
    assert all(run.policy_before[k] in (None, NONE) for k in compiled)
    plain = [k for k in range(len(run.items)) if run.msg_final(k) and run.policy_before[k] == NONE]
    share = sum(run.compiled(k) for k in plain) / max(len(plain), 1)
    if "encrypted" in name:
        encrypted = [k for k in range(len(run.items))
                     if run.msg_final(k) and run.policy_before[k] not in (None, NONE)]  # fmt: skip
        assert len(encrypted) >= 8 and not any(run.compiled(k) for k in encrypted)
        # its plain channel only asks GetEndpoints, which stays with Python
        assert {run.full[k].operations[0].name for k in plain} == {"get_endpoints"}
    else:
        assert share >= 0.8, f"{name}: {share:.0%} of the plain MSG chunks compiled"


def test_synthetic_crane_capture() -> None:
    """``cranewatch testbed synth``: HMIs polling PLCs with Read requests; some of its channels
    began before the capture (no OpenSecureChannel), the kernel compiles those too."""
    run = run_tiers(capture_items(O.synth_capture()))
    msgs = [k for k in range(len(run.items)) if run.msg_final(k)]
    assert len(msgs) > 1000
    assert sum(run.compiled(k) for k in msgs) / len(msgs) >= 0.95
    mid_stream = [k for k in msgs if run.policy_before[k] is None]
    assert mid_stream and all(run.compiled(k) for k in mid_stream)
    codes = Counter(int(run.out[k, O_CODE]) for k in msgs if run.compiled(k))
    assert codes[631] and codes[634]


# -- fuzzing ---------------------------------------------------------------------------------
FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
POLICIES = st.sampled_from([None, NONE, BASIC256])


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    real = [it.pdu for c in O.OPCUA_CAPTURES[1:3] for it in capture_items(O.CAPTURES / c)]
    found = dict.fromkeys([*(pdu for pdu, _, _ in HAND_BUILT), *real, opn(NONE), opn(BASIC256)])
    return [pdu for pdu in found if len(pdu) <= 2048]


@FUZZ
@given(st.binary(max_size=300), st.booleans(), POLICIES)
def test_fuzz_random_bytes(data: bytes, from_client: bool, policy: str | None) -> None:
    run_tiers([Item(0, from_client, data)], policy)


@FUZZ
@given(st.sampled_from(["MSGF", "MSGC", "MSGA", "OPNF", "CLOF"]), st.binary(max_size=200),
       st.booleans(), POLICIES)  # fmt: skip
def test_fuzz_valid_headers_random_bodies(kind: str, body: bytes, from_client: bool,
                                          policy: str | None) -> None:  # fmt: skip
    run_tiers([Item(0, from_client, kind.encode() + u32(len(body) + 8) + body)], policy)


@FUZZ
@given(st.data(), POLICIES)
def test_fuzz_mutated_chunk_sequences(seeds: list[bytes], data: st.DataObject,
                                      policy: str | None) -> None:  # fmt: skip
    """Sequences of real and hand-built chunks on two flows, some mutated or cut, some with the
    chunk type changed (to exercise the open-message memory), in both directions."""
    items = []
    for _ in range(data.draw(st.integers(1, 10))):
        pdu = bytearray(data.draw(st.sampled_from(seeds)))
        for _ in range(data.draw(st.integers(0, 3))):
            pdu[data.draw(st.integers(0, len(pdu) - 1))] = data.draw(st.integers(0, 255))
        if data.draw(st.booleans()) and len(pdu) >= 4:
            pdu[3] = ord(data.draw(st.sampled_from("FCA")))
        if data.draw(st.booleans()) and len(pdu) >= 24:
            pdu[20:24] = u32(data.draw(st.integers(0, 3)))  # RequestIds that collide
        cut = (
            bytes(pdu[: data.draw(st.integers(0, len(pdu)))])
            if data.draw(st.booleans())
            else bytes(pdu)
        )
        pdu = bytearray(fix_size(cut) if data.draw(st.booleans()) else cut)
        items.append(Item(data.draw(st.integers(0, 1)), data.draw(st.booleans()), bytes(pdu)))
    run_tiers(items, policy, junk=data.draw(st.integers(0, 255)))


BOUNDSCHECK_CHILD = textwrap.dedent(
    """
    import random, sys
    import numpy as np
    from cranewatch.protocols._pdu_kernel import N_CSTATE, N_OUT, O_PYTHON
    from cranewatch.protocols.opcua._kernel import C_POLICY, classify

    data = open(sys.argv[1], "rb").read()
    seeds, pos = [], 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "little")
        seeds.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n

    def one(pdu, length, client, policy):
        arena = np.frombuffer(pdu, np.uint8).copy()  # a read past the PDU is out of bounds
        cstate = np.zeros((1, N_CSTATE), np.int64)
        cstate[0, C_POLICY] = policy
        out = np.zeros((1, N_OUT), np.int64)
        classify(arena, np.zeros(1, np.int64), np.array([length], np.int64),
                 np.array([client], np.uint8), cstate, np.zeros(1, np.int64), out)
        return out[0]

    probe = seeds[0]  # a Read request the kernel compiles, whose last byte it reads
    assert one(probe, len(probe), 1, 1)[O_PYTHON] == 0
    try:
        one(probe[:-1], len(probe), 1, 1)
    except IndexError:
        pass
    else:
        sys.exit("bounds checks are off: NUMBA_BOUNDSCHECK had no effect")

    rng = random.Random(int(sys.argv[2]))
    compiled = 0
    for case in range(int(sys.argv[3])):
        if case % 10 == 0:
            pdu = bytes(rng.getrandbits(8) for _ in range(rng.randrange(64)))
        else:
            pdu = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(4)):
                pdu[rng.randrange(len(pdu))] = rng.getrandbits(8)
            if rng.random() < 0.3:
                pdu[3] = ord(rng.choice("FCA"))
            pdu = bytes(pdu[: rng.randrange(len(pdu) + 1)] if rng.random() < 0.5 else pdu)
            if rng.random() < 0.7 and len(pdu) >= 8:
                pdu = pdu[:4] + len(pdu).to_bytes(4, "little") + pdu[8:]
        row = one(pdu, len(pdu), rng.getrandbits(1), rng.randrange(3))
        assert row[O_PYTHON] in (0, 1)
        compiled += row[O_PYTHON] == 0
    print("compiled", compiled)
    """
)


def test_fuzz_with_bounds_checks(seeds: list[bytes], tmp_path: Path) -> None:
    """The kernel in a fresh interpreter with NUMBA_BOUNDSCHECK=1, every PDU in an arena of
    exactly its bytes: any read past a PDU raises IndexError there."""
    probe = read_request([nodeid(2, 7)])
    path = tmp_path / "seeds.bin"
    path.write_bytes(b"".join(u32(len(p)) + p for p in [probe, *seeds]))
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    proc = subprocess.run(
        [sys.executable, "-c", BOUNDSCHECK_CHILD, str(path), "1", "30000"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 1000, proc.stdout
