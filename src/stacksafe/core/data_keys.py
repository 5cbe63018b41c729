"""Data keys of a level: the keys that open its values, and the key that seals new ones."""

from __future__ import annotations

from collections.abc import Callable

from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target
from stacksafe.crypto import DATA_KEY_SEAL_LIMIT, DataKey, Scope, ScopeKeys
from stacksafe.store import Connection
from stacksafe.store import keys as key_queries
from stacksafe.store.keys import StoredDataKey

__all__ = ["scope_keys", "sealing_key", "send_sealing_key", "wrap_new_data_key"]


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


def send_sealing_key(
    conn: Connection, target: Target, seals: int
) -> Callable[[], StoredDataKey | None]:
    """``sealing_key``'s first statement, sent now (it may go in a batch of statements): the
    level's newest data key, ``seals`` counted under it if it has room for them."""
    return key_queries.send_claim_seals(
        conn, target.account.id, target.stack_id, seals, DATA_KEY_SEAL_LIMIT
    )


def sealing_key(
    conn: Connection,
    installation: Installation,
    target: Target,
    seals: int,
    claimed: Callable[[], StoredDataKey | None] | None = None,
) -> DataKey:
    """The data key that seals ``seals`` new values of ``target``'s own level, counted under
    it; rolls over to a new one when spent. ``claimed``: ``send_sealing_key``'s, sent before."""
    stored = (claimed or send_sealing_key(conn, target, seals))()
    scope = target.scope
    if stored is not None:
        return installation.data_keys.unwrap(
            scope, stored.version, stored.master_key_version, stored.wrapped_key
        )
    # No key yet, or not room enough in the newest: the next version.
    newest = key_queries.newest_data_key(conn, target.account.id, target.stack_id, lock=True)
    version = 1 if newest is None else newest.version + 1
    data_key, mk_version, wrapped = wrap_new_data_key(conn, installation, scope, version)
    key_id = key_queries.insert_data_key(
        conn, target.account.id, target.stack_id, version, mk_version, wrapped, installation.clock()
    )
    key_queries.record_seals(conn, key_id, seals)
    return data_key
