"""End-to-end business traces: events joined by business identifiers (reads integrations)."""
