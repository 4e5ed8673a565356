"""The ``cranewatch`` command: a thin shell over the library, one pipeline verb per command.

Each command parses its options, calls one library function and renders the result with Rich.
Heavy modules (numba, pyarrow, duckdb) are imported inside the commands that need them, so
``--help`` and small commands start fast. Errors meant for the user are one line on stderr
(exit status 1, or 2 for a usage error such as an unknown analyzer name); set
``CRANEWATCH_DEBUG=1`` to see tracebacks of unexpected errors.
One module per command group; ``_apps`` holds the Typer applications and the global options.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from cranewatch.cli import (
    assets,
    carve,
    evidence,
    findings,
    fleet,
    ingest,
    report,
    risk,
    simulate,
    tables,
    testbed,
)
from cranewatch.cli._apps import app
from cranewatch.cli._shared import console, err_console
from cranewatch.errors import CranewatchError, UsageError

__all__ = [
    "app",
    "assets",
    "carve",
    "console",
    "evidence",
    "findings",
    "fleet",
    "ingest",
    "main",
    "report",
    "risk",
    "run",
    "simulate",
    "tables",
    "testbed",
]


def main() -> None:
    """Console-script entry point: user errors in one line, never a traceback."""
    from typer._click import exceptions as click_exceptions  # Typer bundles its own click

    try:
        code = app(standalone_mode=False)
    except UsageError as exc:  # a bad option value or argument: exit status 2, like Click's
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(2)
    except CranewatchError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)
    except click_exceptions.ClickException as exc:  # usage errors: exit status 2
        exc.show()
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted; nothing half-written was kept")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("CRANEWATCH_DEBUG"):
            raise
        err_console.print(
            f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
            "Please report it; rerun with CRANEWATCH_DEBUG=1 for the traceback."
        )
        sys.exit(2)
    # without standalone mode, typer.Exit comes back as the exit code instead of being raised
    if code == 130:  # Typer turned a Ctrl-C into this code before we saw it
        err_console.print("interrupted; nothing half-written was kept")
    sys.exit(code if isinstance(code, int) else 0)


def run() -> None:
    """The ``cranewatch`` executable: ``main`` without the interpreter's slow teardown.

    Tearing down numba and llvmlite at exit costs a quarter of a second, more than ingesting a
    million packets. Everything cranewatch writes is closed and synced before ``main`` returns
    (observations, catalogue, ingest log), so the process may end at once; only the standard
    streams still need flushing. Library callers and tests use ``main`` and keep the normal exit.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
