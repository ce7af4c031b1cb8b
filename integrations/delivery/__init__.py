"""Routing and delivery: subscriptions, the outbox of deliveries, retries, dead letters, replays."""
