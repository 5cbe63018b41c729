"""`run --fallback`: an encrypted copy of a stack's values for when the server is unreachable.

Each successful fetch writes the snapshot; only a fetch that got no answer at all (connection,
TLS, timeout: ``ServerUnreachable``) reads it. An answer such as 401 or 403 never does, so a
revoked token or a removed permission is not bypassed.

The snapshot lives in ``$XDG_CACHE_HOME/stacksafe/offline`` (mode 0600, directory 0700), one file
per server and stack, sealed under a key derived from the client's token, or from
``STACKSAFE_FALLBACK_PASSPHRASE`` when that is set. With the token, whoever holds the token and
the file can read it, even after the token is revoked. With a passphrase, the file alone is not
enough. Snapshots older than the maximum age are refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from stacksafe.core.materialize import write_private_file
from stacksafe.crypto.snapshot import open_snapshot, seal_snapshot
from stacksafe.errors import ConfigurationError, IntegrityError
from stacksafe.model import SecretValue, iso8601

__all__ = ["Snapshot", "load_snapshot", "save_snapshot", "snapshot_path"]


def _context(address: str, stack: str, account: str | None) -> bytes:
    return f"{address}\0{account or ''}\0{stack}".encode()


def snapshot_path(address: str, stack: str, account: str | None = None) -> Path:
    """One file per server, account (as given) and stack: two accounts' stacks of one name
    never share a snapshot."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = hashlib.sha256(_context(address, stack, account)).hexdigest()[:32]
    return base / "stacksafe" / "offline" / f"{name}.snapshot"


class Snapshot:
    def __init__(self, values: dict[str, SecretValue], created_at: str) -> None:
        self.values, self.created_at = values, created_at

    def __repr__(self) -> str:
        return f"Snapshot({len(self.values)} values, {self.created_at})"


def save_snapshot(
    values: Mapping[str, SecretValue],
    address: str,
    stack: str,
    kind: str,
    secret: str,
    now: datetime,
    *,
    account: str | None = None,
) -> Path:
    payload = json.dumps({k: v.reveal() for k, v in values.items()}).encode("utf-8")
    blob = seal_snapshot(payload, kind, secret, _context(address, stack, account), iso8601(now))
    path = snapshot_path(address, stack, account)
    write_private_file(path, blob)
    return path


def load_snapshot(
    address: str,
    stack: str,
    secret: str,
    max_age: timedelta,
    now: datetime,
    *,
    account: str | None = None,
) -> Snapshot:
    path = snapshot_path(address, stack, account)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"the server is unreachable and there is no offline snapshot of {stack!r} yet "
            "(one is written by each successful `run --fallback`)"
        ) from None
    payload, created_at = open_snapshot(blob, secret, _context(address, stack, account))
    taken = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    if now - taken > max_age:
        raise ConfigurationError(
            f"the server is unreachable and the offline snapshot of {stack!r} is from "
            f"{created_at}, older than the maximum age allowed"
        )
    try:
        values = {str(k): SecretValue(str(v)) for k, v in json.loads(payload).items()}
    except (ValueError, AttributeError):
        raise IntegrityError("the offline snapshot's contents are not a set of values") from None
    return Snapshot(values, created_at)
