"""``cranewatch evidence carve``: the frames behind a finding, as a small pcap with a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from cranewatch.cli._apps import evidence_app
from cranewatch.cli._registry import open_registry
from cranewatch.cli._shared import console, open_workspace
from cranewatch.errors import CranewatchError


@evidence_app.command("carve")
def carve_command(
    finding: Annotated[str, typer.Argument(help="Finding key, as `findings list` shows it.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder to write the pcap files and manifest to.")
    ],
    capture: Annotated[
        list[Path] | None,
        typer.Option(
            "--capture",
            help=(
                "A capture file where the finding's capture now is (when it moved since ingest). "
                "Repeat for several; each is matched by its SHA-256."
            ),
        ),
    ] = None,
) -> None:
    """Write the frames behind a finding to a small pcap, with a chain-of-custody manifest.

    Each capture the finding names is re-hashed and must equal the SHA-256 in the evidence
    before anything is carved from it. The output folder gets one pcap per capture with exactly
    the named frames (same bytes, link type and timestamps) and manifest.json with the source
    and result SHA-256, the frame numbers, who carved and when, and the verified evidence files.

    Examples:

      cranewatch -w case1 evidence carve CW-NET-003:3f2a9c0d1e4b5a67 -o case1-carve/

      cranewatch -w case1 evidence carve CW-NET-003:3f2a9c0d1e4b5a67 -o out/ --capture /mnt/usb/crane-2026-03-01.pcapng.gz
    """
    from cranewatch.findings.carve import carve, match_capture_paths

    ws = open_workspace(create=False)
    with open_registry() as registry:
        stored = registry.finding(finding)
    if stored is None:
        raise CranewatchError(f"no finding {finding!r}; `cranewatch findings list` shows the keys")
    paths = match_capture_paths(stored.finding, capture or [])
    result = carve(ws, stored.finding, output, capture_paths=paths)
    for c in result.captures:
        console.print(
            Text(
                f"wrote {c.result} ({c.result_frames} frames of {c.source}, "
                f"SHA-256 {c.result_sha256})"
            )
        )
    for f in result.files:
        console.print(Text(f"verified evidence file {f.stored} (SHA-256 {f.sha256})"))
    console.print(Text(f"wrote {result.manifest}"))
