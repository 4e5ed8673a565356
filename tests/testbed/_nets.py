"""Small scenarios and leftover checks shared by the testbed runner tests.

``two_segments`` is the smallest network that exercises everything the runner builds: a crane
LAN with a PLC and an engineering station, a router that forwards and masquerades (nft) into an
"internet" segment with one cloud host, and ``ping`` programs crossing both. ``leftovers``
lists what a run could leave behind, so tests can assert there is nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cranewatch.testbed.scenario import (
    Host,
    Interface,
    Planted,
    Program,
    Route,
    Scenario,
    Segment,
)

PLC_MAC, ENG_MAC, RTR_LAN_MAC, RTR_WAN_MAC, CLOUD_MAC = (
    "02:00:00:00:01:10",
    "02:00:00:00:01:20",
    "02:00:00:00:01:01",
    "02:00:00:00:02:01",
    "02:00:00:00:02:02",
)
PLC_IP, ENG_IP, RTR_LAN_IP, RTR_WAN_IP, CLOUD_IP = (
    "10.20.1.10",
    "10.20.1.20",
    "10.20.1.1",
    "198.51.100.2",
    "198.51.100.1",
)
NAT = """table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth1" ip saddr 10.20.1.0/24 masquerade
  }
}
"""


def two_segments(
    *,
    duration_s: float = 2.5,
    plc_programs: tuple[Program, ...] | None = None,
    eng_programs: tuple[Program, ...] = (),
    planted: tuple[Planted, ...] = (),
    nft: str = NAT,
) -> Scenario:
    ping_cloud: Mapping[str, Any] = {"target": CLOUD_IP, "count": 3, "interval_s": 0.2}
    if plc_programs is None:
        plc_programs = (Program("ping", ping_cloud, start_s=0.3),)
    return Scenario(
        name="two-segments",
        title="Two segments and a NAT router",
        summary="A PLC pings a cloud host through a masquerading router.",
        segments=(Segment("crane-lan"), Segment("internet")),
        hosts=(
            Host(
                "plc",
                "plc",
                (Interface("crane-lan", PLC_MAC, f"{PLC_IP}/24"),),
                routes=(Route("default", RTR_LAN_IP),),
                programs=plc_programs,
            ),
            Host(
                "eng",
                "engineering",
                (Interface("crane-lan", ENG_MAC, f"{ENG_IP}/24"),),
                programs=eng_programs,
            ),
            Host(
                "router",
                "cellular-router",
                (
                    Interface("crane-lan", RTR_LAN_MAC, f"{RTR_LAN_IP}/24"),
                    Interface("internet", RTR_WAN_MAC, f"{RTR_WAN_IP}/24"),
                ),
                forwarding=True,
                nft=nft,
                declared=False,
            ),
            Host("cloud", "cloud", (Interface("internet", CLOUD_MAC, f"{CLOUD_IP}/24"),)),
        ),
        planted=planted,
        duration_s=duration_s,
    )


def root_links() -> set[str]:
    """Interface names of the root namespace."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def leftovers(run_id: str, marker: str | None = None) -> list[str]:
    """Namespaces of ``run_id`` and processes whose command line holds ``marker``."""
    found = (
        [ns for ns in os.listdir("/run/netns") if ns.startswith(f"cw{run_id}-")]
        if Path("/run/netns").exists()
        else []
    )
    if marker:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                text = cmdline.replace(b"\0", b" ").decode(errors="replace")
                found.append(f"process {pid}: {text[:120]}")
    return found
