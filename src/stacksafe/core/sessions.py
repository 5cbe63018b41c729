"""Web UI sessions: sign in (a password here, single sign-on in core.oidc), act as that user,
sign out.

A session is the equivalent of an unnarrowed token with both scopes (``public`` and ``admin``)
held by the signed-in user: it may do exactly what the user's roles allow, everywhere, and no
more. The cookie carries a random secret; the database keeps its keyed hash (like tokens), the
session's last activity, its absolute expiry, and when it ended. Sign-out, the idle timeout and a
password change end the row, so a copied cookie stops working at once on every server process.
Audit events of a session's requests carry the session's uid (``web_...``) as their token id.
"""

from __future__ import annotations

import hmac
import secrets as random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from stacksafe.core.access import SCOPES, Principal
from stacksafe.core.audit import record, record_denied
from stacksafe.core.guard import refuse
from stacksafe.core.guessing import address_counted
from stacksafe.core.installation import Installation
from stacksafe.core.principals import check_password, principal_for_user
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.errors import Forbidden, Unauthenticated
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import sessions as queries
from stacksafe.store.principals import StoredUser

__all__ = [
    "SESSION_PREFIX",
    "SIGN_IN_ACTOR",
    "WRONG",
    "FormRefusals",
    "SessionPolicy",
    "StartedSession",
    "csrf_token",
    "end_session",
    "open_session",
    "pre_session_csrf",
    "session_principal",
    "start_session",
]

SESSION_PREFIX = "sss_"
# Last activity is written at most this often: a page view is then a read, not a write.
TOUCH_EVERY = timedelta(seconds=30)
WRONG = "the email or the password is wrong"
SIGN_IN_ACTOR = "web:sign-in"  # who a refused sign-in is recorded as: nobody is signed in yet
# Who a refused form is recorded as when nobody is signed in.
ANONYMOUS = "web:anonymous"
# Anonymous refused forms are counted per address in windows this long (FormRefusals), for
# at most this many addresses at once (the least recently refused forgotten first).
FORM_WINDOW_SECONDS = 60
FORM_COUNTS_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_timeout: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class StartedSession:
    secret: str  # for the cookie; never stored
    uid: str


def _digest(installation: Installation, secret: str) -> bytes:
    return keyed_hash(installation, TOKEN_HASH).digest(b"web-session", secret.encode())


def csrf_token(installation: Installation, secret: str) -> str:
    """The session's CSRF token: derived from the cookie's secret, so a page of another origin,
    which cannot read the cookie, cannot know it."""
    return keyed_hash(installation, TOKEN_HASH).digest(b"web-csrf", secret.encode()).hex()


def pre_session_csrf(installation: Installation, nonce: str) -> str:
    """The CSRF token of the sign-in form, bound to a random pre-session cookie."""
    return keyed_hash(installation, TOKEN_HASH).digest(b"web-csrf-pre", nonce.encode()).hex()


def start_session(
    installation: Installation,
    email: str,
    password: SecretValue,
    policy: SessionPolicy,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
    replacing: str | None = None,
    denied: Callable[[str], None] | None = None,
) -> StartedSession:
    """Check the password and open a session; ``Unauthenticated`` (audited) when it is wrong.

    ``replacing``: the session cookie the browser sent with the sign-in, if any. When the new
    session is opened that one is ended (whoever's it was): the browser's cookie is replaced, so
    a copy of the old one must not keep working. ``denied(reason)`` records a wrong password
    instead of one event each (core.sign_in: a bounded number per address and window)."""
    user = check_password(installation, email, password)
    if user is None:
        if denied is not None:
            denied(WRONG)
        else:
            anonymous = Principal(name=SIGN_IN_ACTOR, source_ip=source_ip, request_id=request_id)
            # The email as typed is not recorded: it may be a password typed in the wrong field.
            record_denied(installation, anonymous, "session.start", WRONG)
        raise Unauthenticated(WRONG)
    return installation.store.transact(
        lambda conn: open_session(
            conn,
            installation,
            user,
            policy,
            method="password",
            source_ip=source_ip,
            request_id=request_id,
            replacing=replacing,
        ),
        "signing in",
    )


def open_session(
    conn: Connection,
    installation: Installation,
    user: StoredUser,
    policy: SessionPolicy,
    *,
    method: str,
    source_ip: str | None = None,
    request_id: str | None = None,
    replacing: str | None = None,
    detail: dict[str, Any] | None = None,
) -> StartedSession:
    """Open a session of ``user``, who signed in with ``method`` (``password``, ``sso``), in
    the caller's transaction, audited as ``session.start`` (with ``detail``)."""
    secret = SESSION_PREFIX + random.token_urlsafe(32)
    uid = "web_" + random.token_hex(8)
    digest = _digest(installation, secret)
    old_digest = _digest(installation, replacing) if replacing and _well_formed(replacing) else None
    now = installation.clock()
    if old_digest is not None:
        _end_replaced(conn, installation, old_digest, uid, now, source_ip, request_id)
    queries.prune_sessions(conn, user.id, now)  # keeps the table to the sessions in use
    queries.insert_session(
        conn,
        uid=uid,
        user_id=user.id,
        token_hash=digest,
        now=now,
        expires_at=now + policy.lifetime,
    )
    actor = replace(
        principal_for_user(conn, user),
        token_uid=uid,
        source_ip=source_ip,
        request_id=request_id,
    )
    record(
        conn,
        installation,
        actor,
        "session.start",
        detail={"session": uid, "method": method, **(detail or {})},
    )
    return StartedSession(secret, uid)


