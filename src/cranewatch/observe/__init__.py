"""Observation tables: the versioned contract between the engine and everything downstream."""

from cranewatch.observe.schemas import TABLES, TableSchema, table

__all__ = ["TABLES", "TableSchema", "table"]
