"""One Alembic script per registry schema revision, oldest first (``0001_initial``)."""
