"""The compiled tier of the Modbus/TCP analyzer: a numba function that classifies MBAP units.

Why: on a crane network almost every Modbus PDU is the same read or write poll, millions of
them per capture, and the Python ``parse`` costs about 5 µs each. ``classify_pdu`` reads the
function code, unit, address range and read/write/control/diagnostic flags of a whole MBAP
application data unit straight from the bytes the dispatcher's stream kernel framed (which
calls it) and writes one ``out`` row (the contract is in ``protocols/_pdu_kernel.py``;
``classify`` does the same over arrays of PDUs). It agrees with
``ModbusAnalyzer.parse`` on every PDU it does not hand over; a test compares both tiers PDU by
PDU on the shared captures, and a fuzz test runs it with numba's bounds checking switched on.

What it compiles (everything else gets ``O_PYTHON = 1`` and goes to ``parse``):

- requests of functions 1-8, 11, 12, 15-17, 22, 23 and 24, of the size the specification fixes
  (a byte count that agrees with the data for 15 and 16, at least 9 body bytes for 23);
- normal responses of functions 1-7, 11, 12, 15-17 and 20-24 whose byte counts agree (the
  same checks ``_wire.decode_response`` makes), with the flags of the function code;
- exception responses (``fc | 0x80`` and one exception code) of those functions except 8, with
  the function's flags, ``F_EXCEPTION`` and the code in ``O_EXCEPTION``; like every compiled
  response their target is the unit only (a crane's drives answer polls of absent registers
  with exceptions all day, far too many for the Python tier).

Handed to Python: other exception units (a longer body, the bit in a request), function 43
(device identification: identity facts), function 90 (UMAS: flags depend on the UMAS function),
requests of functions 20 and 21 (the target lists the file records), responses of function 8
(their control flag comes from the matched request's sub-function), function code 0,
user-defined and reserved codes, and any unit whose MBAP header is not exactly what the Python
parse accepts without an error (protocol id 0, length field 2..254 and equal to ``lens[i] - 6``).

The kernel keeps no per-flow state (``cstate`` and ``flows`` are unused). A response's
``O_UNIT`` is the plain unit id and ``O_LO``/``O_HI`` are -1: the Python parse gives a response
the target of its matched request, which only the dispatcher can join; unmatched, it is
``unit <n>``, what ``describe_target`` gives for such a row.

``O_UNIT`` of a request is a target key, decoded by ``ModbusAnalyzer.compiled.describe_target``:

- bits 0-7: the unit id;
- bits 8-15: the register table kind, ``T_*`` below (0: the target names only the unit);
- function 23 only (``T_READ_WRITE``): bits 16-35 the first and bits 36-55 the last address of
  the *write* range. ``O_LO``/``O_HI`` of function 23 hold the *read* range, the range its
  target (``unit 6 holding_registers read 1-4 write 2-4``) names first and the order of the
  PDU's fields; the write range rides in the key so that the text stays exact.

``O_LO``/``O_HI`` are 0-based protocol addresses as on the wire. ``O_HI`` equals ``O_LO`` for a
quantity of 0 or 1 (the Python target then shows one address), else ``O_LO + quantity - 1``
(up to 131069: like the Python target, the kernel does not wrap at 65535).
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.protocols._pdu_kernel import (
    D_REQUEST,
    D_RESPONSE,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_EXCEPTION,
    F_READ,
    F_WRITE,
    O_CODE,
    O_DIRECTION,
    O_EXCEPTION,
    O_FLAGS,
    O_HI,
    O_LO,
    O_PYTHON,
    O_UNIT,
    PDU_SIGNATURE,
    hand_to_python,
)

# ---- register table kinds, bits 8-15 of a request's O_UNIT ------------------------------------
T_NONE = 0  # "unit <n>"
T_COILS = 1  # functions 1, 15
T_DISCRETE_INPUTS = 2  # function 2
T_HOLDING_REGISTERS = 3  # functions 3, 16
T_INPUT_REGISTERS = 4  # function 4
T_COIL = 5  # function 5
T_HOLDING_REGISTER = 6  # functions 6, 22
T_FIFO = 7  # function 24: "unit <n> fifo <pointer address>"
T_READ_WRITE = 8  # function 23: holding registers, read range in O_LO/O_HI, write range in the key

UNIT_BITS = 8
TABLE_BITS = 8
ADDRESS_BITS = 20  # one end of the write range of function 23 (at most 65535 + 65535 - 1)
TABLE_SHIFT = UNIT_BITS
WRITE_LO_SHIFT = UNIT_BITS + TABLE_BITS
WRITE_HI_SHIFT = WRITE_LO_SHIFT + ADDRESS_BITS

_MBAP_HEADER = 7
_MBAP_MAX = 254


@kernel(inline="always")
def _u16(buf, pos):
    return (np.int64(buf[pos]) << 8) | np.int64(buf[pos + 1])


@kernel(inline="always")
def _last(address, quantity):
    """Last address of a range; a quantity of 0 or 1 is the one address (as the target shows)."""
    if quantity <= 1:
        return address
    return address + quantity - 1


@kernel(inline="always")
def _function_flags(fc):
    """F_* of a public function code as ``_wire.FUNCTIONS`` classifies it, -1 when the code is
    not one the kernel compiles (43, 90, user-defined and reserved codes)."""
    if 1 <= fc <= 4 or fc == 20 or fc == 24:
        return np.int64(F_READ)
    if fc == 5 or fc == 6 or fc == 15 or fc == 16 or fc == 21 or fc == 22:
        return np.int64(F_WRITE)
    if fc == 7 or fc == 8 or fc == 11 or fc == 12 or fc == 17:
        return np.int64(F_DIAGNOSTIC)
    if fc == 23:
        return np.int64(F_READ | F_WRITE)
    return np.int64(-1)


@kernel(inline="always")
def _request(arena, body, blen, fc, unit, out, i):
    """Fill row ``i`` for a request; False hands it to Python. ``arena[body:body+blen]`` is the
    PDU after the function code, already known to lie within the PDU."""
    flags = _function_flags(fc)
    if flags < 0:
        return False
    table = T_NONE
    lo = np.int64(-1)
    hi = np.int64(-1)
    key = unit
    if fc <= 6:  # 1-4 read a range, 5 and 6 write one coil / register
        if blen != 4:
            return False
        lo = _u16(arena, body)
        hi = _last(lo, _u16(arena, body + 2)) if fc <= 4 else lo
        if fc == 1:
            table = T_COILS
        elif fc == 2:
            table = T_DISCRETE_INPUTS
        elif fc == 3:
            table = T_HOLDING_REGISTERS
        elif fc == 4:
            table = T_INPUT_REGISTERS
        elif fc == 5:
            table = T_COIL
        else:
            table = T_HOLDING_REGISTER
    elif fc == 7 or fc == 11 or fc == 12 or fc == 17:
        if blen != 0:
            return False
    elif fc == 8:
        if blen != 4:
            return False
        sub = _u16(arena, body)
        if sub == 1 or sub == 4:  # restart communications / force listen only mode
            flags |= F_CONTROL
    elif fc == 15 or fc == 16:
        if blen < 5 or blen != 5 + np.int64(arena[body + 4]):
            return False
        lo = _u16(arena, body)
        hi = _last(lo, _u16(arena, body + 2))
        table = T_COILS if fc == 15 else T_HOLDING_REGISTERS
    elif fc == 22:
        if blen != 6:
            return False
        lo = _u16(arena, body)
        hi = lo
        table = T_HOLDING_REGISTER
    elif fc == 23:
        if blen < 9:  # the Python parse does not check the byte count of function 23 either
            return False
        lo = _u16(arena, body)
        hi = _last(lo, _u16(arena, body + 2))
        write_lo = _u16(arena, body + 4)
        write_hi = _last(write_lo, _u16(arena, body + 6))
        table = T_READ_WRITE
        key |= (write_lo << WRITE_LO_SHIFT) | (write_hi << WRITE_HI_SHIFT)
    elif fc == 24:
        if blen != 2:
            return False
        lo = _u16(arena, body)
        hi = lo
        table = T_FIFO
    else:  # 20, 21: the target lists file records
        return False
    out[i, O_UNIT] = key | (np.int64(table) << TABLE_SHIFT)
    out[i, O_LO] = lo
    out[i, O_HI] = hi
    out[i, O_FLAGS] = flags
    return True


@kernel(inline="always")
def _response(arena, body, blen, fc, unit, out, i):
    """Fill row ``i`` for a normal response; False hands it to Python."""
    flags = _function_flags(fc)
    if flags < 0 or fc == 8:  # 8: control or not follows the matched request's sub-function
        return False
    if fc <= 4 or fc == 23:  # byte count, then the data
        whole = blen >= 1 and blen == 1 + np.int64(arena[body])
    elif fc == 5 or fc == 6 or fc == 15 or fc == 16:  # the request's address and value/quantity
        whole = blen == 4
    elif fc == 22:  # address, AND mask, OR mask
        whole = blen == 6
    elif fc == 24:  # byte count of what follows it, FIFO count, registers
        whole = blen >= 4 and _u16(arena, body) == blen - 2
    else:  # 7, 11, 12, 17, 20, 21: any body decodes without an error
        whole = True
    if not whole:
        return False
    out[i, O_UNIT] = unit
    out[i, O_FLAGS] = flags
    return True


@kernel(PDU_SIGNATURE)
def classify_pdu(arena, pos, n, client, cstate, flow, out, i):
    """Classify PDU ``i`` = ``arena[pos : pos + n]`` into ``out[i, O_*]``.

    Every row is written in full: ``O_PYTHON`` 0 or 1, ``O_CODE`` the function code without the
    exception bit (0 when the MBAP header is not one the Python parse accepts),
    ``O_DIRECTION`` from ``client``,
    ``O_EXCEPTION`` -1; ``O_UNIT``/``O_LO``/``O_HI``/``O_FLAGS`` only mean something when
    ``O_PYTHON`` is 0 (see the module docstring for the target key)."""
    hand_to_python(out, i)
    out[i, O_CODE] = 0
    out[i, O_DIRECTION] = D_REQUEST if client else D_RESPONSE
    if n < _MBAP_HEADER + 1:
        return
    if arena[pos + 2] != 0 or arena[pos + 3] != 0:
        return
    length = _u16(arena, pos + 4)
    if length < 2 or length > _MBAP_MAX or length + 6 != n:
        return
    unit = np.int64(arena[pos + 6])
    raw = np.int64(arena[pos + 7])
    fc = raw & 0x7F
    out[i, O_CODE] = fc
    body = pos + _MBAP_HEADER + 1
    blen = n - _MBAP_HEADER - 1
    if raw & 0x80 and not client and blen == 1 and fc != 8:
        # an exception response of one code byte: flags of its function (8: of the request)
        flags = _function_flags(fc)
        if flags >= 0:
            out[i, O_UNIT] = unit
            out[i, O_FLAGS] = flags | F_EXCEPTION
            out[i, O_EXCEPTION] = np.int64(arena[body])
            out[i, O_PYTHON] = 0
        return
    if raw & 0x80 or fc == 0:  # other exceptions (or the bit in a request), invalid 0
        return
    if client:
        done = _request(arena, body, blen, fc, unit, out, i)
    else:
        done = _response(arena, body, blen, fc, unit, out, i)
    if done:
        out[i, O_PYTHON] = 0
    else:
        out[i, O_UNIT] = -1
        out[i, O_LO] = -1
        out[i, O_HI] = -1
        out[i, O_FLAGS] = 0


@kernel
def classify(arena, offs, lens, client, cstate, flows, out):
    """``classify_pdu`` over PDUs ``arena[offs[i] : offs[i] + lens[i]]`` into ``out[i]``."""
    for i in range(offs.shape[0]):
        classify_pdu(
            arena, np.int64(offs[i]), np.int64(lens[i]), np.int64(1 if client[i] else 0), cstate,
            np.int64(flows[i]), out, np.int64(i),
        )  # fmt: skip
