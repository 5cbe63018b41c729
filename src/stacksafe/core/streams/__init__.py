"""Streams out of stacksafe: the audit log delivered to sinks (a file, syslog, HTTPS) in order,
at least once, from a durable per-sink cursor, by threads of their own so that a sink that is
down or slow delays only itself, never a request; and a stack's changes pushed to its watchers
(``changes``: the signature that says a stack's effective set changed, never a value)."""
