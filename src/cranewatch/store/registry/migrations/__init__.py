"""Alembic migrations of the registry schema (a package so that installs ship the scripts)."""
