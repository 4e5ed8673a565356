"""Regenerate tests/baselines/tshark/<capture>.json from a live tshark, like ``btest -U``.

One baseline per capture in tests/captures: what tshark counts there (TCP/UDP conversations,
IP and MAC addresses, frames), written as canonical JSON (sorted keys, conversations by
protocol and stream id) by :func:`cranewatch.testing.tshark_oracle`, which cross-checks its
figures against tshark's own tables before anything is written. Review the diff, then commit.

    .venv/bin/python tests/oracles/make_tshark_baselines.py           # rewrite all baselines
    .venv/bin/python tests/oracles/make_tshark_baselines.py --check   # exit 1 if any is stale
    .venv/bin/python tests/oracles/make_tshark_baselines.py snmp_v1_get.pcap
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cranewatch.testing import tshark_oracle

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "captures"
BASELINES = TESTS / "baselines" / "tshark"
SUFFIXES = (".pcap", ".pcapng")


def captures() -> list[Path]:
    """Every capture file in tests/captures, by name."""
    return sorted(p for p in CAPTURES.iterdir() if p.suffix in SUFFIXES and p.is_file())


def baseline_path(capture: Path) -> Path:
    return BASELINES / f"{capture.stem}.json"


def render(oracle: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, two-space indent, one trailing newline."""
    return json.dumps(oracle, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="capture file names (default: all)")
    parser.add_argument("--check", action="store_true", help="only report stale baselines")
    args = parser.parse_args(argv)

    selected = captures()
    stems = [p.stem for p in selected]
    if len(set(stems)) != len(stems):
        parser.error("two captures share a file stem; their baselines would collide")
    if args.names:
        unknown = set(args.names) - {p.name for p in selected}
        if unknown:
            parser.error(f"not in {CAPTURES}: {', '.join(sorted(unknown))}")
        selected = [p for p in selected if p.name in args.names]

    stale: list[str] = []
    BASELINES.mkdir(parents=True, exist_ok=True)
    for capture in selected:
        target = baseline_path(capture)
        text = render(tshark_oracle(capture))
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(text)
            print(f"wrote {target.relative_to(TESTS.parent)}")
    orphans = sorted({p.name for p in BASELINES.glob("*.json")} - {f"{s}.json" for s in stems})
    for name in orphans:
        print(f"baseline without a capture (delete it?): {name}", file=sys.stderr)
    if args.check and stale:
        print(f"stale tshark baselines: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 1 if orphans else 0


if __name__ == "__main__":
    raise SystemExit(main())
