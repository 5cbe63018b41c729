"""The reveal service: the one way a level's secrets are read, with the read's audit event.

Every face reads through ``reveal``: the API's list route and its hot path (api.hot_read), the
web UI, the CLI, ``list_secrets``/``get_secret``. It takes who asks (a principal, or a bearer
token to authenticate), which level (a target, or a stack/account reference to resolve for
the asker), and the query (reveal or describe, resolve references or not, one key or all, the
purpose), and gives back the secrets with a ``Receipt`` saying when the reveal's audit event is
durable. Nothing may be sent before it is: a reveal whose event cannot be written fails closed.

It owns the three ways a read is answered:

- **cold**: rows read in a read transaction, authenticated and decrypted (core.level_reads);
- **kept level**: the level as an earlier read opened it at the same database revision
  (core.read_cache); the event's detail for a whole kept level is made once per purpose, as stored;
- **at hand** (``wait=False``): for an event loop, nothing waited for: the token's principal
  kept under the principals revision (core.known_tokens), the stack read at once
  (store.nowait), the level kept, the permission given; the whole level or one key of it. If
  any of it is missing it answers None, having recorded and counted nothing, and the caller
  asks again with ``wait=True``, which reads, waits, refuses and records as always.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Literal, overload

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import append, append_later, detail_text
from stacksafe.core.guard import allow, record_damage
from stacksafe.core.installation import Installation
from stacksafe.core.level_reads import (
    cached_level,
    level_of,
    read_level,
    resolved_values,
    reveal_detail,
)
from stacksafe.core.principals import (
    authenticate,
    authenticate_for_stack,
    authenticate_for_stack_on_loop,
)
from stacksafe.core.read_cache import CachedLevel
from stacksafe.core.reveal_model import (
    AccountRef,
    Asker,
    Credential,
    Receipt,
    Revealed,
    RevealQuery,
    Snapshot,
    StackRef,
    Where,
    audit_unavailable,
)
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.errors import (
    Forbidden,
    IntegrityError,
    NotFound,
    StacksafeError,
)
from stacksafe.model import Secret

__all__ = [
    "AccountRef",
    "Credential",
    "Receipt",
    "RevealQuery",
    "Revealed",
    "Snapshot",
    "StackRef",
    "record_reveal",
    "reveal",
    "reveal_on_loop",
]


def _no_admission(_: Principal) -> None:
    return None


@overload
def reveal(
    installation: Installation,
    asker: Asker,
    where: Where,
    query: RevealQuery,
    *,
    admit: Callable[[Principal], None] = ...,
    wait: Literal[True] = ...,
) -> Revealed: ...


@overload
def reveal(
    installation: Installation,
    asker: Asker,
    where: Where,
    query: RevealQuery,
    *,
    admit: Callable[[Principal], None] = ...,
    wait: bool,
) -> Revealed | None: ...


def reveal(
    installation: Installation,
    asker: Asker,
    where: Where,
    query: RevealQuery,
    *,
    admit: Callable[[Principal], None] = _no_admission,
    wait: bool = True,
) -> Revealed | None:
    """Read ``where`` for ``asker`` as ``query`` asks, with its audit event appended.

    A ``Credential`` is authenticated first (``Unauthenticated`` if it is not valid); then
    ``admit(principal)`` runs once, before anything else is checked (a face's rate limit);
    then the level is resolved and the permissions checked, refusals recorded. ``wait``
    False: answered only when nothing has to be waited for (see the module), else None."""
    if not wait:
        return _at_hand(installation, asker, where, query, admit)
    actor, target = _who_and_where(installation, asker, where, admit)
    found, detail, kept, broken = _gathered(installation, actor, target, query)
    receipt = _receipt(installation, actor, target, detail)
    if query.reveal:
        installation.meter.revealed(query.purpose)
    return Revealed(actor, target, found, receipt, _snapshot(target, kept), broken)


def record_reveal(
    installation: Installation, actor: Principal, target: Target, detail: dict[str, object]
) -> None:
    """The audit event of a reveal that is not a read of live values (a past version, a
    pending rotation), durably written before any value is returned; if it cannot be
    written, ``AuditUnavailable`` and no values (fail closed)."""
    try:
        append(
            installation, actor, "reveal", account=target.account, stack=target.stack, detail=detail
        )
    except StacksafeError:
        raise
    except Exception as exc:
        raise audit_unavailable(exc) from None
    purpose = detail.get("purpose")
    installation.meter.revealed(purpose if isinstance(purpose, str) else "")


def _who_and_where(
    installation: Installation, asker: Asker, where: Where, admit: Callable[[Principal], None]
) -> tuple[Principal, Target]:
    if isinstance(asker, Principal):
        actor = asker
    elif isinstance(where, StackRef):
        # The token and the stack from one read (mostly one query).
        actor, stack_target = authenticate_for_stack(
            installation,
            asker.token,
            where.uid,
            source_ip=asker.source_ip,
            request_id=asker.request_id,
        )
        admit(actor)
        return actor, stack_target()
    else:
        actor = authenticate(
            installation, asker.token, source_ip=asker.source_ip, request_id=asker.request_id
        )
    if not isinstance(asker, Principal):
        admit(actor)
    if isinstance(where, Target):
        return actor, where
    if isinstance(where, StackRef):
        return actor, visible_target(installation, actor, stack_uid=where.uid, for_reading=True)
    return actor, visible_target(installation, actor, account_ref=where.ref)


def _at_hand(
    installation: Installation,
    asker: Asker,
    where: Where,
    query: RevealQuery,
    admit: Callable[[Principal], None],
) -> Revealed | None:
    """The read, when everything it takes is at hand (see the module); else None, having
    recorded and counted nothing. The same steps in the same order as the waiting read:
    the token, the stack, the admission, the permission, the audit event."""
    if not isinstance(asker, Credential) or not isinstance(where, StackRef):
        return None
    known = authenticate_for_stack(
        installation,
        asker.token,
        where.uid,
        source_ip=asker.source_ip,
        request_id=asker.request_id,
        wait=False,
    )
    return None if known is None else _answered_at_hand(installation, known, query, admit)


async def reveal_on_loop(
    installation: Installation,
    asker: Asker,
    where: Where,
    query: RevealQuery,
    *,
    admit: Callable[[Principal], None] = _no_admission,
) -> Revealed | None:
    """``reveal(..., wait=False)`` for an event loop: the same read at hand, its one database
    read awaited on the loop where the database is across the network (PostgreSQL), where
    ``wait=False`` would refuse it; None when not at hand (ask again with ``wait=True``)."""
    if not isinstance(asker, Credential) or not isinstance(where, StackRef):
        return None
    known = await authenticate_for_stack_on_loop(
        installation,
        asker.token,
        where.uid,
        source_ip=asker.source_ip,
        request_id=asker.request_id,
    )
    return None if known is None else _answered_at_hand(installation, known, query, admit)


def _answered_at_hand(
    installation: Installation,
    known: tuple[Principal, Callable[[], Target]],
    query: RevealQuery,
    admit: Callable[[Principal], None],
) -> Revealed | None:
    """The rest of a read at hand once the token and the stack are known (``_at_hand``)."""
    actor, target = known[0], known[1]()
    kept = cached_level(installation, target)
    if kept is None or (query.reveal and query.resolve and kept.references):
        return None
    try:
        authorize(actor, Action.DESCRIBE, target.account, target.stack)
        if query.reveal:
            authorize(actor, Action.REVEAL, target.account, target.stack)
    except (Forbidden, NotFound):
        return None  # refused by the waiting read, which records the refusal
    # From here on the read is answered here: admitted once, by this path.
    admit(actor)
    found = kept.secrets(query.key, query.reveal)
    if query.key is None:
        stored = _kept_detail_text(installation, kept, query) if query.reveal and found else None
        receipt = _receipt_of_stored(installation, actor, target, stored)
        snapshot = _snapshot(target, kept)
    else:  # one key: its event as the waiting read makes it; not a whole level
        detail = (
            _detail(installation, query, found, found, {}, {}) if query.reveal and found else None
        )
        receipt = _receipt(installation, actor, target, detail)
        snapshot = None
    if query.reveal:
        installation.meter.revealed(query.purpose)
    return Revealed(actor, target, found, receipt, snapshot)


def _snapshot(target: Target, kept: CachedLevel | None) -> Snapshot | None:
    return None if kept is None else Snapshot(level_of(target), kept.revision)


Gathered = tuple[list[Secret], dict[str, object] | str | None, CachedLevel | None, dict[str, str]]


def _gathered(
    installation: Installation, actor: Principal, target: Target, query: RevealQuery
) -> Gathered:
    """The secrets a read gives, the detail of its audit event (None: no event; a string:
    as stored), and the kept level when the secrets are exactly that whole level, as kept.
    Damaged stored data met on the way is recorded (one event) and raised."""
    try:
        return _gather(installation, actor, target, query)
    except IntegrityError as damaged:
        detail: dict[str, object] = {"purpose": query.purpose}
        if query.key is not None:
            detail["key"] = query.key
        raise record_damage(
            installation,
            actor,
            (Action.REVEAL if query.reveal else Action.DESCRIBE).value,
            damaged,
            account=target.account,
            stack=target.stack,
            **detail,
        ) from None


def _gather(
    installation: Installation, actor: Principal, target: Target, query: RevealQuery
) -> Gathered:
    key, resolve = query.key, query.resolve
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, key=key)
    if not query.reveal:
        described = cached_level(installation, target)
        if described is not None:
            return described.secrets(key, False), None, described if key is None else None, {}
        with installation.store.read() as conn:
            return read_level(conn, installation, target, key, False), None, None, {}
    allow(installation, actor, Action.REVEAL, target.account, target.stack, key=key)
    # Read and decrypt in a read transaction (no lock held); the event, which names the exact
    # versions read, is appended afterwards in a group commit, and only once it is durable
    # are the values returned: a reveal whose event cannot be written fails.
    used: dict[str, list[str]] = {}
    broken: dict[str, str] = {}
    kept = cached_level(installation, target)
    if kept is not None and not (resolve and kept.references):
        stored = found = kept.secrets(key, True)
        if key is None and found:
            return found, _kept_detail_text(installation, kept, query), kept, {}
    else:
        with installation.store.read() as conn:
            stored = (
                read_level(conn, installation, target, key, True)
                if kept is None
                else kept.secrets(key, True)
            )
            found = stored
            if resolve:
                found, used, broken = resolved_values(conn, installation, target, key, stored)
    if not found:
        return found, None, None, broken
    return found, _detail(installation, query, found, stored, used, broken), None, broken


def _detail(
    installation: Installation,
    query: RevealQuery,
    found: Sequence[Secret],
    stored: Sequence[Secret],
    used: dict[str, list[str]],
    broken: Mapping[str, str],
) -> dict[str, object]:
    """The audit event's detail of revealing ``found`` (``stored`` as read, before references
    were resolved into it): keys, versions, fingerprints, the purpose, what was resolved."""
    rewritten = {a.key for a, b in zip(found, stored, strict=True) if a is not b}
    # A broken key was not revealed: the event lists it apart, without a version or print.
    given = [s for s in found if s.key not in broken] if broken else found
    detail = reveal_detail(installation, given, rewritten)
    detail["purpose"] = query.purpose
    if used:
        detail["references"] = used
    elif not query.resolve:
        detail["unresolved"] = True
    if broken:
        detail["broken"] = sorted(broken)
    return detail


def _kept_detail_text(installation: Installation, kept: CachedLevel, query: RevealQuery) -> str:
    """The event detail of revealing a whole kept level, as stored: made once per level,
    revision and purpose (the same keys, versions and fingerprints every time)."""
    resolve = query.resolve

    def unresolved() -> dict[str, object]:
        detail = reveal_detail(installation, kept.revealed)
        if not resolve:
            detail["unresolved"] = True
        return detail

    detail = kept.memo(("reveal-detail", resolve), unresolved)
    return kept.memo(
        ("reveal-detail-text", resolve, query.purpose),
        lambda: detail_text({**detail, "purpose": query.purpose}),
    )


def _receipt(
    installation: Installation,
    actor: Principal,
    target: Target,
    detail: dict[str, object] | str | None,
) -> Receipt:
    if isinstance(detail, str) or detail is None:
        return _receipt_of_stored(installation, actor, target, detail)
    return _appended(
        lambda: append_later(
            installation, actor, "reveal", account=target.account, stack=target.stack, detail=detail
        )
    )


def _receipt_of_stored(
    installation: Installation, actor: Principal, target: Target, stored: str | None
) -> Receipt:
    if stored is None:
        return Receipt(None)
    return _appended(
        lambda: append_later(
            installation,
            actor,
            "reveal",
            account=target.account,
            stack=target.stack,
            stored_detail=stored,
        )
    )


def _appended(append_event: Callable[[], Future[int]]) -> Receipt:
    try:
        return Receipt(append_event())
    except StacksafeError:
        raise
    except Exception as exc:
        raise audit_unavailable(exc) from None
