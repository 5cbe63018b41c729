"""KV deletes on stacksafe's immutable history: soft delete and undelete of the latest version
(the level's own keys unset, then written again), and ``DELETE metadata`` (every own value
unset and destroyed, the path forgotten by KV while its version numbers go on).

Deleting or undeleting the latest version is not a new version of the path (Vault's numbering:
the current version gets a ``deletion_time``); the level write is pinned uncounted for this
path (store.level_writes), while the account's stacks still count an account path's delete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from stacksafe.core.access import Principal
from stacksafe.core.audit import record
from stacksafe.core.data_keys import sealing_key
from stacksafe.core.expansion import check_expansion
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.kv.versions import PathVersion, level_as_of, path_history
from stacksafe.core.kv.writes import level_state, still_visible, write_action
from stacksafe.core.tenancy import Target
from stacksafe.core.version_writes import append_version, prune_after_write
from stacksafe.errors import Forbidden, InvalidInput
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import kv as kv_queries
from stacksafe.store import secrets as queries
from stacksafe.store.level_writes import level_write, lock_level

__all__ = [
    "LIVE_DESTROY",
    "delete_versions",
    "destroy_versions",
    "forget_path",
    "undelete_versions",
]

LIVE_DESTROY = "stacksafe never destroys a live value; write a new value or delete first"


def _unset_own(
    conn: Connection, installation: Installation, actor: Principal, target: Target
) -> dict[str, int]:
    """Unset every own key of the level (tombstones); key -> its new version."""
    state = level_state(conn, installation, target)
    if state.provided & set(state.effective):
        raise still_visible(target, state.provided & set(state.effective))
    now = installation.clock()
    unset: dict[str, int] = {}
    for key in sorted(state.own):
        head = queries.secret_head(conn, target.account.id, target.stack_id, key)
        append_version(conn, target, key, None, None, actor.name, now)
        unset[key] = 0 if head is None else head.current_version + 1
    return unset


def delete_versions(
    installation: Installation,
    actor: Principal,
    target: Target,
    numbers: Sequence[int] | None = None,
) -> None:
    """Soft-delete versions of the path (``numbers`` None: the latest, ``DELETE data/<path>``),
    in one transaction with one audit event. The latest has every own key of the level unset
    and is marked deleted (refused on a stack that would still show inherited keys, section 5.3
    of the mapping); an older one is a KV flag only, the stored history untouched. Unknown,
    destroyed and already deleted versions are skipped, as Vault does."""
    allow(installation, actor, write_action(target), target.account, target.stack)

    def work(conn: Connection) -> None:
        lock_level(conn, target.account.id, target.stack_id)
        history = path_history(conn, target)
        wanted = {history.current} if numbers is None else set(numbers)
        now = installation.clock()
        unset: dict[str, int] = {}
        deleted = []
        for number in sorted(wanted):
            found = history.get(number)
            if found is None or found.destroyed or found.deletion_time is not None:
                continue
            latest = number == history.current
            if latest:
                level_write(conn, target.account.id, target.stack_id, now, counted=False, pin=True)
                unset = _unset_own(conn, installation, actor, target)
            flags = kv_queries.VersionFlags(deleted_at=now, destroyed=False, emptied=latest)
            kv_queries.set_version_flags(conn, target.account.id, target.stack_id, number, flags)
            deleted.append(number)
        if unset:
            check_expansion(conn, installation, target, list(unset))
        record(
            conn,
            installation,
            actor,
            "secret.kv_delete",
            account=target.account,
            stack=target.stack,
            detail={"keys": unset, "kv_versions": deleted},
        )
        if unset:
            prune_after_write(conn, installation, actor, target, list(unset))

    installation.store.transact(work, f"deleting versions of {target.describe()}")


def _restore(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    version: PathVersion,
) -> dict[str, int]:
    """Write again the own values ``version`` had and the level lacks now: key -> version."""
    stack_level = target.stack is not None
    values = level_as_of(conn, installation, target, stack_level, version.write_id)
    live = {s.key for s in queries.scope_secrets(conn, target.account.id, target.stack_id)}
    missing = {k: v for k, v in values.items() if k not in live}
    if not missing:
        return {}
    sealing = sealing_key(conn, installation, target, len(missing))
    now = installation.clock()
    restored: dict[str, int] = {}
    for key, text in sorted(missing.items()):
        written = append_version(
            conn, target, key, SecretValue(text), sealing, actor.name, now, action="undelete"
        )
        assert written is not None  # noqa: S101 - a value was given
        restored[key] = written.version
    check_expansion(conn, installation, target, list(restored))
    prune_after_write(conn, installation, actor, target, list(restored))
    return restored


def undelete_versions(
    installation: Installation, actor: Principal, target: Target, numbers: Sequence[int]
) -> None:
    """Undelete versions: an older one flagged deleted is served again; one deleted as the
    latest has its own keys written again, as the same version when it is still the latest,
    else as a new one (an account write came after). Others are ignored, as Vault does."""
    allow(installation, actor, write_action(target), target.account, target.stack)

    def work(conn: Connection) -> None:
        lock_level(conn, target.account.id, target.stack_id)
        history = path_history(conn, target)
        restored: dict[str, int] = {}
        undeleted = []
        for number in sorted(set(numbers)):
            found = history.get(number)
            if found is None or found.deletion_time is None or found.destroyed:
                continue
            if found.emptied:
                if number == history.current:
                    now = installation.clock()
                    level_write(
                        conn, target.account.id, target.stack_id, now, counted=False, pin=True
                    )
                restored.update(_restore(conn, installation, actor, target, found))
            flags = kv_queries.VersionFlags(None, False, False)
            kv_queries.set_version_flags(conn, target.account.id, target.stack_id, number, flags)
            undeleted.append(number)
        record(
            conn,
            installation,
            actor,
            "secret.kv_undelete",
            account=target.account,
            stack=target.stack,
            detail={"kv_versions": undeleted, "keys": restored},
        )

    installation.store.transact(work, f"undeleting versions of {target.describe()}")


def _used_by(conn: Connection, target: Target, write_ids: Sequence[int]) -> set[tuple[str, int]]:
    """The level's own key versions (key, version) that the path versions made by
    ``write_ids`` show."""
    used: set[tuple[str, int]] = set()
    for write_id in write_ids:
        rows = kv_queries.versions_as_of_write(conn, target.account.id, target.stack_id, write_id)
        used |= {(key, stored.version) for key, _, stored in rows if not stored.is_deletion}
    return used


def destroy_versions(
    installation: Installation, actor: Principal, target: Target, numbers: Sequence[int]
) -> None:
    """Destroy versions of the path: KV never serves them again, and the values of the
    level's own that they show are erased (stacksafe's destroy: the ciphertext goes, the
    version row stays) unless a version still served or a current value shows them too:
    stacksafe keeps one copy of a value per key version, shared by every path version in which
    it did not change. The latest is refused (a live value is never destroyed). On an account
    path, a stack path's older version showing an erased value reads as destroyed too."""
    allow(installation, actor, write_action(target), target.account, target.stack)

    def work(conn: Connection) -> None:
        lock_level(conn, target.account.id, target.stack_id)
        history = path_history(conn, target)
        wanted = set(numbers)
        if history.current in wanted:
            raise InvalidInput(LIVE_DESTROY)
        chosen = [v for v in history.versions if v.number in wanted and not v.destroyed]
        kept = [
            v.write_id
            for v in history.versions
            if v.number not in wanted and not v.destroyed and v.number > history.forgotten
        ]
        heads = dict(queries.scope_heads(conn, target.account.id, target.stack_id))
        keep = _used_by(conn, target, kept)
        keep |= {(key, head.current_version) for key, head in heads.items()}
        erase = _used_by(conn, target, [v.write_id for v in chosen]) - keep
        now = installation.clock()
        erased: dict[str, list[int]] = {}
        for key, key_version in sorted(erase):
            if queries.destroy_version(conn, heads[key].id, key_version, now):
                erased.setdefault(key, []).append(key_version)
        for path_version in chosen:
            flags = kv_queries.VersionFlags(path_version.deletion_time, True)
            kv_queries.set_version_flags(
                conn, target.account.id, target.stack_id, path_version.number, flags
            )
        record(
            conn,
            installation,
            actor,
            "secret.kv_destroy",
            account=target.account,
            stack=target.stack,
            detail={"kv_versions": [v.number for v in chosen], "destroyed_versions": erased},
        )

    installation.store.transact(work, f"destroying versions of {target.describe()}")


