"""Table-level tests of the analyzers run inside ingest."""
