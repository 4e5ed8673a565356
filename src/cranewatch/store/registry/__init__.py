"""The fleet registry store: the declared port model, accepted devices, inspection evidence and
asset links in SQLite (default, inside the workspace) or PostgreSQL (``--db``/``CRANEWATCH_DB``).

    url.py         which database: --db, then CRANEWATCH_DB, then <workspace>/registry.sqlite
    models.py      the tables (SQLAlchemy declarative); migrations/ creates them (Alembic)
    engine.py      connections, transactions, locks, and database errors turned into advice
    registry.py    the Registry class: save/load the port, accept, evidence, links, history
    baseline.py    replacing and reading the port model tables
    convert.py     the port model to rows and back; records.py: evidence, links, acceptances
    findings_store.py  findings merged by key across analysis runs, their history, the runs
    decisions.py   analysts' verdicts on findings and approved baselines
    tables.py      the registry as Arrow tables for ``cranewatch query``

docs/registry.md describes the tables and the rules.
"""

from cranewatch.store.registry.registry import Registry
from cranewatch.store.registry.url import mask_url, registry_url

__all__ = ["Registry", "mask_url", "registry_url"]
