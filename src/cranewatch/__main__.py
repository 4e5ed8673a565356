"""Allow ``python -m cranewatch``."""

from cranewatch._launch import run

run()
