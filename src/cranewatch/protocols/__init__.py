"""Protocol analyzers: one module per protocol, all on the small contract of ``_base``.

This package holds the wire parsers of the industrial protocols (issue "Industrial protocol
analyzers"); the dispatcher that runs them inside ``cranewatch ingest`` and writes their rows
into the ``operations``, ``identities`` and ``coverage`` tables comes with that issue's
framework. Until then each analyzer is usable on its own (see ``cranewatch.testing.streams``).
"""
