"""pcapng section headers, interface descriptions and blocks too large for the kernel.

The ``walk`` kernel handles packet blocks; it hands back to Python the blocks that change how
the following ones are read (a Section Header Block sets the byte order and starts a new list of
interfaces; an Interface Description Block adds a link type, snap length and timestamp
resolution) and blocks larger than it takes. This module keeps that per-file state and parses
those blocks from the engine's work buffer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from cranewatch.engine._kernels import layout as L
from cranewatch.engine._kernels.walk import MAX_BLOCK_IN_KERNEL


class Interfaces:
    """pcapng interfaces of the current section, as the arrays the kernel reads."""

    def __init__(self) -> None:
        self.linktype: list[int] = []
        self.mode: list[int] = []
        self.param: list[int] = []
        self.offset: list[int] = []
        self.snaplen: list[int] = []
        self.arrays = self._arrays()

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(
            np.array(v, dtype=np.int64)
            for v in (self.linktype, self.mode, self.param, self.offset, self.snaplen)
        )

    def add(self, linktype: int, snaplen: int, tsresol: int, tsoffset: int) -> None:
        if tsresol & 0x80:
            mode, param = 2, min(tsresol & 0x7F, 62)
        elif tsresol <= 9:
            mode, param = 0, 10 ** (9 - tsresol)
        else:
            mode, param = 1, 10 ** (min(tsresol, 18) - 9)
        self.linktype.append(linktype)
        self.mode.append(mode)
        self.param.append(param)
        self.offset.append(max(-(2**62), min(tsoffset * 1_000_000_000, 2**62)))  # int64-safe
        self.snaplen.append(snaplen)
        self.arrays = self._arrays()


class PcapngBlocks:
    """Per-file pcapng state: byte order, sections, interfaces and a big block being skipped.

    ``stop(reason)`` ends decoding of the file (a corrupt block); ``counters`` is the kernel's
    counter array (frames and skips are counted there); ``link_types`` collects the link types.
    """

    def __init__(
        self, counters: np.ndarray, link_types: list[int], stop: Callable[[int], None]
    ) -> None:
        self.counters = counters
        self.link_types = link_types
        self.stop = stop
        self.work = np.empty(0, np.uint8)
        self.big = False
        self.sections = 0
        self.interfaces_total = 0
        self.ifaces = Interfaces()
        self.skip_bytes = 0  # bytes of a big block still to step over in later chunks
        self.skip_block_type = 0
        self.skip_block_length = 0

    def _u32(self, pos: int) -> int:
        return int.from_bytes(self.work[pos : pos + 4].tobytes(), "big" if self.big else "little")

    def handle(self, work: np.ndarray, pos: int, end: int) -> int | None:
        """Parse an SHB or IDB (or skip a block too large for the kernel); None = need data."""
        self.work = work
        if end - pos < 12:
            return None
        btype = self._u32(pos)
        if btype == 0x0A0D0D0A:
            if end - pos < 16:
                return None
            bom = self.work[pos + 8 : pos + 12].tobytes()
            if bom == b"\x1a\x2b\x3c\x4d":
                self.big = True
            elif bom == b"\x4d\x3c\x2b\x1a":
                self.big = False
            else:
                self.stop(L.SK_BAD_BLOCK)
                return end
            blen = self._u32(pos + 4)
            if blen < 28 or blen % 4:
                self.stop(L.SK_BAD_BLOCK)
                return end
            after = self._consume(pos, end, blen)
            if after is not None:  # counted once the whole header is in hand
                self.sections += 1
                self.ifaces = Interfaces()
            return after
        blen = self._u32(pos + 4)
        if blen < 12 or blen % 4:
            self.stop(L.SK_BAD_BLOCK)
            return end
        if btype == 1:
            if blen < 20 or blen > MAX_BLOCK_IN_KERNEL:
                self.stop(L.SK_BAD_BLOCK)
                return end
            if pos + blen > end:
                return None
            if self._u32(pos + blen - 4) != blen:
                self.stop(L.SK_BAD_BLOCK)
                return end
            self._parse_idb(pos, blen)
            return pos + blen
        return self._consume(pos, end, blen)

    def _consume(self, pos: int, end: int, blen: int) -> int | None:
        """Step over a block; None when more bytes are needed to hold it whole.

        A block larger than the kernel takes is stepped over here whether or not it fits the
        current chunk (the rest is skipped in the following chunks), so the result never
        depends on chunk boundaries. A packet block that large holds a packet over the 256 KiB
        limit: it counts as a frame (frame numbers stay tshark's) and as a skip; a custom block
        counts as a frame, as tshark numbers it.
        """
        if blen <= MAX_BLOCK_IN_KERNEL:
            return pos + blen if pos + blen <= end else None
        btype = self._u32(pos)
        if pos + blen <= end:
            if self._u32(pos + blen - 4) != blen:
                self.stop(L.SK_BAD_BLOCK)
                return end
            self._count_big_block(btype)
            return pos + blen
        # checked and counted once its trailing length is read: a block whose trailing length
        # differs is corrupt, one cut off by the end of file is no frame
        self.skip_bytes = pos + blen - end
        self.skip_block_type = btype
        self.skip_block_length = blen
        return end

    def skip_big_block(self, work: np.ndarray, start: int, end: int) -> int:
        """Step over more of a block larger than the kernel takes; check its trailing length."""
        self.work = work
        cut = min(self.skip_bytes - 4, end - start)
        if cut > 0:
            self.skip_bytes -= cut
            start += cut
        if self.skip_bytes == 4 and end - start >= 4:
            self.skip_bytes = 0
            if self._u32(start) != self.skip_block_length:
                self.stop(L.SK_BAD_BLOCK)
                return end
            self._count_big_block(self.skip_block_type)
            start += 4
        return start

    def _count_big_block(self, btype: int) -> None:
        if btype in (2, 3, 6):
            self.counters[L.C_FRAMES] += 1
            self.counters[L.C_SKIP0 + L.SK_PACKET_TOO_LARGE] += 1
        elif btype in (0x00000BAD, 0x40000BAD):
            self.counters[L.C_FRAMES] += 1

    def _parse_idb(self, pos: int, blen: int) -> None:
        order = ">" if self.big else "<"
        linktype, _reserved, snaplen = struct.unpack(
            order + "HHI", self.work[pos + 8 : pos + 16].tobytes()
        )
        tsresol, tsoffset = 6, 0
        opt = pos + 16
        stop = pos + blen - 4
        while opt + 4 <= stop:
            code, length = struct.unpack(order + "HH", self.work[opt : opt + 4].tobytes())
            value = self.work[opt + 4 : min(opt + 4 + length, stop)].tobytes()
            if len(value) < length:
                break  # an option running past its block: ignore it and the rest
            if code == 0:
                break
            if code == 9 and length >= 1:
                tsresol = value[0]
            elif code == 14 and length >= 8:
                tsoffset = struct.unpack(order + "q", value[:8])[0]
            opt += 4 + ((length + 3) & ~3)
        self.ifaces.add(linktype, snaplen, tsresol, tsoffset)
        self.interfaces_total += 1
        if linktype not in self.link_types:
            self.link_types.append(linktype)
