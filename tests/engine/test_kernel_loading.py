"""Loading cached kernels: cranewatch's skip numba's context refresh, everybody else's do not.

``cranewatch._jit`` installs a hook on numba's cache: a cached function defined in cranewatch is
loaded without first importing and registering all of numba's implementation modules (about
0.15 s per process). Each check runs in a fresh interpreter, after a first one has filled the
cache, so that what it sees is a warm start as a user gets it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

INGEST = """
import sys
from pathlib import Path
from cranewatch.engine.session import EngineOptions
from cranewatch.ingest import ingest_file
from cranewatch.store.workspace import Workspace

ws = Workspace.open(Path(sys.argv[2]), create=True)
outcome = ingest_file(ws, Path(sys.argv[1]), EngineOptions())
assert outcome.status == "ingested", outcome.error
print(outcome.operations, "numba.np.arraymath" in sys.modules)
"""

OTHER = """
import sys
sys.path.insert(0, sys.argv[1])
import cranewatch._jit  # the hook is installed
import numpy as np

from elsewhere import total

print(total(np.arange(10.0)), "numba.np.arraymath" in sys.modules)
"""


def _run(code: str, *args: object) -> list[str]:
    """Run ``code`` in a fresh interpreter (cranewatch's usual kernel cache)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_a_warm_ingest_loads_no_numba_implementation_modules(
    tmp_path: Path, synth_capture: Path
) -> None:
    first = _run(INGEST, synth_capture, tmp_path / "ws1")  # may compile (and refresh) first
    warm = _run(INGEST, synth_capture, tmp_path / "ws2")
    assert first[0] == warm[0] and int(warm[0]) > 100  # same operations rows
    assert warm[1] == "False"  # loaded from the cache without numba's implementation modules


def test_functions_outside_cranewatch_load_the_usual_way(tmp_path: Path) -> None:
    """A cached numba function of another package still gets numba's full context (its array
    method needs numba's implementations), with cranewatch's hook installed."""
    (tmp_path / "elsewhere.py").write_text(
        textwrap.dedent(
            """
            from numba import njit

            @njit(cache=True)
            def total(values):
                return values.sum()
            """
        )
    )
    assert _run(OTHER, tmp_path) == ["45.0", "True"]  # compiled
    assert _run(OTHER, tmp_path) == ["45.0", "True"]  # loaded from the cache
