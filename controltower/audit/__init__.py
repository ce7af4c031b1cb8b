"""Who did what: an append-only log of operator actions (ground floor: every app may record)."""
