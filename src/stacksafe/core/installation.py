"""The ``Installation``: a store opened with a verified master key. Every core function takes one.

Opening checks the master key against the database's key check values before anything else is
read or written, and refuses with an error naming the key source when they differ.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacksafe.core.audit_checkpoint import CheckpointWriter
from stacksafe.core.known_tokens import KnownTokens
from stacksafe.core.metering import Meter
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.read_cache import ReadCache
from stacksafe.core.reference_free import ReferenceFree
from stacksafe.core.workload.key_sets import IssuerKeys
from stacksafe.crypto import (
    DataKeyCache,
    KeyedHash,
    Keyring,
    generate_master_key,
    keyring_from_file,
    keyring_from_text,
    write_key_file,
)
from stacksafe.crypto.keyed_hash import (
    AUDIT_CHAIN,
    PURPOSES,
    unwrap_keyed_hash,
    wrap_new_keyed_hash,
)
from stacksafe.crypto.passphrase import (
    MIN_PASSPHRASE_CHARS,
    derive_master_key,
    keyring_from_passphrase,
    new_kdf_params,
    write_kdf_params,
)
from stacksafe.crypto.private_file import read_private_file
from stacksafe.errors import ConfigurationError, StorageUnavailable
from stacksafe.settings import (
    DEFAULT_AUDIT_MIN_FREE_BYTES,
    DEFAULT_JWT_LEEWAY_SECONDS,
    DEFAULT_MAX_EXPANDED_BYTES,
    Settings,
)
from stacksafe.store import Connection, OperationalError, Store, redact_url
from stacksafe.store import keys as key_queries
from stacksafe.store.commit_group import CommitGroup
from stacksafe.store.engine import PoolLimits
from stacksafe.store.migrate import current_revision, upgrade

__all__ = [
    "Installation",
    "check_store_reachable",
    "database_shown",
    "initialise",
    "load_keyring",
    "open_installation",
    "store_for",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Installation:
    """A store and the keys to its values, plus the limits that apply to writes."""

    store: Store
    data_keys: DataKeyCache
    max_value_bytes: int
    clock: Callable[[], datetime] = field(default=utc_now)
    # Bytes of resolved ${...} values one read may build in all (core.references.Limits); one
    # resolved value is bounded by ``max_value_bytes``, as a stored one is.
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES
    # Unwrapped server HMAC keys by purpose (see core.server_keys).
    server_keys: dict[str, KeyedHash] = field(default_factory=dict)
    # Group-commit writers by purpose (see store.CommitGroup), made on first use.
    commit_groups: dict[str, CommitGroup[Any, Any]] = field(default_factory=dict)
    # Value fingerprints by sealed value (see core.fingerprints.fingerprints_of_opened).
    sealed_fingerprints: dict[str, str] = field(default_factory=dict)
    # What reads opened, kept while the database's revision says it is current; None: off.
    read_cache: ReadCache | None = None
    # Stacks whose values held no reference at a revision (core.reference_free): for writes.
    reference_free: ReferenceFree = field(default_factory=ReferenceFree)
    # Principals of tokens authenticated before, kept while the principals revision holds.
    known_tokens: KnownTokens = field(default_factory=KnownTokens)
    # Where rotators may connect on a user's behalf (STACKSAFE_OUTBOUND_ALLOW, core.outbound).
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    # Writes the audit log's head outside the database (core.audit_checkpoint); None: nowhere.
    audit_checkpoint: CheckpointWriter | None = None
    # Free bytes below which readiness says the audit log cannot be written (core.health).
    audit_min_free_bytes: int = DEFAULT_AUDIT_MIN_FREE_BYTES
    # /readyz fails when an audit sink lags more events than this (None: never).
    audit_sink_max_lag: int | None = None
    # Stack uids by the (account, stack) a KV path named them with (core.kv.paths).
    kv_stack_uids: dict[tuple[str, str], str] = field(default_factory=dict)
    # Workload logins: the clock leeway of JWT checks, and the issuers' keys as last read or
    # fetched (core.workload.key_sets).
    jwt_leeway_seconds: int = DEFAULT_JWT_LEEWAY_SECONDS
    issuer_keys: IssuerKeys = field(default_factory=IssuerKeys)
    # Told of reveals, audit commits and logins (core.metering): a serving app puts its
    # metrics here (api.metrics); by default nothing is counted.
    meter: Meter = field(default_factory=Meter)

    def close(self) -> None:
        for group in self.commit_groups.values():
            group.close()
        if self.audit_checkpoint is not None:
            self.audit_checkpoint.close()  # anchors what this process appended
        self.store.close()

    def reload_keyring(self) -> Keyring:
        """The master keys again from their source, checked against the database."""
        return self.data_keys.reload()


def _server_keys(store: Store, keyring: Keyring) -> dict[str, KeyedHash]:
    """Every server HMAC key, unwrapped; the missing ones are created (once, race-safe)."""

    def work(conn: Connection) -> dict[str, KeyedHash]:
        loaded: dict[str, KeyedHash] = {}
        for purpose in PURPOSES:
            found = key_queries.server_keys_of(conn, purpose)
            if found:
                version, mk_version, wrapped = found[0]
                loaded[purpose] = unwrap_keyed_hash(keyring, purpose, version, mk_version, wrapped)
            else:
                key, mk_version, wrapped = wrap_new_keyed_hash(keyring, purpose, 1)
                key_queries.insert_server_key(conn, purpose, 1, mk_version, wrapped, utc_now())
                loaded[purpose] = key
        return loaded

    with store.read() as conn:
        if all(key_queries.server_keys_of(conn, p) for p in PURPOSES):
            return work(conn)
    return store.transact(work, "creating server keys")


def load_keyring(settings: Settings) -> Keyring:
    if settings.master_key_text is not None:
        return keyring_from_text(settings.master_key_text.reveal(), settings.master_key_source)
    if settings.uses_passphrase:
        return keyring_from_passphrase(
            _passphrase(settings), settings.key_params_file, settings.master_key_source
        )
    return keyring_from_file(settings.master_key_file)


def _passphrase(settings: Settings) -> str:
    if settings.master_key_passphrase is not None:
        return settings.master_key_passphrase.reveal()
    path = settings.master_key_passphrase_file
    assert path is not None  # noqa: S101 - uses_passphrase: one of the two is set
    try:
        text = read_private_file(path, "master key passphrase file").decode("utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"master key passphrase file {path} (STACKSAFE_MASTER_KEY_PASSPHRASE_FILE) "
            "does not exist"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read master key passphrase file {path}: {exc}") from None
    # One final line break is the file's, not the passphrase's (echo, editors).
    return text.removesuffix("\n").removesuffix("\r")


def _new_passphrase_keyring(settings: Settings) -> Keyring:
    """Write new KDF parameters (a fresh salt) and derive the first master key with them."""
    passphrase = _passphrase(settings)
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise ConfigurationError(
            f"{settings.master_key_source} is {len(passphrase)} characters long; a master key "
            f"passphrase needs at least {MIN_PASSPHRASE_CHARS} (several random words)"
        )
    _make_data_dir(settings.key_params_file.parent)
    params = new_kdf_params()
    # Derived before the file is written: a passphrase that cannot be used leaves no file
    # behind that would make the next attempt refuse to overwrite it.
    key = derive_master_key(passphrase, params, settings.master_key_source)
    write_kdf_params(settings.key_params_file, params)
    return Keyring([key], settings.master_key_source)


def database_shown(settings: Settings) -> str:
    """The database ``settings`` name, fit for a message: its URL with any password hidden."""
    return redact_url(settings.database_url)


def check_store_reachable(store: Store, settings: Settings) -> str | None:
    try:
        with store.read() as conn:
            return current_revision(conn)
    except StorageUnavailable as exc:
        # Opening, not serving: say which database, and what its driver said (no password).
        raise ConfigurationError(
            f"cannot open the database {redact_url(settings.database_url)}: "
            f"{exc.reason.partition(': ')[2] or exc.message}"
        ) from None
    except OperationalError as exc:
        raise ConfigurationError(
            f"cannot open the database {redact_url(settings.database_url)}: "
            f"{str(exc.orig).strip().splitlines()[0]}"
        ) from None


def store_for(settings: Settings) -> Store:
    """The store ``settings`` name, with their connection pool limits."""
    return Store.from_url(
        settings.database_url,
        PoolLimits(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout=settings.db_pool_timeout,
            connect_timeout=settings.db_connect_timeout,
        ),
    )


def open_installation(settings: Settings) -> Installation:
    """Open an initialised installation; the master key is verified before anything else."""
    sqlite_file = settings.sqlite_path
    if sqlite_file is not None and not sqlite_file.exists():
        # Opening would create an empty database file; say what is missing instead.
        raise ConfigurationError(
            f"no stacksafe database at {sqlite_file}; run `stacksafe init` first "
            "(or set STACKSAFE_DATA_DIR / --data-dir / STACKSAFE_DATABASE_URL)"
        )
    store = store_for(settings)
    try:
        if check_store_reachable(store, settings) is None:
            raise ConfigurationError(
                f"the database {redact_url(settings.database_url)} is not initialised; "
                "run `stacksafe init`"
            )
        keyring = _registered_keys(load_keyring(settings), store)
        upgrade(store)
        server_keys = _server_keys(store, keyring)
    except BaseException:
        store.close()
        raise
    return Installation(
        store,
        DataKeyCache(keyring, reload=_reloader(settings, store)),
        settings.max_value_bytes,
        max_expanded_bytes=settings.max_expanded_bytes,
        server_keys=server_keys,
        read_cache=_read_cache(settings),
        outbound=_outbound(settings),
        audit_checkpoint=_checkpoint_writer(settings, store, server_keys),
        audit_min_free_bytes=settings.audit_min_free_bytes,
        audit_sink_max_lag=settings.audit_sink_max_lag,
        jwt_leeway_seconds=settings.jwt_leeway_seconds,
    )


def _checkpoint_writer(
    settings: Settings, store: Store, server_keys: dict[str, KeyedHash]
) -> CheckpointWriter:
    return CheckpointWriter(
        store,
        server_keys[AUDIT_CHAIN],
        settings.checkpoint_file,
        settings.audit_checkpoint_seconds,
    )


def _outbound(settings: Settings) -> OutboundPolicy:
    return OutboundPolicy(settings.outbound_allow, settings.database_hosts)


def _read_cache(settings: Settings) -> ReadCache | None:
    return ReadCache(settings.read_cache_bytes) if settings.read_cache_bytes > 0 else None


def _reloader(settings: Settings, store: Store) -> Callable[[], Keyring]:
    def reload() -> Keyring:
        return _registered_keys(load_keyring(settings), store)

    return reload


def _registered_keys(keyring: Keyring, store: Store) -> Keyring:
    """``keyring`` checked against the database, without versions it does not know yet: a key
    file written by a rotation that has not registered its new version must not be used to
    wrap anything (the rotation registers it, or a new run of it does)."""
    with store.read() as conn:
        registered = key_queries.master_key_check_values(conn)
    keyring.verify(registered)
    return keyring.only(registered)


def _make_data_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def initialise(settings: Settings) -> tuple[Installation, Path | None]:
    """Create the schema and register the master key; write a new key file unless one is given.

    Refuses to touch an installation that already has a master key, and never overwrites a key
    file. Returns the installation and the path of the file it created: the key file, or with a
    passphrase the KDF parameters file (None when the key came from the environment).
    """
    if settings.uses_default_sqlite:
        _make_data_dir(settings.data_dir)
    sqlite_file = settings.sqlite_path
    new_files: list[Path] = []
    if sqlite_file is not None and sqlite_file.parent.is_dir() and not sqlite_file.exists():
        # SQLite gives its -wal and -shm files the mode of the database file: owner only.
        os.close(os.open(sqlite_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        new_files = [sqlite_file.with_name(sqlite_file.name + s) for s in ("", "-wal", "-shm")]
    store = store_for(settings)
    created_key_file: Path | None = None
    try:
        if check_store_reachable(store, settings) is not None:
            with store.read() as conn:
                if key_queries.master_key_check_values(conn):
                    raise ConfigurationError(
                        f"{redact_url(settings.database_url)} is already initialised; "
                        "refusing to initialise it again"
                    )
        if settings.master_key_text is not None:
            keyring = load_keyring(settings)
        elif settings.uses_passphrase:
            keyring = _new_passphrase_keyring(settings)
            created_key_file = settings.key_params_file
        else:
            if settings.master_key_file.exists():
                raise ConfigurationError(
                    f"master key file {settings.master_key_file} already exists; refusing to "
                    "overwrite it (point STACKSAFE_MASTER_KEY_FILE elsewhere or remove it)"
                )
            _make_data_dir(settings.master_key_file.parent)
            key = generate_master_key()
            write_key_file(settings.master_key_file, [key])
            created_key_file = settings.master_key_file
            keyring = Keyring([key], settings.master_key_source)
        upgrade(store)
        now = utc_now()
        with store.write() as conn:
            for version, check_value in sorted(keyring.check_values().items()):
                key_queries.register_master_key(conn, version, check_value, now)
        server_keys = _server_keys(store, keyring)
    except BaseException:
        store.close()
        # A failed init leaves nothing behind: no key file, no half-made database file.
        for path in [*new_files, *([created_key_file] if created_key_file else [])]:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    installation = Installation(
        store,
        DataKeyCache(keyring, reload=_reloader(settings, store)),
        settings.max_value_bytes,
        max_expanded_bytes=settings.max_expanded_bytes,
        server_keys=server_keys,
        read_cache=_read_cache(settings),
        outbound=_outbound(settings),
        audit_checkpoint=_checkpoint_writer(settings, store, server_keys),
        audit_min_free_bytes=settings.audit_min_free_bytes,
        audit_sink_max_lag=settings.audit_sink_max_lag,
        jwt_leeway_seconds=settings.jwt_leeway_seconds,
    )
    return installation, created_key_file
