"""Writing a KV path: a whole map (put), a merge patch, and the delete of the latest version.

On an account path the map becomes the account's own set (exact KV semantics). On a stack path
the map is the desired effective set, compared with the current effective values, resolved:
an equal key is left alone (inherited stays inherited, a stored ``${REF}`` stays a reference),
a different or new key is set on the stack, a key the stack owns and the account does not
provide is unset; a write whose result would still show a key the account provides is refused
whole, naming the keys. ``cas`` is checked against the path version in the same transaction.
A value written through KV is stored with ``${`` escaped: it reads back literally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.data_keys import sealing_key
from stacksafe.core.expansion import check_expansion
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.guard import allow
from stacksafe.core.inheritance import inherits
from stacksafe.core.installation import Installation
from stacksafe.core.kv.versions import current_version
from stacksafe.core.level_reads import read_level, resolved_values
from stacksafe.core.references import escape_literal
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key, validate_value
from stacksafe.core.version_writes import append_version, prune_after_write
from stacksafe.errors import BrokenReferences, InvalidInput, NotFound
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import kv as kv_queries
from stacksafe.store import secrets as queries
from stacksafe.store.level_writes import lock_level

__all__ = [
    "CAS_MISMATCH",
    "CasMismatch",
    "KvWritten",
    "LevelState",
    "NothingToPatch",
    "level_state",
    "still_visible",
    "write_action",
    "write_path",
]

# Vault's exact words (hvac's tests and users match on them).
CAS_MISMATCH = "check-and-set parameter did not match the current version"
CAS_REQUIRED = "check-and-set parameter required for this call"


class NothingToPatch(NotFound):
    """A PATCH of a path without data (never written, or deleted): Vault answers a bare 404."""


class CasMismatch(InvalidInput):
    """The path is not at the version ``cas`` named (Vault answers 400)."""


@dataclass(frozen=True, slots=True)
class KvWritten:
    version: int
    warnings: list[str] = field(default_factory=list)


def checked_data(data: Mapping[str, object]) -> dict[str, str | None]:
    """A payload's keys and values as stacksafe stores them (None: removed, in a patch)."""
    checked: dict[str, str | None] = {}
    for key, value in data.items():
        validate_key(key)
        if value is not None and not isinstance(value, str):
            # The value itself is never echoed: a number may be a PIN.
            raise InvalidInput(
                f"value of {key!r} is {_json_type(value)}; stacksafe stores text: "
                "send it as a JSON string"
            )
        checked[key] = value
    return checked


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "an object" if isinstance(value, dict) else "an array"


@dataclass
class LevelState:
    """The level as a KV write sees it, inside the write's transaction."""

    effective: dict[str, str] = field(repr=False)  # resolved values a read shows
    own: set[str]  # keys the level holds itself
    provided: set[str]  # keys the account provides to this stack (none on an account path)


def level_state(conn: Connection, installation: Installation, target: Target) -> LevelState:
    found = read_level(conn, installation, target, None, True)
    resolved, _, broken = resolved_values(conn, installation, target, None, found)
    BrokenReferences.among(broken)
    effective = {s.key: s.raw_value.reveal() for s in resolved if s.raw_value is not None}
    if target.stack is None:
        return LevelState(effective, set(effective), set())
    own = {s.key for s in found if not s.inherited}
    environment = target.stack.environment
    provided = {
        row.key
        for row in queries.scope_secrets(conn, target.account.id, None)
        if inherits(environment, row.environments)
    }
    return LevelState(effective, own, provided)


def _check_cas(
    conn: Connection, target: Target, state: LevelState, cas: int | None, version: int
) -> None:
    metadata = kv_queries.path_metadata(conn, target.account.id, target.stack_id)
    if cas is None:
        if metadata is not None and metadata.cas_required:
            raise InvalidInput(CAS_REQUIRED)
        return
    if cas == 0:
        if state.effective:
            raise CasMismatch(CAS_MISMATCH)
        return
    if cas != version:
        raise CasMismatch(CAS_MISMATCH)


NAMED_KEYS = 10  # an account may give a stack hundreds of keys: the message names the first


