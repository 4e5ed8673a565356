"""The one place the tool version lives (read by the CLI, the ingest log and reports)."""

__version__ = "0.7.0"
