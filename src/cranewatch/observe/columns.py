"""Builds Arrow columns straight from numpy buffers and Python strings.

Why not ``pyarrow.array``: every call of it probes for pandas and imports it when installed
(0.7 s here, more than ingesting a million packets). Building arrays from buffers is what
``pyarrow.array`` does underneath for these simple types, without the probe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    if valid is None or bool(np.all(valid)):
        return None
    return pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))


def _null_count(valid: np.ndarray | None) -> int:
    return 0 if valid is None else int(len(valid) - np.count_nonzero(valid))


def numbers(values: np.ndarray, type_: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """Fixed-width numeric or timestamp column; ``valid`` marks non-null rows."""
    if pa.types.is_timestamp(type_):
        dtype = np.dtype(np.int64)
    else:
        dtype = np.dtype(type_.to_pandas_dtype())
    data = np.ascontiguousarray(np.asarray(values).astype(dtype, copy=False))
    if valid is not None:
        data = np.where(valid, data, np.zeros(1, dtype))
    nulls = _null_count(valid)
    return pa.Array.from_buffers(
        type_, len(data), [_validity(valid) if nulls else None, pa.py_buffer(data)], nulls
    )


def booleans(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    bits = pa.py_buffer(np.packbits(np.asarray(values, dtype=bool), bitorder="little"))
    nulls = _null_count(valid)
    return pa.Array.from_buffers(
        pa.bool_(), len(values), [_validity(valid) if nulls else None, bits], nulls
    )


def strings(values: Sequence[str | None]) -> pa.Array:
    """UTF-8 string column from Python strings (None = null)."""
    # ``None in values`` scans in C: most columns have no nulls, and a Python generator per
    # value for the validity cost as much as the encoding
    if None in values:
        encoded = [b"" if v is None else v.encode() for v in values]
        valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    else:
        encoded = [v.encode() for v in values]  # type: ignore[union-attr]
        valid = None
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("string column larger than 2 GiB")
    data = b"".join(encoded)
    nulls = _null_count(valid)
    return pa.Array.from_buffers(
        pa.string(),
        len(encoded),
        [
            _validity(valid) if nulls else None,
            pa.py_buffer(offsets.astype(np.int32)),
            pa.py_buffer(data),
        ],
        nulls,
    )


def lists(values: pa.Array, lengths: Sequence[int], valid: np.ndarray | None = None) -> pa.Array:
    """List column: row ``i`` holds the next ``lengths[i]`` items of ``values`` (null where
    ``valid`` is False)."""
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    mask = None if valid is None or valid.all() else booleans(~valid)
    return pa.ListArray.from_arrays(numbers(offsets, pa.int32()), values, mask=mask)


def string_lists(values: Sequence[Sequence[str] | None]) -> pa.Array:
    """list<string> column from Python lists (None = null)."""
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    flat = strings([item for v in values if v is not None for item in v])
    return lists(flat, [len(v) if v is not None else 0 for v in values], valid)


def int_lists(values: Sequence[Sequence[int]]) -> pa.Array:
    """list<int64> column from Python lists of integers (never null)."""
    flat = np.fromiter((item for v in values for item in v), np.int64)
    return lists(numbers(flat, pa.int64()), [len(v) for v in values])


def repeated_string(value: str, length: int) -> pa.Array:
    return strings([value] * length)


def empty_table(schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches([], schema=schema)
