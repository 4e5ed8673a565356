"""Compiled (numba) kernels of the packet engine: numpy arrays and offsets in, arrays out.

Kernels do no I/O and touch no Python objects, Arrow or logging. The orchestration that feeds
them chunks of a capture and turns their arrays into Arrow lives one level up in ``engine/``.
"""
