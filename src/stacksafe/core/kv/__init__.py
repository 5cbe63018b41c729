"""KV v2 on stacksafe's levels: what the Vault-compatible API (api/vault/) asks of the core.

A path is ``<account>`` (the account's own level) or ``<account>/<stack>`` (the stack's
effective set, as ``stacksafe run`` delivers it); its version is derived from level writes
(store.level_writes). docs/vault-compat.md has the mapping; every rule here is one of it.
"""
