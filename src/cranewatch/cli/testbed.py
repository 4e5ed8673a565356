"""``cranewatch testbed``: captures to test and rehearse with."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cranewatch.cli._apps import testbed_app
from cranewatch.cli._shared import console


class CaptureFormat(StrEnum):
    pcap = "pcap"
    pcapng = "pcapng"


@testbed_app.command()
def synth(
    output: Annotated[Path, typer.Option("-o", "--output", help="Capture file to write.")],
    packets: Annotated[int, typer.Option(help="Number of frames to write.", min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same bytes.")] = 1,
    fmt: Annotated[
        CaptureFormat, typer.Option("--format", help="File format.")
    ] = CaptureFormat.pcap,
) -> None:
    """Write a deterministic synthetic crane-network capture (benchmarks and tests).

    The mix holds Modbus/TCP, S7comm, OPC UA, PROFINET DCP, LLDP, ARP, DNS, DHCP, TLS and a
    hidden cellular modem with heartbeats and an OpenVPN tunnel.

    Examples:

      cranewatch testbed synth --packets 1000000 --seed 1 -o synth-1M.pcap

      cranewatch testbed synth --packets 20000 --format pcapng -o small.pcapng
    """
    from cranewatch.testbed.synth import write_synthetic_capture

    show = console.is_terminal
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("synth"), BarColumn(), MofNCompleteColumn(), console=console
        ) as prog:
            task = prog.add_task("synth", total=packets)
            summary = write_synthetic_capture(
                output, packets, seed, fmt=fmt.value, progress=lambda n: prog.advance(task, n)
            )
    else:
        summary = write_synthetic_capture(output, packets, seed, fmt=fmt.value)
    console.print(
        f"wrote {summary.packets:,} frames ({summary.bytes:,} bytes) to {output} "
        f"sha256 {summary.sha256}"
    )
