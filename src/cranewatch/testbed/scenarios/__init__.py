"""The testbed's scenario catalogue: a working crane, and each way a hidden path shows itself.

Every scenario is built on one crane of a port model (``_site``: by default STS03 of the
bundled example port), so its hosts carry the MACs and addresses the port declares and its
captures link to the declared baseline. ``SCENARIOS`` maps each name to its builder;
``build(name, site)`` makes the ``Scenario``; ``cranewatch testbed list`` prints the titles and
summaries, and docs/testbed.md describes each one.
"""

from __future__ import annotations

from collections.abc import Callable

from cranewatch.errors import UsageError
from cranewatch.testbed.scenario import Scenario
from cranewatch.testbed.scenarios import crane, modem
from cranewatch.testbed.scenarios._site import DEFAULT_CRANE, EXAMPLE_PORT, CraneSite, load_site

Builder = Callable[..., Scenario]

SCENARIOS: dict[str, Builder] = {
    "clean": crane.clean,
    "declared-remote-access": crane.declared_remote_access,
    "modem-idle": modem.modem_idle,
    "modem-collection": modem.modem_collection,
    "modem-sabotage": modem.modem_sabotage,
    "program-download": crane.program_download,
    "rogue-dhcp": crane.rogue_dhcp,
    "dual-homed": crane.dual_homed,
    "tunnel-443": crane.tunnel_443,
}

__all__ = ["DEFAULT_CRANE", "EXAMPLE_PORT", "SCENARIOS", "CraneSite", "build", "load_site"]


def build(name: str, site: CraneSite, duration_s: float | None = None) -> Scenario:
    """The scenario ``name`` on ``site``, run for ``duration_s`` (default: its own length)."""
    if name not in SCENARIOS:
        raise UsageError(
            f"no scenario {name!r}; `cranewatch testbed list` names them: " + ", ".join(SCENARIOS)
        )
    builder = SCENARIOS[name]
    return builder(site) if duration_s is None else builder(site, duration_s)
