"""``cranewatch assets show``: everything known about one device, with its evidence."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from cranewatch.cli._apps import assets_app
from cranewatch.cli._shared import OutputFormat, console, open_workspace, print_table
from cranewatch.errors import CranewatchError


@assets_app.command("show")
def assets_show(
    asset: Annotated[str, typer.Argument(help="IP or MAC address of the device.")],
) -> None:
    """Print what is known about one device, with the evidence (capture, frame) for each fact.

    Shows its addresses and vendor, what it announced about itself (identities), the roles it
    plays (DHCP/DNS server, gateway, NAT, dual-homed), the names it asked for or connected to,
    its remote-access and tunnel sessions, the operations it sent or received, and the
    protocols of its flows with their coverage.

    Examples:

      cranewatch -w case1 assets show 10.20.1.15

      cranewatch -w case1 assets show 00:1b:1b:aa:bb:cc
    """
    from cranewatch.store.asset_view import describe_asset

    ws = open_workspace(create=False)
    view = describe_asset(ws, asset)
    if view.assets.num_rows == 0:
        raise CranewatchError(
            f"no device {asset} in this workspace; "
            '`cranewatch query "SELECT ip, mac, vendor FROM assets"` lists the devices seen'
        )
    sections = (
        ("addresses", view.assets, "no rows"),
        ("identity (what the device says about itself)", view.identities,
         "the device announced nothing about itself in the captured traffic"),
        ("roles on the network", view.roles, "no role derived (not a server, gateway or NAT)"),
        ("names (asked, resolved, connected to, announced)", view.names, "no name seen"),
        ("remote-access and tunnel sessions", view.sessions, "no remote-access or tunnel session"),
        ("operations", view.operations, "no operation sent or received"),
        ("protocols of its flows (coverage)", view.protocols, "no flow with payload"),
    )  # fmt: skip
    for title, result, empty in sections:
        console.print(Text(title, style="bold"))
        if result.num_rows:
            print_table(result, OutputFormat.table)
        else:
            console.print(Text(f"  {empty}", style="dim"))
