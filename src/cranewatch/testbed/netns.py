"""Build a scenario's network out of namespaces, bridges and veth pairs, and tear it down.

Each segment becomes a *switch* namespace holding a bridge ``br0``; each host becomes a
namespace whose interfaces are veth pairs with the other end plugged into the segment's bridge.
Names are ``cw<run id>-<host or segment>``, so concurrent runs never collide and a crashed
run's leftovers are recognisable. The root namespace gets nothing: every veth is created with
both ends already inside namespaces (``ip link add ... netns A type veth peer ... netns B``).

So that a capture holds only what the scenario makes, IPv6 is disabled in every namespace
before any interface exists (no router solicitations or MLD), and every veth is created with
``gso_max_segs 1`` and without TX checksum offload: frames on the bridge are wire-sized and
carry correct checksums, as a real switch port would see them. The two ends of every veth get
different interface indexes so the kernel brings them up at once (see ``FIRST_IFINDEX``).

Setup is a handful of processes (``ip -batch -`` per namespace, in parallel) plus sysctls and
offload settings done in-process (``_nsenter``). Teardown (``Topology.close``, also on leaving
the ``with`` block) stops every process in the namespaces (SIGTERM, 2 s, SIGKILL) and deletes
them; it is idempotent and runs on errors too. ``cleanup_leftovers`` does the same for runs
that died without tearing down (their owner process is gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from cranewatch.errors import TestbedError
from cranewatch.testbed import _system
from cranewatch.testbed._nsenter import in_netns, tx_checksum_off, write_sysctls
from cranewatch.testbed._system import pids_in, require_root, stop_pids
from cranewatch.testbed.scenario import Scenario

__all__ = ["BRIDGE", "Cleanup", "Topology", "cleanup_leftovers", "new_run_id", "require_root"]

PREFIX = "cw"
BRIDGE = "br0"
STATE_DIR = Path("/run/cranewatch-testbed")  # one <run id>.json per live run: owner pid
# veth ends get distinct interface indexes (10/11, 12/13, ...). When both ends of a pair have
# the same index in their namespaces, the kernel does not see the pair as linked devices and
# applies their carrier-up only in its once-a-second link-state batch: the first frames were
# dropped for up to a second (an ARP lost, a ping or TCP SYN retried a second later).
FIRST_IFINDEX = 10


def new_run_id() -> str:
    """Six hex digits naming one run's namespaces."""
    return secrets.token_hex(3)


