"""The random quantities of traffic and scenario files: call sizes, stop start times, durations.

A file writes a random quantity as a mapping with a ``type`` and its parameters, or as a bare
number (a fixed value)::

    call_size: {type: lognormal, mean: 1500, cv: 0.6}     # moves per vessel call
    duration_hours: {type: triangular, low: 24, mode: 48, high: 120}
    start_hours: 72                                        # the same as {type: fixed, value: 72}

Six families cover what users give: ``fixed``, ``uniform``, ``triangular``, ``exponential``,
``lognormal`` (by mean and coefficient of variation, the way call sizes are usually quoted)
and ``empirical`` (values with optional weights). numpy's ``Generator`` draws the values; the
mean and the cumulative distribution function serve the analytic quick estimate. The CDFs are
written here because numpy has samplers but no CDFs and scipy is not a dependency; each is the
textbook closed form (the lognormal one through ``statistics.NormalDist``).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_STANDARD_NORMAL = NormalDist()


class _Family(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    def expected(self) -> float:
        """The mean of the distribution."""
        raise NotImplementedError

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(X <= x) for each element of ``x``."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class Fixed(_Family):
    type: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value)

    def expected(self) -> float:
        return self.value

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=float) >= self.value).astype(float)

    def describe(self) -> str:
        return f"{self.value:g}"


class Uniform(_Family):
    type: Literal["uniform"] = "uniform"
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    def expected(self) -> float:
        return (self.low + self.high) / 2

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.high == self.low:
            return (x >= self.low).astype(float)
        return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    def describe(self) -> str:
        return f"uniform {self.low:g}-{self.high:g}"


class Triangular(_Family):
    type: Literal["triangular"] = "triangular"
    low: float = Field(ge=0)
    mode: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError("expected low <= mode <= high with low < high")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.triangular(self.low, self.mode, self.high, size)

    def expected(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=float), self.low, self.high)
        a, c, b = self.low, self.mode, self.high
        with np.errstate(divide="ignore", invalid="ignore"):
            rising = (x - a) ** 2 / ((b - a) * (c - a)) if c > a else np.ones_like(x)
            falling = 1 - (b - x) ** 2 / ((b - a) * (b - c)) if b > c else np.ones_like(x)
        return np.where(x <= c, np.where(x <= a, 0.0, rising), falling)

    def describe(self) -> str:
        return f"triangular {self.low:g}/{self.mode:g}/{self.high:g}"


class Exponential(_Family):
    type: Literal["exponential"] = "exponential"
    mean: float = Field(gt=0)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean, size)

    def expected(self) -> float:
        return self.mean

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        return 1 - np.exp(-x / self.mean)

    def describe(self) -> str:
        return f"exponential, mean {self.mean:g}"


class LogNormal(_Family):
    """Given by its mean and coefficient of variation (standard deviation / mean)."""

    type: Literal["lognormal"] = "lognormal"
    mean: float = Field(gt=0)
    cv: float = Field(gt=0, le=10)

    @property
    def _sigma(self) -> float:
        return math.sqrt(math.log(1 + self.cv**2))

    @property
    def _mu(self) -> float:
        return math.log(self.mean) - self._sigma**2 / 2

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self._mu, self._sigma, size)

    def expected(self) -> float:
        return self.mean

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = np.zeros_like(x)
        positive = x > 0
        z = (np.log(x[positive]) - self._mu) / self._sigma
        out[positive] = [_STANDARD_NORMAL.cdf(float(v)) for v in z]
        return out

    def describe(self) -> str:
        return f"lognormal, mean {self.mean:g}, cv {self.cv:g}"


class Empirical(_Family):
    """One of ``values``, each with its weight (equal weights when none are given)."""

    type: Literal["empirical"] = "empirical"
    values: list[Annotated[float, Field(ge=0)]] = Field(min_length=1, max_length=10_000)
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("give one weight per value")
            if sum(self.weights) <= 0:
                raise ValueError("the weights must not all be 0")
        return self

    def _p(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights)
        return np.asarray(w / w.sum(), dtype=float)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=float), size=size, p=self._p())

    def expected(self) -> float:
        return float(np.dot(self._p(), self.values))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        values = np.asarray(self.values, dtype=float)
        p = self._p()
        out = np.array([float(p[values <= v].sum()) for v in x.ravel()], dtype=float)
        return np.asarray(out.reshape(x.shape), dtype=float)

    def describe(self) -> str:
        return f"empirical over {len(self.values)} values, mean {self.expected():g}"


def _bare_number(value: Any) -> Any:
    """``72`` is short for ``{type: fixed, value: 72}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"type": "fixed", "value": value}
    return value


Distribution = Annotated[
    Annotated[
        Fixed | Uniform | Triangular | Exponential | LogNormal | Empirical,
        Field(discriminator="type"),
    ],
    BeforeValidator(_bare_number),
]
