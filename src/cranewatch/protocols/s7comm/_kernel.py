"""The compiled tier of the S7comm analyzer: a numba kernel for the plain, repeated PDUs.

A crane PLC is polled by its HMI and SCADA with the same Read Var and Write Var jobs many times a
second, so S7comm captures hold millions of near-identical PDUs. The Python ``parse`` of this
package costs several microseconds each; ``classify_pdu`` reads function code, direction, flags
and the single item's address straight from the bytes the dispatcher's stream kernel framed
instead (contract in ``protocols/_pdu_kernel.py``; ``classify`` does the same over arrays of
PDUs), and hands everything else to ``parse`` with ``O_PYTHON``.

Compiled, exactly as ``parse`` reports them (a test compares both PDU by PDU on every capture):

- a **Job** (ROSCTR 1) Read Var (0x04) or Write Var (0x05) with exactly one item of the S7ANY
  form (syntax id 0x10, specification length >= 10) and an element count > 0: ``O_DIRECTION``
  request and the item's address in ``O_UNIT``/``O_LO``/``O_HI`` (packing below);
- an **Ack-Data** (ROSCTR 3) without header error of a function ``parse`` names (0x00, 0x01,
  0x04, 0x05, 0x1A-0x1F, 0x28, 0x29, 0xF0) and, for Read/Write Var, with every item's return
  code 0xFF (success): ``O_DIRECTION`` response, no target (``parse`` takes a response's target
  from its job, which is per-flow state this kernel does not keep).

Handed to Python: COTP units other than DT (CR, CC, DR, ...; the CR's TSAP is the target of
Setup communication), DTs without end-of-TSDU and, per flow and direction, every PDU after one
until the next whole DT with EOT (the one ``parse`` joins the fragments with); DT payloads not
starting with 0x32; Userdata (SZL identity reads), Ack (ROSCTR 2, its function comes from the
job); Jobs other than one-item Read/Write Var (Setup communication, block transfer, PI services,
PLC stop: their targets need state or text); any answer that carries an error (header error
class/code or a failed item); short, inconsistent or otherwise malformed PDUs. ``O_EXCEPTION`` is
therefore always -1 and ``F_EXCEPTION`` never set on a compiled row.

Target packing of a request's item (``unpack_target`` reverses it; ``describe_target`` of the
analyzer turns it into the item text ``parse`` gives, e.g. ``DB10.DBX0.0 BYTE 20``):

- ``O_UNIT = db | area << 16 | transport_size << 24 | bit << 32``: bits 0-15 the DB number
  (as on the wire, also for areas without DBs), 16-23 the area (0x84 DB, 0x81 I, 0x82 Q, 0x83
  M, 0x1C/0x1D counters/timers, ...), 24-31 the transport size (2 BYTE, 4 WORD, 8 REAL, ...),
  32-34 the bit of the start address;
- ``O_LO`` the first byte (bit address >> 3) or, in the counter and timer areas 0x1C-0x1F
  (addressed by number), the first number;
- ``O_HI = O_LO + count * width - 1``: the last byte, with ``width`` the bytes of one element
  of the transport size (``ELEMENT_BYTES``: BYTE/CHAR 1, WORD/INT/DATE/S5TIME/COUNTER/TIMER 2,
  DWORD/DINT/REAL/TOD/TIME 4, DATE_AND_TIME 8); 1 for BIT and for sizes without a fixed width
  (a range of elements then), and in the counter/timer areas the last number.

Per-flow memory: ``cstate[flow, 0]`` (client to server) and ``cstate[flow, 1]`` (server to
client) are 1 while COTP fragments may be waiting in ``parse``'s state for that direction.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.protocols._pdu_kernel import (
    D_REQUEST,
    D_RESPONSE,
    F_CONTROL,
    F_DIAGNOSTIC,
    F_READ,
    F_WRITE,
    O_CODE,
    O_DIRECTION,
    O_FLAGS,
    O_HI,
    O_LO,
    O_PYTHON,
    O_UNIT,
    PDU_SIGNATURE,
    hand_to_python,
)

#: bytes of one element per transport size (index = ``s7comm.param.item.transp_size``, 0-32);
#: 1 where the size has no fixed width (BIT, unknown codes)
ELEMENT_BYTES = (
    1, 1, 1, 1, 2, 2, 4, 4, 4, 2, 4, 4, 2, 1, 1, 8, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1,
)  # fmt: skip
COUNTED_AREA_LO, COUNTED_AREA_HI = 0x1C, 0x1F  # counters and timers: addressed by number

_TPKT_VERSION = 3
_COTP_DT = 0xF
_EOT = 0x80
_PROTOCOL_ID = 0x32
_JOB, _ACK_DATA = 1, 3
_READ_VAR, _WRITE_VAR = 0x04, 0x05
_ITEM_VAR_SPEC, _SYNTAX_S7ANY = 0x12, 0x10
_ITEM_OK = 0xFF
_MAX_ITEMS = 64  # return codes ``parse`` looks at (``_wire.MAX_ITEMS``)


@kernel(inline="always")
def _b(buf, pos):
    return np.int64(buf[pos])


@kernel(inline="always")
def _u16(buf, pos):
    return (np.int64(buf[pos]) << 8) | np.int64(buf[pos + 1])


@kernel(inline="always")
def _function_flags(func):
    """(known, F_* flags) of a Job/Ack-Data function, as ``_JOB_FLAGS`` of the analyzer."""
    if func == 0x00 or func == 0x01:
        return True, np.int64(F_DIAGNOSTIC)
    if func == _READ_VAR:
        return True, np.int64(F_READ)
    if func == _WRITE_VAR:
        return True, np.int64(F_WRITE)
    if func == 0x1A or func == 0x1B or func == 0x1C:
        return True, np.int64(F_WRITE | F_CONTROL)
    if func == 0x1D or func == 0x1E or func == 0x1F:
        return True, np.int64(F_READ)
    if func == 0x28 or func == 0x29:
        return True, np.int64(F_CONTROL)
    if func == 0xF0:
        return True, np.int64(0)
    return False, np.int64(0)


@kernel(inline="always")
def _items_ok(buf, dat, dlen, count, with_values):
    """True when no return code ``parse`` reads from an Ack-Data's data part is a failure
    (the walk of ``_wire._return_codes``, bounded by the data part)."""
    pos = np.int64(0)
    for k in range(min(count, _MAX_ITEMS)):
        if pos >= dlen:
            break
        if _b(buf, dat + pos) != _ITEM_OK:
            return False
        if not with_values:
            pos += 1
            continue
        if pos + 4 > dlen:
            break
        size = _b(buf, dat + pos + 1)
        length = _u16(buf, dat + pos + 2)
        nbytes = (length + 7) // 8 if (size == 3 or size == 4 or size == 5) else length
        pos += 4 + nbytes
        if nbytes % 2 == 1 and k < count - 1:
            pos += 1
    return True


@kernel(inline="always")
def _s7(buf, p, m):
    """Decode the S7 PDU at ``buf[p:p+m]`` (a whole DT payload):
    (compiled, code, direction, unit, lo, hi, flags)."""
    no = (False, np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1), np.int64(-1),
          np.int64(0))  # fmt: skip
    if m < 10 or _b(buf, p) != _PROTOCOL_ID:
        return no
    rosctr = _b(buf, p + 1)
    if rosctr == _JOB:
        header = 10
    elif rosctr == _ACK_DATA:
        header = 12
    else:
        return no
    if m < header:
        return no
    plen = _u16(buf, p + 6)
    dlen = _u16(buf, p + 8)
    if plen < 1 or header + plen + dlen > m:
        return no
    par = p + header
    func = _b(buf, par)
    known, flags = _function_flags(func)
    if not known:
        return no
    if rosctr == _JOB:
        if func != _READ_VAR and func != _WRITE_VAR:
            return no
        # items: 12 <spec length = 10> 10 <size> <count:2> <db:2> <area> <address:3>; the
        # first item is the target, the number of further items rides in bits 40-47 of unit
        items = _b(buf, par + 1)
        if items < 1 or plen < 2 + 12 * items:
            return no
        for k in range(items):
            q = par + 2 + 12 * k
            if _b(buf, q) != _ITEM_VAR_SPEC or _b(buf, q + 1) != 10:
                return no
            if _b(buf, q + 2) != _SYNTAX_S7ANY or _u16(buf, q + 4) == 0:
                return no
        size = _b(buf, par + 5)
        count = _u16(buf, par + 6)
        db = _u16(buf, par + 8)
        area = _b(buf, par + 10)
        address = (_b(buf, par + 11) << 16) | _u16(buf, par + 12)
        if COUNTED_AREA_LO <= area <= COUNTED_AREA_HI:
            lo = address
            bit = np.int64(0)
            width = np.int64(1)
        else:
            lo = address >> 3
            bit = address & 7
            width = np.int64(ELEMENT_BYTES[size]) if size < len(ELEMENT_BYTES) else np.int64(1)
        more = min(items - 1, 255)
        unit = db | (area << 16) | (size << 24) | (bit << 32) | (more << 40)
        return True, func, np.int64(D_REQUEST), unit, lo, lo + count * width - 1, flags
    # Ack-Data: an error in the header, or a failed item, is an exception: Python reports it
    if _b(buf, p + 10) != 0 or _b(buf, p + 11) != 0:
        return no
    if _READ_VAR <= func <= _WRITE_VAR and plen >= 2:  # Read/Write Var: item return codes
        ok = _items_ok(buf, par + plen, dlen, _b(buf, par + 1), func == _READ_VAR)
        if not ok:
            return no
    return True, func, np.int64(D_RESPONSE), np.int64(-1), np.int64(-1), np.int64(-1), flags


@kernel(PDU_SIGNATURE)
def classify_pdu(arena, pos, n, client, cstate, flow, out, i):
    """Row ``i`` of ``out`` for the TPKT unit ``arena[pos : pos + n]`` (module docstring)."""
    o = pos
    f = flow
    d = 0 if client != 0 else 1
    hand_to_python(out, i)
    # a COTP DT: TPKT 03 00 <length>, LI, code 0xF? and the TPDU-NR byte with the EOT bit
    if n < 7 or _b(arena, o) != _TPKT_VERSION or _b(arena, o + 1) != 0:
        return
    if _b(arena, o + 5) >> 4 != _COTP_DT:
        return
    if _b(arena, o + 6) & _EOT == 0:
        cstate[f, d] = 1  # a fragment: parse() keeps it until the DT with EOT
        return
    li = _b(arena, o + 4)
    if _u16(arena, o + 2) != n or li < 2 or 5 + li > n:
        return  # parse() reports the error (also a PDU longer than the bytes stored)
    if cstate[f, d] != 0:
        cstate[f, d] = 0  # parse() joins the waiting fragments with this DT
        return
    ok, code, direction, unit, lo, hi, flags = _s7(arena, o + 5 + li, n - 5 - li)
    if not ok:
        return
    out[i, O_PYTHON] = 0
    out[i, O_CODE] = code
    out[i, O_DIRECTION] = direction
    out[i, O_UNIT] = unit
    out[i, O_LO] = lo
    out[i, O_HI] = hi
    out[i, O_FLAGS] = flags


@kernel
def classify(arena, offs, lens, client, cstate, flows, out):
    """``classify_pdu`` over PDUs ``arena[offs[i] : offs[i] + lens[i]]`` into ``out[i]``."""
    for i in range(offs.shape[0]):
        classify_pdu(
            arena, np.int64(offs[i]), np.int64(lens[i]), np.int64(1 if client[i] else 0), cstate,
            np.int64(flows[i]), out, np.int64(i),
        )  # fmt: skip


def unpack_target(unit: int, lo: int, hi: int) -> tuple[int, int, int, int, int] | None:
    """(area, db, address, transport size, count) of a packed request item, in the form of
    ``_wire._item_text``'s arguments (address: bit address, or the number of a counter or
    timer); None when the row has no target."""
    unit, lo, hi = int(unit), int(lo), int(hi)
    if unit < 0 or lo < 0 or hi < lo:
        return None
    db, area, size, bit = unit & 0xFFFF, (unit >> 16) & 0xFF, (unit >> 24) & 0xFF, (unit >> 32) & 7
    if COUNTED_AREA_LO <= area <= COUNTED_AREA_HI:
        return area, db, lo, size, hi - lo + 1
    width = ELEMENT_BYTES[size] if size < len(ELEMENT_BYTES) else 1
    return area, db, (lo << 3) | bit, size, (hi - lo + 1) // width


__all__ = ["ELEMENT_BYTES", "classify", "classify_pdu", "unpack_target"]
