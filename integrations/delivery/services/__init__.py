"""Writers of the delivery app, one module per concern:

- `routing`: subscriptions → outbox rows in the intake transaction;
- `outbox`: handing rows to workers after commit, and the sweeper for what slipped through;
- `delivering`: one attempt (lease, gates, HTTP, record, policy), `transport` the HTTP itself;
- `policy`, `circuit`, `ratelimit`: the per-target rules;
- `pausing`: pause, resume and the ordered drain;
- `jobs`: bulk retry and replay; `resubmission`: fixing refused messages.
"""
