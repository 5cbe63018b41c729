"""Master-key rotation: rewrapping the data keys under a new master key, and where they stand.

Rotation adds a master-key version and re-wraps every data key and server key under it, in
batches that each commit on their own, while servers keep serving: a data key's material does not
change, so every value and every unwrapped key in memory stays valid, and a server that meets a
key wrapped under a version it does not hold yet reloads its keyring from the same source
(checking the new version against the database) and carries on. Values are never re-encrypted.
An interrupted rotation is resumed by running it again: it finishes the re-wrapping before it
would ever add another version.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stacksafe.core.access import Principal
from stacksafe.core.audit import record
from stacksafe.core.guard import require_owner
from stacksafe.core.installation import Installation, load_keyring, utc_now
from stacksafe.crypto import Keyring, MasterKey, Scope, generate_master_key
from stacksafe.crypto.keyed_hash import rewrap_keyed_hash
from stacksafe.crypto.keyring import replace_key_file
from stacksafe.errors import ConfigurationError, Conflict
from stacksafe.settings import Settings
from stacksafe.store import Connection
from stacksafe.store import data_key_rotation as reseal_queries
from stacksafe.store import keys as key_queries

__all__ = ["BATCH", "KeyStatus", "RotationReport", "key_status", "rotate_master_key"]

BATCH = 500


@dataclass(frozen=True, slots=True)
class KeyStatus:
    newest: int
    versions: list[int]  # registered in the database
    data_keys: dict[int, int]  # master-key version -> data keys wrapped under it
    server_keys: dict[int, int]
    # Data keys retired by an unfinished `keys rotate-data-keys` (see core.data_key_rotation).
    retired_data_keys: int = 0

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


def key_status(installation: Installation) -> KeyStatus:
    with installation.store.read() as conn:
        versions = sorted(key_queries.master_key_check_values(conn))
        return KeyStatus(
            newest=max(versions),
            versions=versions,
            data_keys=key_queries.data_keys_by_master_version(conn),
            server_keys=key_queries.server_keys_by_master_version(conn),
            retired_data_keys=reseal_queries.count_retired(conn),
        )


def _require_owner(installation: Installation, actor: Principal) -> None:
    require_owner(
        installation, actor, "keys.rotate", "only the server owner may rotate the master key"
    )


@contextmanager
def _rotation_lock(key_file: Path) -> Iterator[None]:
    """One rotation at a time for a key file: two would each write their own version N+1."""
    lock_path = key_file.with_name(key_file.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigurationError(f"cannot open the rotation lock {lock_path}: {exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"another `stacksafe keys rotate` holds {lock_path}; let it finish"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def rotate_master_key(
    installation: Installation,
    actor: Principal,
    settings: Settings,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
) -> RotationReport:
    """Add a master-key version (unless a rotation is unfinished) and re-wrap every data key
    and server key under it; ``progress(done, total)`` after each committed batch."""
    _require_owner(installation, actor)
    if settings.master_key_text is not None:
        raise ConfigurationError(
            "the master key comes from STACKSAFE_MASTER_KEY: rotate it where it is kept (add a "
            "line '<next version>:<base64 of 32 random bytes>'), restart with it, then run "
            "`stacksafe keys rotate` to re-wrap the data keys"
        )
    if settings.uses_passphrase:
        raise ConfigurationError(
            f"the master key is derived from {settings.master_key_source}: `keys rotate` "
            "does not rotate it (a new version from the same passphrase protects nothing if "
            "the passphrase leaked, and changing the passphrase while servers serve needs "
            "every server to hold the old and the new one; not supported yet, see "
            "docs/key-custody.md)"
        )
    with _rotation_lock(settings.master_key_file):
        status = key_status(installation)
        on_file = load_keyring(settings)
        ahead = [k for k in on_file.master_keys() if k.version > status.newest]
        if ahead:
            # An earlier rotation wrote the key file but stopped before registering its new
            # version: register it now (its check value goes to the database) and carry on.
            _register(installation, actor, ahead)
            created = False
        elif status.remaining == 0:
            new_key = generate_master_key(status.newest + 1)
            # The key file first (every version, replaced atomically), then the database.
            # Servers use only registered versions, so a crash in between harms nothing, and
            # the next run registers what the file holds.
            replace_key_file(settings.master_key_file, [*on_file.master_keys(), new_key])
            on_file = load_keyring(settings)
            if on_file.check_values().get(new_key.version) != new_key.check_value():
                raise ConfigurationError(
                    f"{settings.master_key_file} changed while the new key was written; "
                    "nothing was registered or re-wrapped: run `stacksafe keys rotate` again"
                )
            _register(installation, actor, [new_key])
            created = True
        else:
            created = False  # resuming: the newest version is registered, keys remain
        keyring = on_file.only(key_status(installation).versions)
        installation.data_keys.replace_keyring(keyring)
        newest = keyring.newest.version
        total = key_status(installation).remaining
        done = 0
        while True:
            started = time.perf_counter()
            moved = _rewrap_batch(installation, keyring, newest, batch)
            installation.store.yield_write_lock(time.perf_counter() - started)
            done += moved
            if progress is not None:
                progress(done, total)
            if moved == 0:
                break
    return RotationReport(newest, created, done)


def _register(installation: Installation, actor: Principal, keys: list[MasterKey]) -> None:
    def work(conn: Connection) -> None:
        for key in keys:
            key_queries.register_master_key(conn, key.version, key.check_value(), utc_now())
            record(
                conn, installation, actor, "key.rotate", detail={"master_key_version": key.version}
            )

    installation.store.transact(work, "registering the new master key")


def _rewrap_batch(installation: Installation, keyring: Keyring, newest: int, batch: int) -> int:
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

    return installation.store.transact(work, "re-wrapping data keys")
