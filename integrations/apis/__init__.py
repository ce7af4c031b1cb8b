"""HTTP APIs of the integrations app."""
