"""Users, roles, plant/supplier scope and personal API tokens."""
