"""Exception queues: cases from rules, ownership, workflow and bulk actions (built in a later issue)."""