def _well_formed(secret: str) -> bool:
    return secret.isascii() and secret.startswith(SESSION_PREFIX) and len(secret) <= 100


def _end_replaced(
    conn: Connection,
    installation: Installation,
    digest: bytes,
    new_uid: str,
    now: datetime,
    source_ip: str | None,
    request_id: str | None,
) -> None:
    """End the session a new sign-in replaces (audited as its user's ``session.end``)."""
    found = queries.session_and_user_by_hash(conn, digest)
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        return
    session, holder = found
    if not queries.end_session(conn, session.id, now):
        return  # already ended
    actor = replace(
        principal_for_user(conn, holder),
        token_uid=session.uid,
        source_ip=source_ip,
        request_id=request_id,
    )
    record(
        conn,
        installation,
        actor,
        "session.end",
        detail={"session": session.uid, "replaced_by": new_uid},
    )


def session_principal(
    installation: Installation,
    secret: str,
    policy: SessionPolicy,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> Principal:
    """The signed-in user behind a session cookie; ``Unauthenticated`` when it is not (or no
    longer) valid. An idle or expired session is ended here, for good."""
    if not _well_formed(secret):
        raise Unauthenticated("not signed in")
    digest = _digest(installation, secret)
    with installation.store.read() as conn:
        found = queries.session_and_user_by_hash(conn, digest)
        if found is None or not hmac.compare_digest(found[0].token_hash, digest):
            raise Unauthenticated("not signed in")
        session, user = found
        if session.ended_at is not None or user.removed_at is not None:
            raise Unauthenticated("the session has ended; sign in again")
        principal = principal_for_user(conn, user)
    now = installation.clock()
    if now >= session.expires_at or now >= session.last_seen_at + policy.idle_timeout:
        installation.store.transact(
            lambda c: queries.end_session(c, session.id, now), "ending a session"
        )
        raise Unauthenticated("the session has expired; sign in again")
    if now - session.last_seen_at >= TOUCH_EVERY:
        installation.store.transact(
            lambda c: queries.touch_session(c, session.id, now), "session use"
        )
    return replace(
        principal,
        token_uid=session.uid,
        scopes=frozenset(SCOPES),  # an unnarrowed token with every scope: the user's roles rule
        source_ip=source_ip,
        request_id=request_id,
    )


def end_session(installation: Installation, actor: Principal, secret: str) -> None:
    """Sign out: the session's row is ended, so its cookie no longer works anywhere."""
    digest = _digest(installation, secret)

    def work(conn: Connection) -> None:
        found = queries.session_and_user_by_hash(conn, digest)
        if found is None or not queries.end_session(conn, found[0].id, installation.clock()):
            return
        record(conn, installation, actor, "session.end", detail={"session": found[0].uid})

    installation.store.transact(work, "signing out")


class FormRefusals:
    """Web forms refused by the Origin or CSRF check, recorded in bounded events.

    A signed-in user's refused form is one ``web.form`` event, ``denied``, as that user (its
    session cookie is ``SameSite=Strict``, so another site cannot make a browser send it). An
    anonymous one is what any site can make visiting browsers send, as many as it likes: those
    are counted per address and minute in this process, and the 1st, 2nd, 4th, 8th ... is
    recorded as ``web:anonymous`` with the count so far, as refused sign-ins are
    (core.sign_in), so a flood of forged forms cannot become a flood of audit writes. The
    form's fields are never recorded: they may hold a value or a password."""

    def __init__(
        self, installation: Installation, remembered: int = FORM_COUNTS_REMEMBERED
    ) -> None:
        self.installation = installation
        self._remembered = remembered
        self._counts: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._lock = threading.Lock()

    def refused(
        self,
        actor: Principal | None,
        reason: str,
        *,
        source_ip: str | None,
        request_id: str | None,
    ) -> None:
        """Record (or count) one refused form; ``AuditUnavailable`` and the like propagate."""
        if actor is not None:
            refuse(self.installation, actor, "web.form", Forbidden(reason))
            return
        count = self._count(address_counted(source_ip or "unknown"))
        if count & (count - 1):
            return
        who = Principal(name=ANONYMOUS, source_ip=source_ip, request_id=request_id)
        detail = {"failures": count, "window_seconds": FORM_WINDOW_SECONDS}
        refuse(self.installation, who, "web.form", Forbidden(reason), detail=detail)

    def _count(self, address: str) -> int:
        window = int(self.installation.clock().timestamp()) // FORM_WINDOW_SECONDS
        key = (address, window)
        with self._lock:
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            self._counts.move_to_end(key)
            while len(self._counts) > self._remembered:
                self._counts.popitem(last=False)
        return count
