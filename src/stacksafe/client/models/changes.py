"""The SDK's models of a change stream (client.changes): what a stack's stream tells."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from stacksafe.client.fields import Fields, MalformedResponse

__all__ = ["ChangeNote", "StackChange", "StreamInterrupted"]


@dataclass(frozen=True, slots=True)
class StackChange:
    """The stack's effective set is ``signature`` now (a hash of its keys, versions and
    provenance; never a value). ``ready``: the stream is connected (again), and on a
    reconnection nothing was missed; ``change``: the set changed since the last event, or while
    the stream was away."""

    kind: Literal["ready", "change"]
    stack: str
    signature: str

    @classmethod
    def from_event(cls, kind: str, data: str) -> StackChange:
        """A ``ready`` or ``change`` event's ``data`` (JSON: ``stack``, ``signature``)."""
        try:
            body = json.loads(data)
        except ValueError:
            raise MalformedResponse("a change event's data", "not JSON") from None
        fields = Fields(body, "StackChange")
        shown: Literal["ready", "change"] = "ready" if kind == "ready" else "change"
        return cls(shown, fields.text("stack"), fields.text("signature"))


@dataclass(frozen=True, slots=True)
class StreamInterrupted:
    """The connection ended (``problem`` says why, without any secret); the stream connects
    again after ``retry_in`` seconds and tells then what changed in between."""

    problem: str
    retry_in: float


ChangeNote = StackChange | StreamInterrupted
