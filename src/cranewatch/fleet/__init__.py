"""The fleet registry: the declared port model, the contract baseline and the inspection evidence.

``model`` defines the records; ``loader`` reads and validates the YAML port model; ``cyclonedx``
and ``csv_import`` bring in BOMs and procurement spreadsheets; ``evidence`` imports walk-downs,
RF surveys and SIM records; ``linking`` matches observed devices to declared components. The
registry store (``cranewatch.store.registry``) keeps all of it in SQLite or PostgreSQL.
"""
