"""Data keys of a level: the keys that open its values, and the key that seals new ones."""

from __future__ import annotations

from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target
from stacksafe.crypto import DATA_KEY_SEAL_LIMIT, DataKey, Scope, ScopeKeys
from stacksafe.store import Connection
from stacksafe.store import keys as key_queries

__all__ = ["scope_keys", "sealing_key", "wrap_new_data_key"]


def _scope_of(target: Target, stack_level: bool) -> Scope:
    if stack_level and target.stack is not None:
        return Scope(target.account.uid, target.stack.uid)
    return Scope(target.account.uid, None)


def scope_keys(
    conn: Connection, installation: Installation, target: Target
) -> dict[bool, ScopeKeys]:
    """The unwrapped data keys of ``target``'s levels, by level (True: the stack's own)."""
    stored_by_level = key_queries.data_keys_of(conn, target.account.id, target.stack_id)
    opened = {}
    for level, stored_list in stored_by_level.items():
        scope = _scope_of(target, level)
        opened[level] = ScopeKeys(
            scope,
            (
                installation.data_keys.unwrap(
                    scope, stored.version, stored.master_key_version, stored.wrapped_key
                )
                for stored in stored_list
            ),
        )
    return opened


def wrap_new_data_key(
    conn: Connection, installation: Installation, scope: Scope, version: int
) -> tuple[DataKey, int, bytes]:
    """A fresh data key for ``scope``, wrapped under the newest registered master key."""
    registered = max(key_queries.master_key_check_values(conn))
    if registered > installation.data_keys.keyring.newest.version:
        # Another process rotated the master key since this one loaded it: wrap new data keys
        # under the new version, or a finished rotation would leave work behind.
        installation.reload_keyring()
    return installation.data_keys.wrap_new(scope, version)


def sealing_key(
    conn: Connection, installation: Installation, target: Target, seals: int
) -> DataKey:
    """The data key that seals new values of ``target``'s own level; rolls over when spent."""
    scope = target.scope
    stored = key_queries.newest_data_key(conn, target.account.id, target.stack_id, lock=True)
    if stored is None or stored.seal_count + seals > DATA_KEY_SEAL_LIMIT:
        version = 1 if stored is None else stored.version + 1
        data_key, mk_version, wrapped = wrap_new_data_key(conn, installation, scope, version)
        key_id = key_queries.insert_data_key(
            conn,
            target.account.id,
            target.stack_id,
            version,
            mk_version,
            wrapped,
            installation.clock(),
        )
    else:
        data_key = installation.data_keys.unwrap(
            scope, stored.version, stored.master_key_version, stored.wrapped_key
        )
        key_id = stored.id
    key_queries.record_seals(conn, key_id, seals)
    return data_key
