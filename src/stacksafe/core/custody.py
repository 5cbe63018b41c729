"""Master-key custody: rotating the master key, and where the data keys stand.

Rotation adds a master-key version and re-wraps every data key and server key under it, in
batches that each commit on their own, while servers keep serving: a data key's material does not
change, so every value and every unwrapped key in memory stays valid, and a server that meets a
key wrapped under a version it does not hold yet reloads its keyring from the same source
(checking the new version against the database) and carries on. Values are never re-encrypted.
An interrupted rotation is resumed by running it again: it finishes the re-wrapping before it
would ever add another version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from stacksafe.core.access import Principal
from stacksafe.core.audit import record
from stacksafe.core.vault import Vault, utc_now
from stacksafe.crypto import Keyring, Scope, generate_master_key
from stacksafe.crypto.keyed_hash import rewrap_keyed_hash
from stacksafe.crypto.keyring import replace_key_file
from stacksafe.errors import ConfigurationError, Forbidden
from stacksafe.settings import Settings
from stacksafe.store import keys as key_queries

__all__ = ["BATCH", "KeyStatus", "RotationReport", "key_status", "rotate_master_key"]

BATCH = 500


@dataclass(frozen=True, slots=True)
class KeyStatus:
    newest: int
    versions: list[int]  # registered in the database
    data_keys: dict[int, int]  # master-key version -> data keys wrapped under it
    server_keys: dict[int, int]

    @property
    def remaining(self) -> int:
        """Data and server keys still wrapped under an older master-key version."""
        return sum(n for v, n in self.data_keys.items() if v != self.newest) + sum(
            n for v, n in self.server_keys.items() if v != self.newest
        )


@dataclass(frozen=True, slots=True)
class RotationReport:
    version: int
    created: bool  # False: an interrupted rotation was resumed
    rewrapped: int


def key_status(vault: Vault) -> KeyStatus:
    with vault.store.read() as conn:
        versions = sorted(key_queries.master_key_check_values(conn))
        return KeyStatus(
            newest=max(versions),
            versions=versions,
            data_keys=key_queries.data_keys_by_master_version(conn),
            server_keys=key_queries.server_keys_by_master_version(conn),
        )


def _require_owner(actor: Principal) -> None:
    if not actor.is_owner:
        raise Forbidden("only the server owner may rotate the master key")


def rotate_master_key(
    vault: Vault,
    actor: Principal,
    settings: Settings,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
) -> RotationReport:
    """Add a master-key version (unless a rotation is unfinished) and re-wrap every data key
    and server key under it; ``progress(done, total)`` after each committed batch."""
    _require_owner(actor)
    if settings.master_key_text is not None:
        raise ConfigurationError(
            "the master key comes from STACKSAFE_MASTER_KEY: rotate it where it is kept (add a "
            "line '<next version>:<base64 of 32 random bytes>'), restart with it, then run "
            "`stacksafe keys rotate` to re-wrap the data keys"
        )
    status = key_status(vault)
    keyring = vault.data_keys.keyring
    created = False
    if status.remaining == 0 and keyring.newest.version == status.newest:
        new_key = generate_master_key(status.newest + 1)
        # The key file first (all versions, replaced atomically), the database second: a crash
        # in between leaves a key the database does not know yet, which is harmless.
        replace_key_file(settings.master_key_file, [*keyring.keys(), new_key])
        keyring = keyring.with_key(new_key)

        def register(conn: Connection) -> None:
            key_queries.register_master_key(conn, new_key.version, new_key.check_value(), utc_now())
            record(conn, vault, actor, "key.rotate", detail={"master_key_version": new_key.version})

        vault.store.transact(register, "registering the new master key")
        vault.data_keys.replace_keyring(keyring)
        created = True
    elif keyring.newest.version < status.newest:
        keyring = vault.reload_keyring()
    newest = keyring.newest.version
    total = key_status(vault).remaining
    done = 0
    while True:
        moved = _rewrap_batch(vault, keyring, newest, batch)
        done += moved
        if progress is not None:
            progress(done, total)
        if moved == 0:
            break
    return RotationReport(newest, created, done)


def _rewrap_batch(vault: Vault, keyring: Keyring, newest: int, batch: int) -> int:
    """Re-wrap up to ``batch`` keys still under older versions, in one transaction."""

    def work(conn: Connection) -> int:
        moved = 0
        for row in key_queries.data_keys_below(conn, newest, batch):
            scope = Scope(row.account_uid, row.stack_uid)
            material = keyring.unwrap(
                row.master_key_version,
                row.wrapped_key,
                scope.data_key_aad(row.version, row.master_key_version),
            )
            version, wrapped = keyring.wrap(material, scope.data_key_aad(row.version, newest))
            assert version == newest  # noqa: S101 - the keyring wraps with its newest
            moved += key_queries.rewrap_data_key(
                conn, row.id, row.master_key_version, newest, wrapped
            )
        for purpose, version, old_mk, wrapped in key_queries.server_keys_below(conn, newest):
            rewrapped = rewrap_keyed_hash(keyring, purpose, version, old_mk, wrapped)
            moved += key_queries.rewrap_server_key(
                conn, purpose, version, old_mk, newest, rewrapped
            )
        return moved

    return vault.store.transact(work, "re-wrapping data keys")
