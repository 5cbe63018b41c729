"""A webhook's delivery: each batch of changes one POST of ``{"webhook": NAME, "events": [...]}``
(``application/json``), signed with the value of the level's secret the webhook names.

That value is read when the batch is signed, as a reveal of the webhook's own (audited, purpose
``webhook NAME``, actor ``webhook:NAME``), so it is managed, versioned and rotated like any
secret and stored nowhere else; it is held only while the POST is made. A secret missing (unset
since) fails the batch, which is retried: nothing is sent unsigned, nothing skipped. The POST
is the HTTPS sink's (core.streams.http_sink): the outbound rule, no redirects, ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.secrets import get_secret
from stacksafe.core.streams.http_config import HttpConfig
from stacksafe.core.streams.sink import SinkUnavailable
from stacksafe.core.tenancy import visible_target
from stacksafe.core.webhooks.events import Level
from stacksafe.errors import StacksafeError

if TYPE_CHECKING:
    from stacksafe.core.streams.http_sink import HttpSink

__all__ = ["CONTENT_TYPE", "WebhookSink", "actor_of", "purpose_of"]

CONTENT_TYPE = "application/json"


def actor_of(name: str) -> Principal:
    """Who reads a webhook's signing secret: the server itself, named after the webhook."""
    return Principal.local(f"webhook:{name}")


def purpose_of(name: str) -> str:
    return f"webhook {name}"


class WebhookSink:
    """``Sink`` of one webhook; ``url`` opened from its sealed form by the caller."""

    def __init__(
        self,
        installation: Installation,
        name: str,
        level: Level,
        signing_key: str,
        url: str,
        outbound: OutboundPolicy,
    ) -> None:
        self.installation, self.name, self.level = installation, name, level
        self.signing_key = signing_key
        config = HttpConfig(
            url,
            content_type=CONTENT_TYPE,
            user_agent="stacksafe-webhook",
            label=f"the webhook {name}",
        )
        # Imported here: httpx, for a server with a live webhook only.
        from stacksafe.core.streams.http_sink import HttpSink

        self._http: HttpSink = HttpSink(config, outbound)

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r}, {self._http.config.where})"

    def deliver(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        body = orjson.dumps({"webhook": self.name, "events": [orjson.loads(n) for n in lines]})
        self._http.post(body, self._secret())

    def close(self) -> None:
        self._http.close()

    def _secret(self) -> bytes:
        level = self.level
        actor = actor_of(self.name)
        try:
            if level.stack_uid is not None:
                target = visible_target(self.installation, actor, stack_uid=level.stack_uid)
            else:
                target = visible_target(self.installation, actor, account_ref=level.account_uid)
            found = get_secret(
                self.installation,
                actor,
                target,
                self.signing_key,
                reveal=True,
                purpose=purpose_of(self.name),
            )
        except StacksafeError as exc:  # its message names keys and levels, never a value
            raise SinkUnavailable(
                f"the webhook {self.name}: its signing secret {self.signing_key} could not be "
                f"read ({exc.message})"
            ) from None
        value = found.raw_value.reveal() if found.raw_value is not None else ""
        if not value:
            raise SinkUnavailable(
                f"the webhook {self.name}: its signing secret {self.signing_key} is empty"
            )
        return value.encode("utf-8")
