"""The hottest write, ``PUT /api/3/stacks/{uid}/secrets/{key}`` of one plain value, without FastAPI.

A deploy pipeline or an operator writing one secret at a time pays, through FastAPI, route
matching, dependency solving, content-type and body parsing and pydantic's validation on the
event loop: measured, more of the write's CPU than its transaction. This ASGI adapter answers
exactly the plainly valid write of one stack key: a declared JSON body within the app's size
limit holding ``raw_value`` as a string and nothing else, no conditional header. It reads the
body, then does the route's work through the route's own function (api.routes.secrets.put_one:
the same core write, response and ETag). When the token's principal is kept and the stack
visible to it, both are found on the event loop in one read (as the hot reads find them), and
the write is the request's one thread hop; else that thread checks the token and finds the stack
as the route's dependency and resolver do, then writes. Any other request, once
its body is read, goes on to FastAPI with that body replayed, unchanged; so FastAPI's
validation, its error bodies and the route stay the one definition of the endpoint. It runs in
front of the app's middleware: ``APPLIES`` says how it does their work, and
tests/api/test_fast_write.py fails when the app gains a middleware or the route a dependency
that is not listed there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from anyio import to_thread
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from stacksafe.api import deps
from stacksafe.api.asgi_answer import answer_asgi
from stacksafe.api.deps import ApiState
from stacksafe.api.durable import settled
from stacksafe.api.errors import stacksafe_error_response, unexpected_response
from stacksafe.api.metrics.http import ROUTE_NOTED
from stacksafe.api.metrics.labels import FAST_ROUTES
from stacksafe.api.routes.secrets import WRITE_RESOLVERS, put_one, put_one_later, written_answer
from stacksafe.api.schemas import SecretUpdate
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.principals import authenticate_for_stack_on_loop
from stacksafe.core.tenancy import Target
from stacksafe.errors import StacksafeError, Unauthenticated

__all__ = ["APPLIES", "FastWrite", "Wanted", "plain_value"]

# The app's middleware and the route's dependencies, and how this path does their work.
APPLIES = {
    "DeclaredSizeLimit": "a declared Content-Length within its limit, else FastAPI (no chunks)",
    "RequestId": "request_id_of and sending_id (api.asgi_answer)",
    "NoStore": "storing_nothing (api.asgi_answer)",
    "SecurityHeaders": "nothing: it leaves /api/ untouched (web.headers)",
    "_installation": "self.state.installation",
    "caller": "core.principals.authenticate_for_stack_on_loop, deps.counted; else "
    "deps.authenticated in the write's thread",
}
# FastAPI's ``{stack_uid}`` and ``{key}`` are one path segment each, as here.
_PATH = re.compile(r"/api/3/stacks/([^/]+)/secrets/([^/]+)")
# Headers the route reads or that change how the body is read: such a request goes to FastAPI.
_PASSED_ON = frozenset({b"if-match", b"transfer-encoding", b"content-encoding"})
_ROUTE = FAST_ROUTES["stacks", True]

# What answers a request this path passes on (api.app: FastAPI and its middleware).
PassedOn = Callable[[Scope, Receive, Send], Awaitable[None]]


class Wanted(NamedTuple):
    """A write this path may answer: the stack's uid and the key, as the route's path has them."""

    ref: str
    key: str


def plain_value(body: bytes) -> str | None:
    """The value of a body that is exactly ``{"raw_value": "<text>"}``; None for any other,
    which FastAPI then parses (json.loads, as here) and validates (SecretUpdate) itself."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if type(parsed) is not dict or len(parsed) != 1:
        return None
    value = parsed.get("raw_value")
    if type(value) is not str:
        return None
    try:
        value.encode()  # pydantic refuses a lone surrogate (422): the route words that
    except UnicodeEncodeError:
        return None
    return value