class Topology:
    """The namespaces of one run of a scenario; ``with Topology(sc) as topo:`` builds them."""

    def __init__(self, scenario: Scenario, run_id: str | None = None) -> None:
        self.scenario = scenario
        self.run_id = run_id or new_run_id()
        self._names = {s.name: f"{PREFIX}{self.run_id}-{s.name}" for s in scenario.segments}
        self._names.update({h.name: f"{PREFIX}{self.run_id}-{h.name}" for h in scenario.hosts})
        self._ports = _port_names(scenario)
        self._built = False

    def namespace(self, name: str) -> str:
        """The namespace of a host, or the switch namespace of a segment."""
        return self._names[name]

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(self._names.values())

    def build(self) -> Topology:
        """Create everything; on any failure tear down what exists and raise ``TestbedError``."""
        self._built = True
        try:
            self._write_state()
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        sc = self.scenario
        _system.ip_batch([f"netns add {ns}" for ns in self.namespaces])
        v6off = "0" if sc.ipv6 else "1"
        for name, ns in self._names.items():
            sysctls = {
                "net.ipv6.conf.all.disable_ipv6": v6off,
                "net.ipv6.conf.default.disable_ipv6": v6off,
            }
            if any(h.name == name and h.forwarding for h in sc.hosts):
                sysctls["net.ipv4.ip_forward"] = "1"
            in_netns(ns, partial(write_sysctls, sysctls))
        veths = []
        index = FIRST_IFINDEX
        for host in sc.hosts:
            for n, (iface, ifname) in enumerate(
                zip(host.interfaces, host.interface_names(), strict=True)
            ):
                veths.append(
                    f"link add {ifname} netns {self.namespace(host.name)} index {index} "
                    f"address {iface.mac} gso_max_segs 1 type veth peer name "
                    f"{self._ports[host.name, n]} netns {self.namespace(iface.segment)} "
                    f"index {index + 1} gso_max_segs 1"
                )
                index += 2
        _system.ip_batch(veths)
        for host in sc.hosts:
            ns = self.namespace(host.name)
            for ifname in host.interface_names():
                in_netns(ns, partial(tx_checksum_off, ifname))
        procs = [
            (_system.ip_batch_start(cmds, ns), cmds) for ns, cmds in self._link_commands().items()
        ]
        for proc, cmds in procs:
            _system.ip_batch_wait(proc, cmds)
        self._load_nft()

    def _link_commands(self) -> dict[str, list[str]]:
        cmds: dict[str, list[str]] = {ns: ["link set lo up"] for ns in self.namespaces}
        for seg in self.scenario.segments:
            ns = self.namespace(seg.name)
            cmds[ns] += [
                f"link add {BRIDGE} type bridge stp_state 0 mcast_snooping 0",
                f"link set {BRIDGE} up",
            ]
        for host in self.scenario.hosts:
            ns = self.namespace(host.name)
            for n, (iface, ifname) in enumerate(
                zip(host.interfaces, host.interface_names(), strict=True)
            ):
                port, sw = self._ports[host.name, n], self.namespace(iface.segment)
                cmds[sw] += [f"link set {port} master {BRIDGE}", f"link set {port} up"]
                if iface.address:
                    cmds[ns].append(f"addr add {iface.address} dev {ifname}")
                cmds[ns].append(f"link set {ifname} up")
            cmds[ns] += [f"route add {r.destination} via {r.via}" for r in host.routes]
        return cmds

    def _load_nft(self) -> None:
        hosts = [h for h in self.scenario.hosts if h.nft]
        procs = [
            (h, _system.run_in_netns(self.namespace(h.name), ["nft", "-f", "-"], h.nft or ""))
            for h in hosts
        ]
        failures = []
        for host, proc in procs:
            assert proc.stdout is not None
            out = proc.stdout.read().decode(errors="replace").strip()
            proc.stdout.close()
            if proc.wait() != 0:
                failures.append(f"host {host.name}: {out}")
        if failures:
            raise TestbedError(
                "an nft ruleset of the scenario does not load; fix the rules "
                "(interface names are eth0, eth1, ... unless set): " + "; ".join(failures)
            )

    def pids(self) -> list[int]:
        """Processes running inside this run's namespaces."""
        return pids_in(self.namespaces)

    def close(self) -> None:
        """Stop every process in the namespaces and delete them; safe to call again."""
        if not self._built:
            return
        _teardown(list(self.namespaces))
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / f"{self.run_id}.json").unlink()
        self._built = False

    def _write_state(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        state = {"pid": os.getpid(), "start": _system.start_time(os.getpid())}
        (STATE_DIR / f"{self.run_id}.json").write_text(json.dumps(state))

    def __enter__(self) -> Topology:
        return self.build()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _teardown(namespaces: list[str]) -> None:
    existing = set(_system.netns_names())
    present = [ns for ns in namespaces if ns in existing]
    stop_pids(pids_in(present))
    if present:
        _system.ip_batch([f"netns del {ns}" for ns in present], force=True)


def _port_names(sc: Scenario) -> dict[tuple[str, int], str]:
    """Bridge-port names (≤ 15 bytes, unique per run): ``<host, cut to 10>-<n>``."""
    names: dict[tuple[str, int], str] = {}
    used: set[str] = set()
    for h_index, host in enumerate(sc.hosts):
        for n in range(len(host.interfaces)):
            name = f"{host.name[:10].rstrip('-')}-{n}"
            if name in used:
                name = f"h{h_index}-{n}"
            used.add(name)
            names[host.name, n] = name
    return names


@dataclass(frozen=True)
class Cleanup:
    """What ``cleanup_leftovers`` did: namespaces removed and ones kept (their run is live)."""

    removed: tuple[str, ...]
    live: tuple[str, ...]


def cleanup_leftovers(prefix: str = PREFIX, *, include_live: bool = False) -> Cleanup:
    """Remove namespaces (and their processes) of testbed runs that died without teardown.

    A namespace is a testbed one when its name is ``<prefix><6 hex>-...``. Runs whose owner
    process is still alive are left alone unless ``include_live``.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}([0-9a-f]{{6}})-")
    removed: list[str] = []
    live: list[str] = []
    for ns in _system.netns_names():
        match = pattern.match(ns)
        if not match:
            continue
        (live if _run_is_live(match.group(1)) and not include_live else removed).append(ns)
    _teardown(removed)
    for run_id in {ns[len(prefix) : len(prefix) + 6] for ns in removed}:
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / f"{run_id}.json").unlink()
    return Cleanup(tuple(removed), tuple(live))


def _run_is_live(run_id: str) -> bool:
    try:
        state = json.loads((STATE_DIR / f"{run_id}.json").read_text())
        pid, start = int(state["pid"]), state.get("start")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return _system.start_time(pid) is not None and _system.start_time(pid) == start
