"""What the compiled tier of an analyzer hands the dispatcher, and the framings it compiles.

Most PDUs on a crane network are the same few polls repeated millions of times (Modbus reads,
S7 read-var jobs, OPC UA read requests). Decoding each one in Python costs 4-14 microseconds,
far too slow for captures of hundreds of millions of packets, so an analyzer may add a compiled
tier: a numba ``classify`` kernel that reads the function code, unit/area and address range of
one PDU straight from the dispatcher's byte arena and writes one row of ``out`` (columns
``O_*`` below). Anything it does not handle plainly (identity answers, exceptions, unknown or
malformed PDUs, fragments) it marks with ``O_PYTHON``; the dispatcher then hands that PDU to the
analyzer's ordinary Python ``parse``. Both tiers feed the same ``operations`` rows, and a test
compares them PDU by PDU on every shared capture.

The framings here (MBAP, TPKT, OPC UA message header) mirror the Python ``pdu_length`` of the
analyzers exactly (a hypothesis test compares them on random bytes): the dispatcher's stream
kernel calls them to cut a reassembled TCP stream into PDUs without leaving numba.

A tier is one function per PDU, compiled with the fixed signature ``PDU_SIGNATURE``
(``protocols/modbus/_kernel.py`` is the model)::

    @kernel(PDU_SIGNATURE)
    def classify_pdu(arena, pos, n, client, cstate, flow, out, i) -> None

The PDU's bytes are ``arena[pos : pos + n]`` (uint8, C-contiguous; at most ``MAX_STORED`` bytes
even when the PDU is longer: ``n`` is what is stored), ``client`` is 1 when the TCP client sent
it, ``cstate[flow]`` is a row of ``N_CSTATE`` int64 of private per-flow memory (zero at first),
and ``out[i, O_*]`` receives the result. The dispatcher's stream kernel calls it through a
first-class function value the moment it has framed a PDU, while the bytes are still in the
cache, and counts the result straight away (``dispatch/_aggregate_kernel``): no record, copy or
Python object per PDU. A fixed signature is what makes that possible (and what lets numba cache
the stream kernel: a tuple of such functions is typed by the signature, not by the functions).
Each tier module also keeps ``classify(arena, offs, lens, client, cstate, flows, out)``, the same
function over arrays of PDUs, for its tests and for batch use.

Kernel modules import nothing from cranewatch besides ``_jit`` and each other (see ``_jit``).
"""

from __future__ import annotations

import numpy as np
from numba import types

from cranewatch._jit import kernel

# ---- classify output columns (out[i, O_*]) ----------------------------------------------------
O_PYTHON = 0  # 1: hand this PDU to the analyzer's Python parse; the other columns are ignored
O_CODE = 1  # function / service code as the protocol defines it
O_DIRECTION = 2  # D_* below
O_UNIT = 3  # unit id / area key of the target, -1 none
O_LO = 4  # first address of the target range, -1 none
O_HI = 5  # last address of the target range, -1 none
O_FLAGS = 6  # F_* bits below
O_EXCEPTION = 7  # exception / error code of a failed response, -1 none
N_OUT = 8

D_REQUEST = 0
D_RESPONSE = 1
D_UNSOLICITED = 2
DIRECTIONS = ("request", "response", "unsolicited")

F_READ = 1
F_WRITE = 2
F_CONTROL = 4
F_DIAGNOSTIC = 8
F_EXCEPTION = 16

N_CSTATE = 4  # per-flow int64 words a classify kernel may keep

#: classify_pdu(arena, pos, n, client, cstate, flow, out, i): the one signature of a tier
PDU_SIGNATURE = types.void(
    types.uint8[::1],
    types.int64,
    types.int64,
    types.int64,
    types.int64[:, ::1],
    types.int64,
    types.int64[:, ::1],
    types.int64,
)


@kernel(inline="always")
def hand_to_python(out, i):
    """Row ``i`` of ``out`` as a tier leaves a PDU it hands to Python: ``O_PYTHON`` 1, no code,
    direction, target or exception, no flags."""
    out[i, O_PYTHON] = 1
    out[i, O_CODE] = -1
    out[i, O_DIRECTION] = -1
    out[i, O_UNIT] = -1
    out[i, O_LO] = -1
    out[i, O_HI] = -1
    out[i, O_FLAGS] = 0
    out[i, O_EXCEPTION] = -1


@kernel(PDU_SIGNATURE)
def no_tier(arena, pos, n, client, cstate, flow, out, i):
    """Position 0 of the dispatcher's tuple of tiers: streams without a tier (never called
    for them; it hands the PDU to Python should it be)."""
    hand_to_python(out, i)


