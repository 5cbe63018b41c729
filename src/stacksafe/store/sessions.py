"""Queries for web UI sessions, stored by the keyed hash of their cookie secret only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from stacksafe.store.principals import StoredUser, holder_of
from stacksafe.store.schema import users, web_sessions

__all__ = [
    "StoredSession",
    "end_session",
    "end_sessions_of",
    "insert_session",
    "prune_sessions",
    "session_and_user_by_hash",
    "touch_session",
]


@dataclass(frozen=True, slots=True)
class StoredSession:
    id: int
    uid: str
    user_id: int
    token_hash: bytes
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None


def _session(row: Row[Any]) -> StoredSession:
    return StoredSession(
        row.id,
        row.uid,
        row.user_id,
        bytes(row.token_hash),
        row.created_at,
        row.last_seen_at,
        row.expires_at,
        row.ended_at,
    )


def insert_session(
    conn: Connection,
    *,
    uid: str,
    user_id: int,
    token_hash: bytes,
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        insert(web_sessions).values(
            uid=uid,
            user_id=user_id,
            token_hash=token_hash,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            ended_at=None,
        )
    )


_SESSION_AND_USER = select(*web_sessions.c, *(c.label(f"holder_{c.name}") for c in users.c)).join(
    users, users.c.id == web_sessions.c.user_id
)


def session_and_user_by_hash(
    conn: Connection, token_hash: bytes
) -> tuple[StoredSession, StoredUser] | None:
    row = conn.execute(_SESSION_AND_USER.where(web_sessions.c.token_hash == token_hash)).first()
    if row is None:
        return None
    return _session(row), holder_of(row)


def touch_session(conn: Connection, session_id: int, now: datetime) -> None:
    conn.execute(
        update(web_sessions)
        .where(web_sessions.c.id == session_id, web_sessions.c.ended_at.is_(None))
        .values(last_seen_at=now)
    )


def end_session(conn: Connection, session_id: int, now: datetime) -> bool:
    result = conn.execute(
        update(web_sessions)
        .where(web_sessions.c.id == session_id, web_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return result.rowcount == 1


def end_sessions_of(conn: Connection, user_id: int, now: datetime) -> int:
    """End every open session of a user (their password changed)."""
    result = conn.execute(
        update(web_sessions)
        .where(web_sessions.c.user_id == user_id, web_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(result.rowcount)


def prune_sessions(conn: Connection, user_id: int, now: datetime) -> int:
    """Forget a user's sessions that ended or expired: their rows have no use left (the audit
    log keeps what happened in them)."""
    result = conn.execute(
        delete(web_sessions).where(
            web_sessions.c.user_id == user_id,
            or_(web_sessions.c.ended_at.is_not(None), web_sessions.c.expires_at <= now),
        )
    )
    return int(result.rowcount)
