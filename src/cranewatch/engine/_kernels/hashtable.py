"""Open-addressing hash tables over plain int64 arrays, shared by flows, assets and fragments.

Linear probing over one array of key words and one of statistics (column 0 is the "used" flag),
because numba has no dictionary fast enough for tens of millions of lookups per second, and
plain arrays can be grown, rehashed and handed to numpy without any conversion. The hash
multiplies each key word by its own odd constant (independent multiplies the CPU overlaps) and
mixes the high bits down once; the Python side keeps every table below 70% load.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel

_K = (
    -7046029254386353131,  # 0x9E3779B97F4A7C15
    -4658895280553007687,  # 0xBF58476D1CE4E5B9
    -7723592293110705685,  # 0x94D049BB133111EB
    -3335678366873096957,  # 0xD1B54A32D192ED03
    -6015111891676532733,  # 0xAC8A3DFBA2BB5603 (any odd constants with mixed bits)
    -8663945395140668459,  # 0x87C37B91114253D5
)
_FINAL = -49064778989728563  # 0xFF51AFD7ED558CCD (murmur3 fmix64)


@kernel(inline="always")
def avalanche(h):
    h = h ^ ((h >> 33) & 0x7FFFFFFF)
    h = h * _FINAL
    return h ^ ((h >> 29) & 0x7FFFFFFFF)


@kernel(inline="always")
def hash_row(keys, row, nkey):
    h = np.int64(0)
    for j in range(nkey):
        h ^= keys[row, j] * _K[j]
    return avalanche(h)


@kernel(inline="always")
def hash_words(w, nkey):
    # independent multiplies so the CPU overlaps them; the avalanche mixes high bits down
    h = np.int64(0)
    for j in range(nkey):
        h ^= w[j] * _K[j]
    return avalanche(h)


@kernel(inline="always")
def find_slot(keys, stats, w, nkey):
    """Slot holding key ``w`` or the empty slot where it would go; second value: found."""
    mask = keys.shape[0] - 1
    i = hash_words(w, nkey) & mask
    while True:
        if stats[i, 0] == 0:
            return i, False
        same = True
        for j in range(nkey):
            if keys[i, j] != w[j]:
                same = False
                break
        if same:
            return i, True
        i = (i + 1) & mask


def rehash(keys: np.ndarray, stats: np.ndarray, new_capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Copy the used rows of a table into a fresh table of ``new_capacity`` (a power of two).

    numpy allocates the new table and a ``kernel`` fills it: a compiled function that allocates
    would need numba's runtime, which costs 25 ms and ~20 MiB to set up in every process that
    first grows a table."""
    nk = np.zeros((new_capacity, keys.shape[1]), dtype=np.int64)
    ns = np.zeros((new_capacity, stats.shape[1]), dtype=np.int64)
    _rehash_into(keys, stats, nk, ns)
    return nk, ns


@kernel
def _rehash_into(keys, stats, nk, ns):
    nkey = keys.shape[1]
    mask = nk.shape[0] - 1
    for r in range(keys.shape[0]):
        if stats[r, 0] == 0:
            continue
        i = hash_row(keys, r, nkey) & mask
        while ns[i, 0] != 0:
            i = (i + 1) & mask
        for j in range(nkey):
            nk[i, j] = keys[r, j]
        for j in range(stats.shape[1]):
            ns[i, j] = stats[r, j]