# ---- stream framings --------------------------------------------------------------------------
FRAMING_NONE = 0  # framed in Python with the analyzer's pdu_length
FRAMING_MBAP = 1  # Modbus/TCP application data unit
FRAMING_TPKT = 2  # RFC 1006 TPKT carrying COTP
FRAMING_OPCUA = 3  # OPC UA binary message header
FRAMINGS = {"mbap": FRAMING_MBAP, "tpkt": FRAMING_TPKT, "opcua": FRAMING_OPCUA}

MAX_STORED = 72 * 1024  # bytes of one PDU kept: a whole TPKT (64 KiB) or 64 KiB OPC UA chunk fits

_MBAP_MAX = 254
_TPKT_MIN = 7
#: the shortest PDU any compiled framing cuts (TPKT; MBAP needs 8 bytes, OPC UA 16): bounds the
#: number of PDUs a segment can hold
MIN_PDU = _TPKT_MIN
_OPCUA_MAX_CHUNK = 1 << 24


@kernel(inline="always")
def _u16be(buf, pos):
    return (np.int64(buf[pos]) << 8) | np.int64(buf[pos + 1])


@kernel
def mbap_length(buf, pos, end):
    if end - pos < 6:
        return np.int64(0)
    if buf[pos + 2] != 0 or buf[pos + 3] != 0:
        return np.int64(-1)
    length = _u16be(buf, pos + 4)
    if length < 2 or length > _MBAP_MAX:
        return np.int64(-1)
    return 6 + length


@kernel(inline="always")
def _cotp_type_known(code):
    return (
        code == 0x1 or code == 0x2 or code == 0x5 or code == 0x6 or code == 0x7
        or code == 0x8 or code == 0xC or code == 0xD or code == 0xE or code == 0xF
    )  # fmt: skip


@kernel
def tpkt_length(buf, pos, end):
    avail = end - pos
    if avail <= 0:
        return np.int64(0)
    if buf[pos] != 3:
        return np.int64(-1)
    if avail < 2:
        return np.int64(0)
    if buf[pos + 1] != 0:
        return np.int64(-1)
    if avail < 4:
        return np.int64(0)
    length = _u16be(buf, pos + 2)
    if length < _TPKT_MIN:
        return np.int64(-1)
    if avail >= 6:
        li = np.int64(buf[pos + 4])
        if li < 2 or li + 5 > length or not _cotp_type_known(np.int64(buf[pos + 5]) >> 4):
            return np.int64(-1)
    return length


@kernel(inline="always")
def _opcua_kind(a, b, c):
    """Index of the message type in HEL ACK ERR RHE OPN MSG CLO, -1 unknown."""
    if a == 72 and b == 69 and c == 76:
        return 0
    if a == 65 and b == 67 and c == 75:
        return 1
    if a == 69 and b == 82 and c == 82:
        return 2
    if a == 82 and b == 72 and c == 69:
        return 3
    if a == 79 and b == 80 and c == 78:
        return 4
    if a == 77 and b == 83 and c == 71:
        return 5
    if a == 67 and b == 76 and c == 79:
        return 6
    return -1


@kernel
def opcua_length(buf, pos, end):
    avail = end - pos
    if avail < 8:
        # a prefix of a known message type: more bytes are needed, anything else cannot start one
        n = min(avail, 3)
        prefixes = (
            (72, 69, 76), (65, 67, 75), (69, 82, 82), (82, 72, 69), (79, 80, 78), (77, 83, 71),
            (67, 76, 79),
        )  # fmt: skip
        for t in prefixes:
            ok = True
            for j in range(n):
                if np.int64(buf[pos + j]) != t[j]:
                    ok = False
            if ok:
                return np.int64(0)
        return np.int64(-1)
    kind = _opcua_kind(np.int64(buf[pos]), np.int64(buf[pos + 1]), np.int64(buf[pos + 2]))
    chunk = np.int64(buf[pos + 3])
    size = (
        np.int64(buf[pos + 4]) | (np.int64(buf[pos + 5]) << 8) | (np.int64(buf[pos + 6]) << 16)
        | (np.int64(buf[pos + 7]) << 24)
    )  # fmt: skip
    if kind < 0 or (chunk != 70 and chunk != 67 and chunk != 65):
        return np.int64(-1)
    if kind <= 3 and chunk != 70:
        return np.int64(-1)
    if kind == 0:
        least = 32
    elif kind == 1:
        least = 28
    elif kind == 2 or kind == 3:
        least = 16
    else:
        least = 24
    if size < least or size > _OPCUA_MAX_CHUNK:
        return np.int64(-1)
    return size


@kernel
def pdu_length(framing, buf, pos, end):
    """Length of the PDU at ``buf[pos:end]`` under ``framing``: >0 its length, 0 more bytes are
    needed to tell, -1 the bytes there cannot start a PDU."""
    if framing == FRAMING_MBAP:
        return mbap_length(buf, pos, end)
    if framing == FRAMING_TPKT:
        return tpkt_length(buf, pos, end)
    if framing == FRAMING_OPCUA:
        return opcua_length(buf, pos, end)
    return np.int64(-1)
