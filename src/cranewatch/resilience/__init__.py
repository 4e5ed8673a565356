"""Resilience: what the port loses when every crane sharing a supplier, firmware, remote-access
path or undeclared modem stops at once, and which mitigation buys the most back.

The modules, in the order a study uses them:

    distributions   the random quantities of the input files (call sizes, start, duration)
    traffic         the traffic file (vessel calls per terminal) and a schedule CSV
    capacity        moves per hour a terminal handles with the cranes it has working
    selection       which cranes a scenario stops: selectors over the port and the findings
    scenario        the scenario file: selection, failure mode, recovery, mitigations -> Plan
    outages         when each crane is out in one replication, for each variant
    simulation      SimPy model of one terminal: arrivals, berths, crane allocation, handling
    metrics         what one replication measures per terminal and variant
    replications    Monte Carlo with common random numbers, on several processes
    confidence      Student-t confidence intervals
    analytic        the quick estimate: expected capacity, Erlang C, fluid backlog
    aggregate       replications -> result: estimates, totals, mitigations ranked
    quick           the quick estimate -> result (``--quick``)
    plots           capacity and queue plots (PNG, SVG)
    results         the versioned JSON result, ``load_results`` for the report
    runner          one study end to end (``cranewatch simulate``)

docs/resilience.md describes the model, the file formats and the outputs. The package exports
what the report needs (``load_results`` and the result types); a study runs with
``cranewatch.resilience.runner.run_study``, which imports SimPy and matplotlib.
"""

from __future__ import annotations

from cranewatch.resilience.errors import ResilienceError
from cranewatch.resilience.results import (
    RESILIENCE_SCHEMA_VERSION,
    Estimate,
    MitigationResult,
    ResilienceResult,
    TerminalResult,
    load_results,
)

__all__ = [
    "RESILIENCE_SCHEMA_VERSION",
    "Estimate",
    "MitigationResult",
    "ResilienceError",
    "ResilienceResult",
    "TerminalResult",
    "load_results",
]
