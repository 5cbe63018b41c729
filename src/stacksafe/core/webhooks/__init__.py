"""Change-event webhooks (docs/operations.md, "Webhooks"): a signed POST to a subscriber on every
change of a stack's or an account's secrets, from a durable cursor over the audit log
(``events``: which events are changes and what is sent of them; ``sink``: the signed POST;
``subscriptions``: who adds, lists, pauses and removes them)."""