class FastWrite:
    """Answers the plain writes ``asked`` recognises (api.app calls it first)."""

    def __init__(self, state: ApiState, max_body_bytes: int) -> None:
        self.state = state
        self.max_body = max_body_bytes

    def asked(self, scope: Scope) -> Wanted | None:
        """What ``scope`` writes when this path may answer it, its body unread; None: FastAPI."""
        if scope["type"] != "http" or scope["method"] != "PUT" or scope.get("root_path"):
            return None
        path = _PATH.fullmatch(scope["path"])
        if path is None:
            return None
        length = content_type = None
        for name, value in scope["headers"]:
            if name in _PASSED_ON:
                return None
            if name == b"content-length":
                if length is not None:
                    return None
                length = value
            elif name == b"content-type":
                if content_type is not None:
                    return None
                content_type = value
        # A length DeclaredSizeLimit lets through; FastAPI parses this content type as JSON.
        if length is None or not length.isdigit() or int(length) > self.max_body:
            return None
        if content_type is None or content_type.lower() != b"application/json":
            return None
        ref, key = path.groups()
        return Wanted(ref, key)

    async def __call__(
        self, wanted: Wanted, scope: Scope, receive: Receive, send: Send, passed_on: PassedOn
    ) -> None:
        """Read the body; answer a plain value's write, else hand the request on with it."""
        messages: list[Message] = []
        while True:  # bounded: the declared length is within the limit, and the server holds it
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        complete = messages[-1]["type"] == "http.request"
        value = plain_value(b"".join(m.get("body", b"") for m in messages)) if complete else None
        if value is None:
            replay = iter(messages)

            async def replayed() -> Message:
                return next(replay, None) or await receive()

            await passed_on(scope, replayed, send)
            return
        scope[ROUTE_NOTED] = _ROUTE
        await answer_asgi(
            scope,
            receive,
            send,
            lambda request_id: self._answer(wanted, value, scope, request_id),
            lambda exc, request_id: unexpected_response(
                scope["method"], scope["path"], exc, request_id
            ),
        )

    async def _answer(self, wanted: Wanted, value: str, scope: Scope, request_id: str) -> Response:
        state, (ref, key) = self.state, wanted
        installation = state.installation
        # The first, as Starlette's request.headers.get gives it.
        authorization = next((v for n, v in scope["headers"] if n == b"authorization"), b"")
        asker = authorization.decode("latin-1")
        client = scope.get("client")
        source_ip = client[0] if client else None
        body = SecretUpdate.model_construct(raw_value=value, environments=None)
        try:  # the caller and the stack at hand: counted here, as deps.caller would
            known = await _at_hand(installation, asker, ref, source_ip, request_id)
            kept = None if known is None else (known[0], deps.counted(state, known[0]))
            if known is not None and kept is not None:
                # The write itself handed to a group commit's thread, no hop.
                later = put_one_later(installation, kept[0], known[1], key, body)
                if later is not None:
                    written = await settled(later)
                    return written_answer(_headers_set(kept[1]), written)
        except StacksafeError as exc:
            return stacksafe_error_response(exc)

        def write() -> Response:
            """The write, by the caller checked first if it was not at hand, and to the level
            found as the route finds it (one hop for all, in the route's order); its answer,
            or its error's."""
            try:
                if known is not None and kept is not None:
                    (principal, limits), target = kept, known[1]
                else:
                    principal, limits = deps.authenticated(state, asker, source_ip, request_id)
                    target = WRITE_RESOLVERS["stacks"](installation, principal, ref)
                return put_one(
                    installation, principal, target, key, body, None, _headers_set(limits)
                )
            except StacksafeError as exc:
                return stacksafe_error_response(exc)

        return await to_thread.run_sync(write)


async def _at_hand(
    installation: Installation,
    authorization: str,
    ref: str,
    source_ip: str | None,
    request_id: str,
) -> tuple[Principal, Target] | None:
    """The caller and the stack to write when both are at hand, from one read on the event
    loop (core.principals.authenticate_for_stack_on_loop: the token's principal kept under the
    principals revision read now, the stack read now and visible to it); else None, having
    counted and recorded nothing: the write's thread then finds them as the route does."""
    try:
        token = deps.bearer_token(authorization)
    except Unauthenticated:
        return None
    known = await authenticate_for_stack_on_loop(
        installation, token, ref, source_ip=source_ip, request_id=request_id
    )
    if known is None:
        return None
    principal, target_of = known
    found = target_of()
    # As the route's resolver gives it: without the secrets revision, which only a read uses.
    return principal, Target(found.account, found.stack)


def _headers_set(headers: dict[str, str]) -> Response:
    """What FastAPI hands a route as its ``response`` (headers only, no length), with the
    headers the caller dependency set on it."""
    response = Response()
    del response.headers["content-length"]
    response.headers.update(headers)
    return response
