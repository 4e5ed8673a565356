"""Allow ``python -m cranewatch``."""

from cranewatch.cli import run

run()
