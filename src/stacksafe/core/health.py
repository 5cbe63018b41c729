"""Readiness: the database answers, the master key is loaded, and the audit log takes appends."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from stacksafe.core.audit_chain import GENESIS
from stacksafe.core.installation import Installation
from stacksafe.store import health as probes

__all__ = ["readiness"]

# A row as an append writes one (rolled back at once): it meets every trigger and permission.
_PROBE = {
    "seq": -1,
    "at": datetime(2000, 1, 1, tzinfo=UTC),
    "actor": "readyz",
    "token_uid": None,
    "source_ip": None,
    "request_id": None,
    "action": "probe",
    "outcome": "ok",
    "account_uid": None,
    "stack_uid": None,
    "detail": "{}",
    "prev_hash": GENESIS,
    "hash": GENESIS,
    "detail_digest": None,
}


def readiness(installation: Installation) -> dict[str, str]:
    """Each check's state: "ok" or what is wrong (never an exception)."""
    checks: dict[str, str] = {}
    try:
        probes.answers(installation.store)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
    checks["master_key"] = "ok" if installation.data_keys.keyring.versions else "missing"
    try:
        # Take the audit head's lock as an append does, then roll back: reveals and writes are
        # refused when this fails, so readiness must say so.
        probes.takes_audit_row(installation.store, GENESIS, _PROBE)
        checks["audit"] = _full_disk(installation) or "ok"
    except Exception as exc:
        checks["audit"] = f"not writable ({type(exc).__name__})"
    checkpoint = installation.audit_checkpoint
    if checkpoint is not None:
        # The problem now, not when its thread last looked: a write tried again, else the file
        # compared with the head (a rollback is seen before the next append). Only the kind of
        # problem is shown (no path, no event number: readiness is public); the log has it all.
        checkpoint.flush(write=checkpoint.problem is not None)
        checks["audit_checkpoint"] = checkpoint.summary or "ok"
    return checks


def _full_disk(installation: Installation) -> str | None:
    """What says the next append cannot be written for lack of space, or None.

    A probe that is rolled back never reaches SQLite's disk (the WAL is written at commit),
    so it passes on a full disk: the free space of the filesystems the audit log is written
    to tells instead (the SQLite database's, and the checkpoint's). PostgreSQL's disk is the
    database server's: its probe fails when a page cannot be added.
    """
    places = {
        "database": installation.store.database_file,
        "audit checkpoint": None
        if installation.audit_checkpoint is None
        else installation.audit_checkpoint.path,
    }
    for what, path in places.items():
        if path is None:
            continue
        free = _free_bytes(path.parent)
        if free is not None and free < installation.audit_min_free_bytes:
            return (
                f"not writable (the filesystem of the {what} has {free} bytes free, below "
                f"{installation.audit_min_free_bytes} (STACKSAFE_AUDIT_MIN_FREE_BYTES): disk full)"
            )
    return None


def _free_bytes(directory: Path) -> int | None:
    """Bytes an unprivileged writer may still use there; None when it cannot be told."""
    try:
        found = os.statvfs(directory)
    except OSError:
        return None  # a checkpoint directory not made yet: its writer reports its problems
    return found.f_bavail * found.f_frsize
