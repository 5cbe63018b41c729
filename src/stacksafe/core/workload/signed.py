"""A JWT's claims once its signature checks out against an issuer's keys as kept by this process
(``Installation.issuer_keys``), fetching the keys again when the token names a key the set does
not have (the issuer rotated them), at most once every ``REFRESH_SECONDS`` per issuer; the keys
fetched are kept in the database. Workload logins (core.workload.login) and people's single
sign-on (core.oidc.tokens) both check their tokens here."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from stacksafe.core.installation import Installation
from stacksafe.core.workload.keys import KeysUnavailable
from stacksafe.crypto.jwt import JwkSet, UnknownKey, verified_claims
from stacksafe.store import Connection

__all__ = ["MAX_KEY_AGE", "claims_signed_by"]


# Keys kept longer than this are fetched again before they are used: an issuer that withdraws
# a key (compromised, retired) and publishes no new one is otherwise never asked again.
MAX_KEY_AGE = timedelta(hours=1)


def claims_signed_by(
    installation: Installation,
    token: str,
    *,
    key_id: Hashable,
    updated_at: datetime,
    jwks: str,
    fetch: Callable[[], JwkSet] | None,
    keep: Callable[[Connection, str, datetime], None],
    what: str,
) -> dict[str, Any]:
    """``token``'s claims checked against the key set ``jwks`` (stored at ``updated_at``) of
    the issuer ``key_id``. On an unknown ``kid``, or when the keys are older than
    ``MAX_KEY_AGE``, ``fetch()`` (None: the keys cannot be fetched, a file's) gets them again
    and ``keep(conn, jwks, now)`` stores them. ``UnknownKey`` when the key is still unknown,
    ``JwtRefused`` for any other failure."""
    keys = installation.issuer_keys.of(key_id, updated_at, jwks)
    if fetch is not None and installation.clock() - updated_at > MAX_KEY_AGE:
        keys = _fetched(installation, key_id, fetch, keep, what) or keys
    try:
        return verified_claims(token, keys)
    except UnknownKey:
        fresh = None if fetch is None else _fetched(installation, key_id, fetch, keep, what)
        if fresh is None:
            raise  # the refusal says "unknown key"; the keys kept stay as they were
    return verified_claims(token, fresh)


def _fetched(
    installation: Installation,
    key_id: Hashable,
    fetch: Callable[[], JwkSet],
    keep: Callable[[Connection, str, datetime], None],
    what: str,
) -> JwkSet | None:
    """The issuer's keys fetched again and stored, or None when they were fetched less than
    ``REFRESH_SECONDS`` ago or cannot be fetched now."""
    if not installation.issuer_keys.may_fetch(key_id):
        return None
    try:
        fresh = fetch()
    except KeysUnavailable:
        return None
    now = installation.clock()
    installation.store.transact(lambda conn: keep(conn, fresh.text, now), f"keeping {what}'s keys")
    installation.issuer_keys.keep(key_id, now, fresh)
    return fresh
