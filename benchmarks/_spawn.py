"""Tiny launcher that runs one tool and reports its wall time and peak RSS as JSON.

    python -I -S benchmarks/_spawn.py REPORT.json TOOL [ARGS...]

Why a launcher instead of ``os.wait4`` in the benchmark process itself: on Linux a process's
``ru_maxrss`` starts from the resident size of the address space it was ``exec``-ed from, so a
tool started straight from the benchmark runner would inherit the runner's own peak (which
includes the memory-mapped captures it counted). This launcher is small (about 10 MiB, stdlib
only, no site-packages), so the floor it leaves is below any tool measured.

After the tool exits, ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the peak resident set of the
largest process among the tool and every descendant that was waited for (NFStream's meters,
for example). Wall time is measured here, around spawn and reap, so the launcher's own start-up
is not counted. The exit code is the tool's.
"""

import json
import os
import resource
import sys
import time


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, _ = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(report, "w") as f:
        json.dump({"wall_s": wall, "maxrss_kib": children.ru_maxrss}, f)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed by a signal: shell convention


if __name__ == "__main__":
    sys.exit(main())
