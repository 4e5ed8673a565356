"""Hypothesis settings shared by the fuzz tests: a fixed number of derandomised examples in the
normal suite, many more (and random) when ``CRANEWATCH_FUZZ_EXAMPLES`` is set for a long run."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

LONG_RUN = int(os.environ.get("CRANEWATCH_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int) -> Any:
    return settings(
        max_examples=LONG_RUN or examples,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
