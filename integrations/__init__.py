"""Integration intake: source systems, contracts, adapters, tokens, routing and delivery."""
