"""Storage: the workspace folder (Parquet observations, catalogue, ingest log) and its queries."""

from cranewatch.store.workspace import Workspace

__all__ = ["Workspace"]
