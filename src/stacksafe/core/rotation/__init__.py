"""Rotation of secrets: a policy per secret, its status, the engine that rotates, and labels.

Rotations run by hand, by cron (``stacksafe rotation run``) or by the server's scheduler.

A policy says how often a value should change (``rotate_every``), when it stops being valid
(``expires_at``, which belongs to the value it was given for: a new value needs its own), and
who makes the next value (a rotator, see ``core.rotators``). The clock of ``rotate_every``
starts when the current version was written, so changing a value by hand counts as rotating it.

A rotation with a pending phase (webhook, postgres) runs in three steps, each safe to
interrupt: (1) a transaction seals the new value, bound to the version it will become, and
claims the secret (a compare-and-set, so two servers never rotate one secret at once); (2) the
rotator puts it in place outside stacksafe and tests it, no transaction open; (3) a transaction
makes it current, unless someone wrote the key in the meantime (then the rotation is reported
as failed and the current value stays). A claim older than ``PENDING_TIMEOUT`` is taken over.

Labels, as AWS names them: ``current`` (the current version), ``previous`` (the one before it,
which a postgres rotation keeps valid until the next rotation) and ``pending`` (the new value
of a rotation in progress: what a webhook receiver reads).

The policy object is core.rotation.policy; setting, reading and clearing a policy
core.rotation.policies; the status report core.rotation.status; rotating core.rotation.engine;
labels core.rotation.labels. The scheduler thread of ``stacksafe serve`` is
api.rotation_scheduler.
"""

from __future__ import annotations

from stacksafe.core.rotation.engine import (
    PENDING_TIMEOUT,
    RotationOutcome,
    rotate_secret,
    run_due,
    run_scheduled,
)
from stacksafe.core.rotation.labels import LABELS, labelled_secret
from stacksafe.core.rotation.policies import MIN_INTERVAL, clear_policy, get_policy, set_policy
from stacksafe.core.rotation.policy import RotationPolicy
from stacksafe.core.rotation.status import RotationStatus, rotation_status

__all__ = [
    "LABELS",
    "MIN_INTERVAL",
    "PENDING_TIMEOUT",
    "RotationOutcome",
    "RotationPolicy",
    "RotationStatus",
    "clear_policy",
    "get_policy",
    "labelled_secret",
    "rotate_secret",
    "rotation_status",
    "run_due",
    "run_scheduled",
    "set_policy",
]
