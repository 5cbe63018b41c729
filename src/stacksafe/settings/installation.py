"""The server's configuration: ``Settings`` (where the data dir, database and master key are,
and the installation's limits) and ``ServerSettings`` (what the served app adds: `stacksafe
serve`'s flags, the web UI's), read from ``STACKSAFE_*`` only when asked, and passed in.

Precedence: explicit arguments (CLI flags), then ``STACKSAFE_*`` environment variables, then
defaults under the data dir (``$XDG_DATA_HOME/stacksafe`` or ``~/.local/share/stacksafe``).
Nothing here writes the environment back.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stacksafe.errors import ConfigurationError
from stacksafe.model import SecretValue
from stacksafe.settings.parsing import (
    MAX_EXPANDED_BYTES,
    MAX_JWT_LEEWAY,
    MAX_RATE,
    MAX_THREADS,
    MAX_WAITING,
    absolute_path,
    database_hosts,
    networks,
    private_listener,
    seconds,
    whole,
)

__all__ = [
    "DEFAULT_AUDIT_CHECKPOINT_SECONDS",
    "DEFAULT_AUDIT_MIN_FREE_BYTES",
    "DEFAULT_AUDIT_SINK_LEASE_SECONDS",
    "DEFAULT_CHANGE_STREAMS",
    "DEFAULT_CHANGE_STREAMS_PER_TOKEN",
    "DEFAULT_DB_CONNECT_TIMEOUT",
    "DEFAULT_DB_MAX_OVERFLOW",
    "DEFAULT_DB_POOL_SIZE",
    "DEFAULT_DB_POOL_TIMEOUT",
    "DEFAULT_JWT_LEEWAY_SECONDS",
    "DEFAULT_MAX_EXPANDED_BYTES",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_PASSWORD_QUEUE",
    "DEFAULT_PASSWORD_WORKERS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_ROTATION_INTERVAL",
    "KEY_PARAMS_FILE",
    "ServerSettings",
    "Settings",
    "default_data_dir",
]

DEFAULT_MAX_VALUE_BYTES = 64 * 1024
# Bytes of ${...}-resolved values one read may build in all (core.references.Limits); one
# resolved value is bounded by the value limit itself.
DEFAULT_MAX_EXPANDED_BYTES = 16 * 1024 * 1024
DEFAULT_READ_CACHE_BYTES = 64 * 1024 * 1024
# Database connections per process (store.PoolLimits; docs/operations.md sizes them).
DEFAULT_DB_POOL_SIZE = 8
DEFAULT_DB_MAX_OVERFLOW = 8
DEFAULT_DB_POOL_TIMEOUT = 10.0
DEFAULT_DB_CONNECT_TIMEOUT = 5
# The audit log's checkpoints (core.audit_checkpoint): written at most this often while events
# are appended; events newer than the last checkpoint can be cut undetected (docs/audit.md).
DEFAULT_AUDIT_CHECKPOINT_SECONDS = 1.0
AUDIT_CHECKPOINT_FILE = "audit.checkpoint"
# /readyz says the audit log cannot be written when the filesystem of the SQLite database or
# of the checkpoint has less free than this (a full disk fails the next append's commit).
DEFAULT_AUDIT_MIN_FREE_BYTES = 8 * 1024 * 1024
MAX_SINK_LAG = 10**12
DEFAULT_AUDIT_SINK_LEASE_SECONDS = 30
DEFAULT_JWT_LEEWAY_SECONDS = 30
# The web UI's password checks (core.password_pool): one core at most, the API keeps the others;
# eight waiting checks are under a second of work, a sign-in answered later is better refused.
DEFAULT_PASSWORD_WORKERS = 1
DEFAULT_PASSWORD_QUEUE = 8
# The server's (ServerSettings): requests per token per hour, as Cloud66; seconds between the
# rotation scheduler's looks for due rotations (0: no scheduler).
DEFAULT_RATE_LIMIT = 3000
# Change streams a serving process keeps open (api.change_hub): in all, and per token (a
# watcher needs one or two; a token holding more is a leak or a loop).
DEFAULT_CHANGE_STREAMS = 1000
DEFAULT_CHANGE_STREAMS_PER_TOKEN = 8
DEFAULT_ROTATION_INTERVAL = 60
DATABASE_FILE = "stacksafe.db"
KEY_FILE = "master.key"
KEY_PARAMS_FILE = "master.key.params"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "stacksafe"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    master_key_file: Path
    # Key material given directly (STACKSAFE_MASTER_KEY); wins over the key file.
    master_key_text: SecretValue | None = field(default=None, repr=False)
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    # STACKSAFE_MAX_EXPANDED_BYTES: what resolving references may build for one read, in all.
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES
    # Plaintext kept in memory by readers (core.read_cache), STACKSAFE_READ_CACHE_BYTES; 0: none.
    read_cache_bytes: int = DEFAULT_READ_CACHE_BYTES
    # A passphrase the master key is derived from (STACKSAFE_MASTER_KEY_PASSPHRASE), or the file
    # holding one (STACKSAFE_MASTER_KEY_PASSPHRASE_FILE, read only when the key is loaded).
    master_key_passphrase: SecretValue | None = field(default=None, repr=False)
    master_key_passphrase_file: Path | None = None
    # The passphrase's salt and KDF costs (not secret); default: master.key.params in the data dir.
    master_key_params_file: Path | None = None
    # Connections kept open per process, opened beyond those at busy times, seconds a
    # transaction waits for a free one, and seconds PostgreSQL gets to accept a new one.
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    db_max_overflow: int = DEFAULT_DB_MAX_OVERFLOW
    db_pool_timeout: float = DEFAULT_DB_POOL_TIMEOUT
    db_connect_timeout: int = DEFAULT_DB_CONNECT_TIMEOUT
    # Where rotators and webhooks may connect on a user's behalf (STACKSAFE_OUTBOUND_ALLOW, IP
    # addresses and networks; empty: anywhere but the guarded ranges, see core.outbound).
    outbound_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # The server's own database host(s), never a rotator's target unless allowed by address.
    database_hosts: tuple[str, ...] = ()
    # Where the audit log's checkpoints go (STACKSAFE_AUDIT_CHECKPOINT_FILE; default: in the
    # data dir), how often at most (STACKSAFE_AUDIT_CHECKPOINT_SECONDS), and the free space
    # below which readiness says the audit log cannot be written (STACKSAFE_AUDIT_MIN_FREE_BYTES).
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_seconds: float = DEFAULT_AUDIT_CHECKPOINT_SECONDS
    audit_min_free_bytes: int = DEFAULT_AUDIT_MIN_FREE_BYTES
    # The lag (events) of an audit sink above which /readyz answers 503
    # (STACKSAFE_AUDIT_SINK_MAX_LAG); None, the default: a sink down never takes a server out.
    audit_sink_max_lag: int | None = None
    # Seconds of clock difference a workload's JWT may have with this server: its exp, nbf and
    # iat are checked with this leeway (STACKSAFE_JWT_LEEWAY, core.workload).
    jwt_leeway_seconds: int = DEFAULT_JWT_LEEWAY_SECONDS

    @property
    def checkpoint_file(self) -> Path:
        return self.audit_checkpoint_file or self.data_dir / AUDIT_CHECKPOINT_FILE

    # Threads checking sign-ins' passwords per process, and checks that may wait for them
    # (STACKSAFE_PASSWORD_WORKERS, STACKSAFE_PASSWORD_QUEUE; core.password_pool).
    password_workers: int = DEFAULT_PASSWORD_WORKERS
    password_queue: int = DEFAULT_PASSWORD_QUEUE

    @property
    def uses_passphrase(self) -> bool:
        return self.master_key_passphrase is not None or self.master_key_passphrase_file is not None

    @property
    def key_params_file(self) -> Path:
        return self.master_key_params_file or self.data_dir / KEY_PARAMS_FILE

    @property
    def uses_default_sqlite(self) -> bool:
        return self.database_url == f"sqlite:///{self.data_dir / DATABASE_FILE}"

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when the database is SQLite, else None."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        return Path(self.database_url[len(prefix) :].split("?", 1)[0])

    @property
    def master_key_source(self) -> str:
        if self.master_key_text is not None:
            return "environment variable STACKSAFE_MASTER_KEY"
        if self.master_key_passphrase is not None:
            return "the passphrase in environment variable STACKSAFE_MASTER_KEY_PASSPHRASE"
        if self.master_key_passphrase_file is not None:
            return f"the passphrase in file {self.master_key_passphrase_file}"
        return f"key file {self.master_key_file}"

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, *, data_dir: Path | None = None
    ) -> Settings:
        env = os.environ if environ is None else environ
        chosen_dir = data_dir or (
            Path(env["STACKSAFE_DATA_DIR"]) if env.get("STACKSAFE_DATA_DIR") else None
        )
        root = (chosen_dir or default_data_dir(env)).expanduser().absolute()
        url = env.get("STACKSAFE_DATABASE_URL") or f"sqlite:///{root / DATABASE_FILE}"
        key_file = Path(env.get("STACKSAFE_MASTER_KEY_FILE") or root / KEY_FILE).expanduser()
        key_text = env.get("STACKSAFE_MASTER_KEY")
        limit_text = env.get("STACKSAFE_MAX_VALUE_BYTES")
        try:
            limit = int(limit_text) if limit_text else DEFAULT_MAX_VALUE_BYTES
        except ValueError:
            raise ConfigurationError(
                f"STACKSAFE_MAX_VALUE_BYTES must be a whole number of bytes, not {limit_text!r}"
            ) from None
        if limit < 1:
            raise ConfigurationError("STACKSAFE_MAX_VALUE_BYTES must be at least 1")
        expanded = whole(
            env,
            "STACKSAFE_MAX_EXPANDED_BYTES",
            DEFAULT_MAX_EXPANDED_BYTES,
            1,
            "bytes",
            MAX_EXPANDED_BYTES,
        )
        cache_text = env.get("STACKSAFE_READ_CACHE_BYTES")
        if cache_text and not (cache_text.isascii() and cache_text.isdigit()):
            raise ConfigurationError(
                "STACKSAFE_READ_CACHE_BYTES must be a whole number of bytes (0: keep no "
                f"plaintext in memory between reads), not {cache_text!r}"
            )
        read_cache = int(cache_text) if cache_text else DEFAULT_READ_CACHE_BYTES
        passphrase = env.get("STACKSAFE_MASTER_KEY_PASSPHRASE")
        passphrase_file = env.get("STACKSAFE_MASTER_KEY_PASSPHRASE_FILE")
        chosen = [
            name
            for name, value in (
                ("STACKSAFE_MASTER_KEY", key_text),
                # STACKSAFE_MASTER_KEY wins over a key file (as it always has); a passphrase
                # and a key file are two sources, not one overriding the other.
                (
                    "STACKSAFE_MASTER_KEY_FILE",
                    env.get("STACKSAFE_MASTER_KEY_FILE") if passphrase or passphrase_file else None,
                ),
                ("STACKSAFE_MASTER_KEY_PASSPHRASE", passphrase),
                ("STACKSAFE_MASTER_KEY_PASSPHRASE_FILE", passphrase_file),
            )
            if value
        ]
        if len(chosen) > 1:
            raise ConfigurationError(f"set only one master key source, not {' and '.join(chosen)}")
        params_file = env.get("STACKSAFE_MASTER_KEY_PARAMS_FILE")
        pool_size = whole(env, "STACKSAFE_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE, 1, "connections")
        max_overflow = whole(
            env, "STACKSAFE_DB_MAX_OVERFLOW", DEFAULT_DB_MAX_OVERFLOW, 0, "connections"
        )
        pool_timeout = seconds(env, "STACKSAFE_DB_POOL_TIMEOUT", DEFAULT_DB_POOL_TIMEOUT)
        connect_timeout = whole(
            env, "STACKSAFE_DB_CONNECT_TIMEOUT", DEFAULT_DB_CONNECT_TIMEOUT, 1, "seconds"
        )
        outbound_allow = networks(env, "STACKSAFE_OUTBOUND_ALLOW")
        checkpoint_file = absolute_path(env, "STACKSAFE_AUDIT_CHECKPOINT_FILE")
        checkpoint_seconds = seconds(
            env, "STACKSAFE_AUDIT_CHECKPOINT_SECONDS", DEFAULT_AUDIT_CHECKPOINT_SECONDS
        )
        min_free = whole(
            env, "STACKSAFE_AUDIT_MIN_FREE_BYTES", DEFAULT_AUDIT_MIN_FREE_BYTES, 0, "bytes"
        )
        max_lag_text = env.get("STACKSAFE_AUDIT_SINK_MAX_LAG")
        max_lag = (
            whole(env, "STACKSAFE_AUDIT_SINK_MAX_LAG", 0, 1, "events", MAX_SINK_LAG)
            if max_lag_text
            else None
        )
        jwt_leeway = whole(
            env, "STACKSAFE_JWT_LEEWAY", DEFAULT_JWT_LEEWAY_SECONDS, 0, "seconds", MAX_JWT_LEEWAY
        )
        password_workers = whole(
            env, "STACKSAFE_PASSWORD_WORKERS", DEFAULT_PASSWORD_WORKERS, 1, "threads", MAX_THREADS
        )
        password_queue = whole(
            env, "STACKSAFE_PASSWORD_QUEUE", DEFAULT_PASSWORD_QUEUE, 0, "sign-ins", MAX_WAITING
        )
        return cls(
            data_dir=root,
            database_url=url,
            master_key_file=key_file.absolute(),
            master_key_text=SecretValue(key_text) if key_text else None,
            max_value_bytes=limit,
            max_expanded_bytes=expanded,
            read_cache_bytes=read_cache,
            master_key_passphrase=SecretValue(passphrase) if passphrase else None,
            master_key_passphrase_file=(
                Path(passphrase_file).expanduser().absolute() if passphrase_file else None
            ),
            master_key_params_file=(
                Path(params_file).expanduser().absolute() if params_file else None
            ),
            db_pool_size=pool_size,
            db_max_overflow=max_overflow,
            db_pool_timeout=pool_timeout,
            db_connect_timeout=connect_timeout,
            outbound_allow=outbound_allow,
            database_hosts=database_hosts(url, env),
            audit_checkpoint_file=checkpoint_file,
            audit_checkpoint_seconds=checkpoint_seconds,
            audit_min_free_bytes=min_free,
            audit_sink_max_lag=max_lag,
            jwt_leeway_seconds=jwt_leeway,
            password_workers=password_workers,
            password_queue=password_queue,
        )


DEFAULT_VAULT_MOUNT = "secret"
# Vault's own top-level routes: a mount of one of these names could never be reached.
_VAULT_ROUTES = frozenset({"sys", "auth", "identity", "cubbyhole"})
_MOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _vault_mount(name: str) -> str:
    if not _MOUNT_NAME.fullmatch(name) or name in _VAULT_ROUTES:
        raise ConfigurationError(
            f"STACKSAFE_VAULT_MOUNT {name!r} is not a usable mount name: lower-case letters, "
            "digits, _ and -, at most 64, and not sys, auth, identity or cubbyhole"
        )
    return name


@dataclass(frozen=True)
class ServerSettings:
    """What the served app needs besides the installation's ``Settings``: `stacksafe serve`'s
    flags, or for ``uvicorn --factory stacksafe.api.app:app_from_environment`` the variables
    ``STACKSAFE_RATE_LIMIT``, ``STACKSAFE_THREADS`` and ``STACKSAFE_ROTATION_INTERVAL``; and
    the web UI's ``STACKSAFE_WEB_IDLE_TIMEOUT`` (a duration, e.g. ``15m``) and
    ``STACKSAFE_WEB_ORIGIN`` (checked where they are used: core.validation.parse_duration,
    web.state.check_web_origin); the change streams' bounds ``STACKSAFE_CHANGE_STREAMS``
    (per process; 0: none served) and ``STACKSAFE_CHANGE_STREAMS_PER_TOKEN``;
    ``STACKSAFE_METRICS_ADDRESS``, the unauthenticated metrics listener's ``HOST:PORT``
    (loopback or a private network).

    No key material: `serve` hands it to each worker process (pickled), and each worker
    loads the installation's ``Settings`` itself, from ``data_dir`` and its environment.
    """

    data_dir: Path | None = None
    rate_limit: int = DEFAULT_RATE_LIMIT
    threads: int | None = None  # request threads per worker; None: by the database
    rotation_interval: int = DEFAULT_ROTATION_INTERVAL
    web_idle_timeout: str | None = None
    web_origin: str | None = None
    # The Vault-compatible API (docs/vault-compat.md): its one KV mount, and whether
    # lookup-self echoes the caller's token in ``id`` (Vault Agent's token_file method needs it).
    vault_mount: str = DEFAULT_VAULT_MOUNT
    vault_echo_token: bool = False
    # How long an audit sink's delivery lease lasts unless renewed: how soon another server
    # (or this one restarted) takes over a sink whose deliverer died
    # (STACKSAFE_AUDIT_SINK_LEASE_SECONDS, core.streams.delivery).
    audit_sink_lease_seconds: int = DEFAULT_AUDIT_SINK_LEASE_SECONDS
    # Change streams per serving process (`GET /stacks/{uid}/changes`, docs/api.md).
    change_streams: int = DEFAULT_CHANGE_STREAMS
    change_streams_per_token: int = DEFAULT_CHANGE_STREAMS_PER_TOKEN
    # (host, port) of the unauthenticated metrics listener (api.metrics.listener); None: none.
    metrics_address: tuple[str, int] | None = None

    def installation_settings(self, environ: Mapping[str, str] | None = None) -> Settings:
        return Settings.load(environ, data_dir=self.data_dir)

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, *, data_dir: Path | None = None
    ) -> ServerSettings:
        """All from ``environ`` (default: the process's): the ``uvicorn --factory`` way."""
        env = os.environ if environ is None else environ
        threads = whole(env, "STACKSAFE_THREADS", 0, 1, "threads", MAX_THREADS)
        return cls.of_serve(
            env,
            data_dir=data_dir,
            rate_limit=whole(
                env, "STACKSAFE_RATE_LIMIT", DEFAULT_RATE_LIMIT, 1, "requests", MAX_RATE
            ),
            threads=threads or None,
            rotation_interval=whole(
                env,
                "STACKSAFE_ROTATION_INTERVAL",
                DEFAULT_ROTATION_INTERVAL,
                0,
                "seconds",
                MAX_RATE,
            ),
        )

    @classmethod
    def of_serve(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        data_dir: Path | None,
        rate_limit: int,
        threads: int | None,
        rotation_interval: int,
        metrics_address: str | None = None,
    ) -> ServerSettings:
        """`stacksafe serve`'s: its flags, and the web UI's variables from ``environ``
        (``STACKSAFE_METRICS_ADDRESS`` unless ``metrics_address``, the flag, is given)."""
        env = os.environ if environ is None else environ
        listener = None
        if metrics_address:
            listener = private_listener(metrics_address, "--metrics-address")
        elif env.get("STACKSAFE_METRICS_ADDRESS"):
            listener = private_listener(
                env["STACKSAFE_METRICS_ADDRESS"], "STACKSAFE_METRICS_ADDRESS"
            )
        return cls(
            data_dir=data_dir,
            rate_limit=rate_limit,
            threads=threads,
            rotation_interval=rotation_interval,
            web_idle_timeout=env.get("STACKSAFE_WEB_IDLE_TIMEOUT") or None,
            web_origin=env.get("STACKSAFE_WEB_ORIGIN") or None,
            vault_mount=_vault_mount(env.get("STACKSAFE_VAULT_MOUNT") or DEFAULT_VAULT_MOUNT),
            vault_echo_token=whole(env, "STACKSAFE_VAULT_ECHO_TOKEN", 0, 0, "(1: on)", 1) == 1,
            change_streams=whole(
                env, "STACKSAFE_CHANGE_STREAMS", DEFAULT_CHANGE_STREAMS, 0, "streams"
            ),
            change_streams_per_token=whole(
                env,
                "STACKSAFE_CHANGE_STREAMS_PER_TOKEN",
                DEFAULT_CHANGE_STREAMS_PER_TOKEN,
                1,
                "streams",
            ),
            audit_sink_lease_seconds=whole(
                env,
                "STACKSAFE_AUDIT_SINK_LEASE_SECONDS",
                DEFAULT_AUDIT_SINK_LEASE_SECONDS,
                3,
                "seconds",
                3600,
            ),
            metrics_address=listener,
        )
