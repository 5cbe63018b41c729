"""Web UI passwords: setting one (Argon2id) and checking one at sign-in."""

from __future__ import annotations

import secrets as random
from functools import cache
from typing import TYPE_CHECKING

from stacksafe.core.access import Principal
from stacksafe.core.audit import record, record_denied
from stacksafe.core.installation import Installation
from stacksafe.core.principals.users import EMAIL, user_named
from stacksafe.errors import Forbidden, InvalidInput
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import principals as queries
from stacksafe.store import sessions as session_queries
from stacksafe.store.principals import StoredUser

__all__ = ["MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "check_password", "set_password"]

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # Argon2 takes any length; this bounds the work one request can ask for


if TYPE_CHECKING:
    from argon2 import PasswordHasher


@cache
def _hasher() -> PasswordHasher:
    # Imported on first use: only sign-in and set-password need it, not every CLI start.
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id, the library's defaults (its cost: bench/README.md)


@cache
def _decoy_hash() -> str:
    """A hash to check unknown users against, so that a wrong email takes as long as a wrong
    password and the sign-in's timing does not tell which emails are users."""
    return _hasher().hash(random.token_urlsafe(16))


def set_password(
    installation: Installation, actor: Principal, email: str, password: SecretValue
) -> None:
    """Give ``email`` a web UI password (the server owner, or the user themself); this ends
    every web session the user has open."""
    text = password.reveal()
    if len(text) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(text) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password can have at most {MAX_PASSWORD_CHARS} characters")
    if not (actor.is_owner or actor.name == email):
        refused = Forbidden("only the server owner may set other users' passwords")
        record_denied(
            installation, actor, "user.set_password", refused.message, detail={"user": email}
        )
        raise refused
    hashed = _hasher().hash(text)  # outside the transaction: it is slow on purpose

    def work(conn: Connection) -> None:
        user = user_named(conn, email)
        now = installation.clock()
        queries.set_password_hash(conn, user.id, hashed, now)
        ended = session_queries.end_sessions_of(conn, user.id, now)
        record(
            conn, installation, actor, "user.set_password", detail={"user": email, "ended": ended}
        )

    installation.store.transact(work, f"setting the password of {email!r}")


def check_password(
    installation: Installation, email: str, password: SecretValue
) -> StoredUser | None:
    """The user when ``password`` is theirs; None for a wrong password, an unknown user or a
    user without a password, in about the same time for all three."""
    if len(password) > MAX_PASSWORD_CHARS:
        return None
    with installation.store.read() as conn:
        found = queries.user_with_password(conn, email) if EMAIL.fullmatch(email) else None
    user, hashed = found if found is not None else (None, None)
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        _hasher().verify(hashed or _decoy_hash(), password.reveal())
    except (VerificationError, InvalidHashError):
        return None
    if hashed is None or user is None or user.removed_at is not None:
        return None  # a removed user's password was cleared; checked all the same
    return user
