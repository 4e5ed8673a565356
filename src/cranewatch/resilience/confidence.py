"""Confidence intervals over replications: the mean and its 95% interval from Student's t.

With n replications of a quantity, the interval is ``mean ± t(0.975, n-1) × s / sqrt(n)``.
scipy is not a dependency, so the t quantiles come from a small table (two-sided 95%, degrees
of freedom 1-30, 40, 60, 120; the textbook values to three decimals), interpolated linearly in
1/df between rows, and from the normal quantile (``statistics.NormalDist``, 1.960) beyond 120
degrees of freedom, where t and the normal differ by less than 0.01.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
T_TABLE_95: dict[int, float] = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000,
    120: 1.980,
}  # fmt: skip
METHOD = (
    "95% confidence interval over replications, Student's t (table for up to 120 degrees of "
    "freedom, normal quantile beyond)"
)


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError("at least one degree of freedom is needed")
    if df in T_TABLE_95:
        return T_TABLE_95[df]
    if df > 120:
        return NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    rows = sorted(T_TABLE_95)
    upper = next(r for r in rows if r > df)
    lower = max(r for r in rows if r < df)
    weight = (1 / lower - 1 / df) / (1 / lower - 1 / upper)
    return T_TABLE_95[lower] + weight * (T_TABLE_95[upper] - T_TABLE_95[lower])


def interval(values: Sequence[float] | np.ndarray) -> tuple[float, float | None, float | None, int]:
    """(mean, low, high, n) of the finite ``values``; no interval with fewer than two."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    n = int(data.size)
    if n == 0:
        return math.nan, None, None, 0
    mean = float(data.mean())
    if n < 2:
        return mean, None, None, n
    half = t_quantile(n - 1) * float(data.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def band_from_sums(
    count: int, total: np.ndarray, squares: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, low and high of each point from the count, sum and sum of squares of its values."""
    mean = total / count
    if count < 2:
        return mean, mean.copy(), mean.copy()
    variance = np.maximum(squares - total**2 / count, 0.0) / (count - 1)
    half = t_quantile(count - 1) * np.sqrt(variance) / math.sqrt(count)
    return mean, mean - half, mean + half
