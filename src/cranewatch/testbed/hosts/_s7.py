"""S7 client helpers for the engineering station: block names, block images, code-block download.

python-snap7's client downloads only data blocks: ``AsyncClient.download`` hard-codes block type
0x41 (DB), and its check of the PLC's Download Block request expects a DB address. A program
download, the thing investigators look for, is of OBs, FCs and FBs. ``download_block`` is the
library's own download exchange (Request Download 0x1A, the PLC's Download Block 0x1B requests
answered with fragments, Download Ended 0x1C), built with the library's ``S7Protocol`` PDU
builders, with the block type as a parameter; only the small check of the PLC's requests is
written here. It uses the client's connection and lock as ``AsyncClient.download`` does (snap7
3.3 names). ``mc7_block`` makes a block image with the 36-byte MC7 header real blocks carry,
so the bytes on the wire look like a block, not filler.
"""

from __future__ import annotations

import re
import struct

from snap7.async_client import AsyncClient
from snap7.error import S7ProtocolError

BLOCK_CODES = {
    "OB": 0x38,
    "DB": 0x41,
    "SDB": 0x42,
    "FC": 0x43,
    "SFC": 0x44,
    "FB": 0x45,
    "SFB": 0x46,
}
_MC7_TYPES = {0x38: 0x08, 0x41: 0x0A, 0x42: 0x0B, 0x43: 0x0C, 0x44: 0x0D, 0x45: 0x0E, 0x46: 0x0F}
_DOWNLOAD_BLOCK, _DOWNLOAD_ENDED = 0x1B, 0x1C


def parse_block(name: str) -> tuple[int, int]:
    """``"OB1"`` → (0x38, 1); raises ValueError for anything else."""
    match = re.fullmatch(r"(OB|DB|SDB|FC|SFC|FB|SFB)(\d{1,5})", name.strip().upper())
    if not match:
        raise ValueError(f"{name!r} is not a block name like OB1, FC10 or DB12")
    return BLOCK_CODES[match.group(1)], int(match.group(2))


def mc7_block(type_code: int, number: int, body: bytes) -> bytes:
    """A block image: MC7 header (signature 0x7070, language, type, number, length) + body."""
    language = 0x05 if type_code == 0x41 else 0x01  # DB, else STL
    header = bytearray(36)
    header[0:2] = b"\x70\x70"
    header[2] = 0x01  # block version
    header[3] = 0x01  # attributes: linked
    header[4] = language
    header[5] = _MC7_TYPES.get(type_code, 0x08)
    struct.pack_into(">HI", header, 6, number, 36 + len(body))
    struct.pack_into(">H", header, 34, len(body))  # MC7 code length
    return bytes(header) + body


def filler_code(size: int, seed: int) -> bytes:
    """``size`` bytes of plausible MC7 code: STL opcodes cycled, the same for a given seed."""
    ops = bytes.fromhex("fb7c70080a0270070f0000fb79c00310fe6f00")
    start = seed % len(ops)
    rotated = ops[start:] + ops[:start]
    return (rotated * (size // len(rotated) + 1))[:size]


def _check_service_request(pdu: bytes, function: int, type_code: int, number: int) -> int:
    """The sequence number of the PLC's Download Block / Download Ended request for our block."""
    if len(pdu) != 28 or pdu[0:2] != b"\x32\x01":
        raise S7ProtocolError("invalid PLC download request header")
    sequence, param_len, data_len = struct.unpack(">HHH", pdu[4:10])
    address = b"_0" + bytes((type_code,)) + f"{number:05d}".encode("ascii") + b"P"
    if param_len != 18 or data_len != 0 or pdu[10] != function or pdu[19:] != address:
        raise S7ProtocolError("unexpected PLC download request")
    return int(sequence)


async def download_block(client: AsyncClient, type_code: int, number: int, data: bytes) -> None:
    """Download one block of any type with the library's PDU builders (see the docstring)."""
    if type_code == BLOCK_CODES["DB"]:
        await client.download(bytearray(data), number)
        return
    protocol = client.protocol
    conn = client._get_connection()
    request = protocol.build_download_request(type_code, number, data)
    async with client._lock:
        await client._send_data(conn, request)
        response = protocol.parse_response(await conn.receive_data())
        if response.get("raw_parameters") != bytes((0x1A,)):
            raise S7ProtocolError("invalid request-download acknowledgement")
        max_slice, offset = client.pdu_length - 18, 0
        for _ in range(1000):
            pdu = await conn.receive_data()
            sequence = _check_service_request(pdu, _DOWNLOAD_BLOCK, type_code, number)
            fragment = data[offset : offset + max_slice]
            offset += len(fragment)
            last = offset >= len(data)
            await client._send_data(
                conn, protocol.build_download_fragment_response(sequence, last, fragment)
            )
            if last:
                break
        pdu = await conn.receive_data()
        sequence = _check_service_request(pdu, _DOWNLOAD_ENDED, type_code, number)
        await client._send_data(conn, protocol.build_download_ended_response(sequence))