def still_visible(target: Target, keys: set[str]) -> InvalidInput:
    ordered = sorted(keys)
    names = ", ".join(ordered[:NAMED_KEYS])
    if len(ordered) > NAMED_KEYS:
        names += f" and {len(ordered) - NAMED_KEYS} more"
    noun = "key" if len(keys) == 1 else "keys"
    verb = "is" if len(keys) == 1 else "are"
    return InvalidInput(
        f"{noun} {names} {verb} inherited from account {target.account.name!r} and would "
        f"still be visible; include them unchanged, change them at path "
        f"{target.account.name!r}, or use PATCH to change only the keys you name"
    )


def write_path(
    installation: Installation,
    actor: Principal,
    target: Target,
    data: Mapping[str, object],
    *,
    cas: int | None = None,
    patch: bool = False,
) -> KvWritten:
    """Write ``data`` to the path of ``target`` (a whole map, or a merge ``patch``: None
    removes a key); one transaction, one audit event; the new path version (unchanged when
    nothing changed: a no-op write keeps its number)."""
    payload = checked_data(data)
    if not patch and any(v is None for v in payload.values()):
        raise InvalidInput("a value is null; to remove a key, leave it out (or PATCH it to null)")
    limit = installation.max_value_bytes
    for key, value in payload.items():
        if value is not None:
            validate_value(key, SecretValue(escape_literal(value)), limit)
    allow(installation, actor, write_action(target), target.account, target.stack)

    def work(conn: Connection) -> KvWritten:
        lock_level(conn, target.account.id, target.stack_id)
        version = current_version(conn, target)
        state = level_state(conn, installation, target)
        if patch and not state.effective:
            raise NothingToPatch("")
        _check_cas(conn, target, state, cas, version)
        warnings: list[str] = []
        if patch:
            desired = dict(state.effective)
            for key, value in payload.items():
                if value is None:
                    desired.pop(key, None)
                else:
                    desired[key] = value
        else:
            desired = {k: v for k, v in payload.items() if v is not None}
        to_set = {k: v for k, v in desired.items() if state.effective.get(k) != v}
        gone = set(state.effective) - set(desired)
        refused = {k for k in gone if k in state.provided and (not patch or k not in state.own)}
        if refused:
            raise still_visible(target, refused)
        to_unset = sorted(k for k in gone if k in state.own)
        for key in to_unset:
            if key in state.provided:
                warnings.append(
                    f"{key} is inherited from account {target.account.name!r} and stays "
                    "visible with the account's value"
                )
        written = _apply(conn, installation, actor, target, to_set, to_unset)
        # A write that changes nothing keeps the version (vault-kv.md, decision 4), and is
        # recorded all the same: every request that changes or tries to, one event.
        new_version = version + 1 if written.keys else version
        detail: dict[str, object] = {"kv_version": new_version, "patch": patch, **written.detail}
        if not written.keys:
            detail["unchanged"] = True
        record(
            conn,
            installation,
            actor,
            "secret.kv_write",
            account=target.account,
            stack=target.stack,
            detail=detail,
        )
        if written.keys:
            prune_after_write(conn, installation, actor, target, list(written.keys))
        return KvWritten(new_version, warnings)

    level = (target.account.id, target.stack_id)
    return installation.store.transact(
        work, f"writing {target.describe()}", grouped=True, level=level
    )


@dataclass(frozen=True, slots=True)
class _Applied:
    keys: dict[str, int]  # key -> its new version (0: unknown)
    detail: dict[str, object]


def _apply(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    to_set: Mapping[str, str],
    to_unset: Sequence[str],
) -> _Applied:
    """Set and unset keys of the level (values escaped: they read back literally)."""
    now = installation.clock()
    written: dict[str, int] = {}
    prints: dict[str, str] = {}
    sealing = sealing_key(conn, installation, target, len(to_set)) if to_set else None
    for key, text in sorted(to_set.items()):
        sealed = SecretValue(escape_literal(text))
        secret = append_version(conn, target, key, sealed, sealing, actor.name, now)
        assert secret is not None  # noqa: S101 - a value was given
        written[key] = secret.version
        prints[key] = fingerprint(installation, sealed)
    for key in to_unset:
        head = queries.secret_head(conn, target.account.id, target.stack_id, key)
        append_version(conn, target, key, None, None, actor.name, now)
        written[key] = 0 if head is None else head.current_version + 1
    if written:
        check_expansion(conn, installation, target, list(written), written=list(to_set))
    return _Applied(written, {"keys": written, "fingerprints": prints, "unset": list(to_unset)})


def write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS
