"""Exception queues: cases opened from failures and business rules, owned, worked and closed."""
