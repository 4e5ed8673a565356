"""Benchmark baseline: NFStream with its default settings, as a user would first run it.

``NFStreamer(source=FILE)`` with nothing changed: nDPI dissection of the first 20 packets of each
flow, 120 s idle and 1800 s active timeouts, tunnel decoding on, and ``n_meters=0`` (one metering
process per CPU core, plus the parent). Every flow is iterated and the count is printed; nothing
else is written.

    python benchmarks/nfstream_flows.py CAPTURE
"""

from __future__ import annotations

import sys


def count_flows(path: str) -> int:
    from nfstream import NFStreamer

    return sum(1 for _flow in NFStreamer(source=path))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(count_flows(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