def forget_path(installation: Installation, actor: Principal, target: Target) -> None:
    """``DELETE metadata/<path>``: unset every own value of the level and destroy their stored
    versions, clear its KV metadata and flags; KV then answers 404 for the path and every
    version it had, and a later write numbers on. Needs a token with the admin scope. On an
    account path this erases what every stack of the account inherits (the event says so)."""
    if actor.scopes is not None and "admin" not in actor.scopes:
        raise Forbidden("deleting a path's metadata and history needs a token with the admin scope")
    allow(installation, actor, write_action(target), target.account, target.stack)

    def work(conn: Connection) -> None:
        lock_level(conn, target.account.id, target.stack_id)
        now = installation.clock()
        history = path_history(conn, target)
        # Not a version of this path (it is forgotten): the next write is the one after.
        level_write(conn, target.account.id, target.stack_id, now, counted=False, pin=True)
        unset = _unset_own(conn, installation, actor, target)
        destroyed: dict[str, list[int]] = {}
        for key, head in queries.scope_heads(conn, target.account.id, target.stack_id):
            gone = queries.prune_versions(conn, head.id, head.current_version + 1, now)
            if gone:
                destroyed[key] = gone
        kv_queries.clear_flags(conn, target.account.id, target.stack_id)
        kv_queries.save_path_metadata(
            conn, target.account.id, target.stack_id, json.dumps({}), False, now, history.current
        )
        detail: dict[str, object] = {"keys": unset, "destroyed_versions": destroyed}
        if target.stack is None:
            detail["inherited_by_stacks"] = True
        record(
            conn,
            installation,
            actor,
            "secret.kv_forget",
            account=target.account,
            stack=target.stack,
            detail=detail,
        )

    installation.store.transact(work, f"deleting the metadata of {target.describe()}")
