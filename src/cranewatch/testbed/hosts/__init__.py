"""Host programs of the crane network testbed: one module per program, run inside a namespace.

The runner (``cranewatch.testbed.runner``) starts each program as
``python -m cranewatch.testbed.hosts.<program> --host NAME --events PATH --config JSON`` inside
its host's network namespace. The contract every program follows is in ``_common`` and in
``docs/testbed.md``: print ``READY`` once started, log what it does as JSON event lines, honour
its ``duration_s``/``count``, stop within 2 s of SIGTERM, and reject unknown config keys.
"""
