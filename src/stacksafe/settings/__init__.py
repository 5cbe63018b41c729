"""Configuration: every ``STACKSAFE_*`` variable is read in this package, only when asked, and
passed in.

``Settings``: where the data dir, database and master key are, and the installation's limits;
``ServerSettings``: what the served app adds (`stacksafe serve`'s flags, the web UI's); both in
``settings/installation.py``. ``ClientSettings``: remote mode (the server's address, the token)
and the CLI's own switches, with ``CREDENTIAL_VARIABLES`` (``settings/client.py``).

Each name is imported from its module on first use (PEP 562): `stacksafe run` reads only the
client's settings, and building the server's dataclasses was a measurable share of its start
(bench/cli_bench.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacksafe.settings.client import CREDENTIAL_VARIABLES, ClientSettings
    from stacksafe.settings.installation import (
        AUDIT_CHECKPOINT_FILE,
        DATABASE_FILE,
        DEFAULT_AUDIT_CHECKPOINT_SECONDS,
        DEFAULT_AUDIT_MIN_FREE_BYTES,
        DEFAULT_AUDIT_SINK_LEASE_SECONDS,
        DEFAULT_CHANGE_STREAMS,
        DEFAULT_CHANGE_STREAMS_PER_TOKEN,
        DEFAULT_DB_CONNECT_TIMEOUT,
        DEFAULT_DB_MAX_OVERFLOW,
        DEFAULT_DB_POOL_SIZE,
        DEFAULT_DB_POOL_TIMEOUT,
        DEFAULT_JWT_LEEWAY_SECONDS,
        DEFAULT_MAX_EXPANDED_BYTES,
        DEFAULT_MAX_VALUE_BYTES,
        DEFAULT_PASSWORD_QUEUE,
        DEFAULT_PASSWORD_WORKERS,
        DEFAULT_RATE_LIMIT,
        DEFAULT_READ_CACHE_BYTES,
        DEFAULT_ROTATION_INTERVAL,
        DEFAULT_VAULT_MOUNT,
        KEY_FILE,
        KEY_PARAMS_FILE,
        MAX_SINK_LAG,
        ServerSettings,
        Settings,
        default_data_dir,
    )

__all__ = [
    "AUDIT_CHECKPOINT_FILE",
    "CREDENTIAL_VARIABLES",
    "DATABASE_FILE",
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
    "DEFAULT_READ_CACHE_BYTES",
    "DEFAULT_ROTATION_INTERVAL",
    "DEFAULT_VAULT_MOUNT",
    "KEY_FILE",
    "KEY_PARAMS_FILE",
    "MAX_SINK_LAG",
    "ClientSettings",
    "ServerSettings",
    "Settings",
    "default_data_dir",
]

_CLIENT = frozenset({"CREDENTIAL_VARIABLES", "ClientSettings"})


def __getattr__(name: str) -> object:
    # Import statements, not importlib: `-X importtime` reports these (the import guards of
    # tests/cli/test_import_guard.py read it).
    if name in _CLIENT:
        import stacksafe.settings.client as client

        found = vars(client)
    else:
        import stacksafe.settings.installation as installation

        found = vars(installation)
    if name.startswith("_") or name not in found:
        raise AttributeError(f"module 'stacksafe.settings' has no attribute {name!r}")
    value: object = found[name]
    globals()[name] = value
    return value
