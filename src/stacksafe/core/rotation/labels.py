"""Rotation labels: the version ``current``, ``previous`` or ``pending`` names, read by label.

As AWS names them: ``current`` (the current version), ``previous`` (the one before it, which a
postgres rotation keeps valid until the next rotation) and ``pending`` (the new value of a
rotation in progress: what a webhook receiver reads).
"""

from __future__ import annotations

from stacksafe.core.access import Action, Principal
from stacksafe.core.data_keys import scope_keys
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.reveal import record_reveal
from stacksafe.core.rotation.policies import live_head
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key
from stacksafe.crypto import encode_value
from stacksafe.errors import InvalidInput, NotFound
from stacksafe.model import Secret, SecretValue
from stacksafe.store import rotation as queries
from stacksafe.store import secrets as secret_queries

__all__ = ["LABELS", "labelled_secret"]

LABELS = ("current", "previous", "pending")


def labelled_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    label: str,
    *,
    reveal: bool = False,
) -> Secret:
    """The version of ``key`` (at ``target``'s own level) that ``label`` names."""
    validate_key(key)
    if label not in LABELS:
        raise InvalidInput(f"label {label!r} is not one of {', '.join(LABELS)}")
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, key=key)
    if reveal:
        allow(installation, actor, Action.REVEAL, target.account, target.stack, key=key)
    with installation.store.read() as conn:
        head = live_head(conn, target, key)
        if label == "pending":
            stored = queries.policy_of(conn, head.id)
            if stored is None or stored.pending_version is None or stored.pending_envelope is None:
                raise NotFound(f"no rotation of {key!r} is in progress")
            assert stored.pending_since is not None  # noqa: S101 - set with pending_version
            version, envelope, at = (
                stored.pending_version,
                stored.pending_envelope,
                stored.pending_since,
            )
        else:
            wanted = head.current_version - (label == "previous")
            chosen = next(
                (v for v in secret_queries.versions_of(conn, head.id) if v.version == wanted), None
            )
            if chosen is None or chosen.envelope is None:
                raise NotFound(f"{key!r} has no {label} value (a deletion, destroyed, or none)")
            version, envelope, at = chosen.version, chosen.envelope, chosen.created_at
        keys = scope_keys(conn, installation, target)[target.stack is not None]
        plaintext = SecretValue(keys.open(envelope, key, version).decode("utf-8"))
    if reveal:
        record_reveal(
            installation,
            actor,
            target,
            {
                "keys": {key: version},
                "fingerprints": {key: fingerprint(installation, plaintext)},
                "label": label,
                "purpose": "label",
            },
        )
    return Secret(
        key,
        encode_value(envelope),
        target.stack is None,
        version,
        head.created_at,
        at,
        plaintext if reveal else None,
    )
