"""End-to-end tests of the protocol dispatcher (TCP stream handling)."""
