"""Damage done to stored secrets through SQL, as someone with database access (or a broken
disk, a careless migration, a bad restore) could do it: one function per kind, on SQLite and
PostgreSQL alike, shared by the core, API, CLI and end-to-end tests of failing closed.

``seed`` writes the values every kind damages: ``K`` on the account (inherited) and on the stack
(the stack's override, the row damaged), and ``OTHER`` on the stack. ``damage`` then damages the
stack's ``K``. Every kind must make each read of ``K`` (or of the stack) an integrity error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, delete, select, text, update

from stacksafe.store.schema import secret_versions, secrets

__all__ = ["INHERITED", "KINDS", "OTHER", "OVERRIDE", "damage", "values_seeded"]

INHERITED = "inherited-value-of-K"
OVERRIDE = "override-value-of-K"
OTHER = "value-of-OTHER"

KINDS = [
    "null_envelope",  # the current version's envelope set to NULL
    "text_envelope",  # the value's text written into the envelope column (TEXT on SQLite)
    "truncated",  # the envelope cut short
    "flipped_bit",  # one bit of the ciphertext flipped
    "wrong_key_version",  # the envelope names a data-key version that does not exist
    "missing_version",  # the secret's pointer names a version row that does not exist
    "other_secrets_version",  # the pointer's version row is another secret's, moved over
    "deleted_flag",  # the pointer row marked deleted while its version holds a value
]


def values_seeded() -> dict[str, dict[str, str]]:
    """What ``seed`` should write: by level (``account``, ``stack``), key to value."""
    return {"account": {"K": INHERITED}, "stack": {"K": OVERRIDE, "OTHER": OTHER}}


def _pointer(conn: Connection, stack_uid_id: int, key: str) -> Any:
    return conn.execute(
        select(secrets.c.id, secrets.c.current_version).where(
            secrets.c.stack_id == stack_uid_id, secrets.c.key == key
        )
    ).one()


def _current_row(conn: Connection, pointer: Any) -> Any:
    return conn.execute(
        select(secret_versions.c.id, secret_versions.c.envelope).where(
            secret_versions.c.secret_id == pointer.id,
            secret_versions.c.version == pointer.current_version,
        )
    ).one()


def damage(engine: Engine, stack_id: int, kind: str) -> None:
    """Damage the current version of the stack's own ``K`` (stack row ``stack_id``)."""
    with engine.begin() as conn:
        pointer = _pointer(conn, stack_id, "K")
        row = _current_row(conn, pointer)
        envelope = bytes(row.envelope)
        by_id = secret_versions.c.id == row.id
        if kind == "null_envelope":
            conn.execute(update(secret_versions).where(by_id).values(envelope=None))
        elif kind == "text_envelope":
            # What a tool that wrote the API's ``value`` string back would store: TEXT on
            # SQLite (a BLOB column takes it), that text's bytes on PostgreSQL (bytea).
            written = "encrypted:AES256:" + envelope.hex()
            if engine.dialect.name == "sqlite":
                conn.execute(
                    text("UPDATE secret_versions SET envelope = :v WHERE id = :id"),
                    {"v": written, "id": row.id},
                )
            else:
                conn.execute(
                    text(
                        "UPDATE secret_versions SET envelope = convert_to(:v, 'UTF8') "
                        "WHERE id = :id"
                    ),
                    {"v": written, "id": row.id},
                )
        elif kind == "truncated":
            conn.execute(update(secret_versions).where(by_id).values(envelope=envelope[:10]))
        elif kind == "flipped_bit":
            flipped = envelope[:-1] + bytes([envelope[-1] ^ 0x01])
            conn.execute(update(secret_versions).where(by_id).values(envelope=flipped))
        elif kind == "wrong_key_version":
            renamed = envelope[:1] + (7).to_bytes(4, "big") + envelope[5:]
            conn.execute(update(secret_versions).where(by_id).values(envelope=renamed))
        elif kind == "missing_version":
            conn.execute(
                update(secrets)
                .where(secrets.c.id == pointer.id)
                .values(current_version=pointer.current_version + 5)
            )
        elif kind == "other_secrets_version":
            other = _pointer(conn, stack_id, "OTHER")
            conn.execute(delete(secret_versions).where(by_id))
            conn.execute(
                update(secret_versions)
                .where(
                    secret_versions.c.secret_id == other.id,
                    secret_versions.c.version == other.current_version,
                )
                .values(secret_id=pointer.id, version=pointer.current_version)
            )
        elif kind == "deleted_flag":
            conn.execute(update(secrets).where(secrets.c.id == pointer.id).values(deleted=True))
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)
