"""The hottest reads, ``GET /api/3/{stacks,accounts}/{ref}/secrets[/{key}]``, without FastAPI.

Every deploy and every ``stacksafe run`` asks for a list, and an application for its keys one
at a time; through FastAPI each pays route matching, dependency solving and hops to the thread
pool, more CPU than the read itself once the level is kept. This ASGI adapter answers exactly
those requests, when their query is plainly valid (api.list_query), through the same reveal
service as the routes (core.reveal) and the same bodies (api.pages for a list, api.convert's
for a key): on the event loop when everything is at hand, else in one thread hop. Anything else
goes on to FastAPI unchanged, so the routes stay the one definition of the endpoints. It runs
in front of the app's middleware, so it does what each of them does; ``APPLIES`` says how, and
tests/api/test_fast_path.py fails when the app gains a middleware or a route a dependency that
is not listed there.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from anyio import to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stacksafe.api.asgi_answer import answer_asgi
from stacksafe.api.convert import secret_json
from stacksafe.api.deps import ApiState, bad_tokens_counted, bearer_token, counted
from stacksafe.api.durable import durable
from stacksafe.api.errors import stacksafe_error_response, unexpected_response
from stacksafe.api.list_query import read_key_query, read_query
from stacksafe.api.routes.secrets import SecretsPage, etag, page_body, where_of
from stacksafe.core.access import Principal
from stacksafe.core.reveal import Credential, Revealed, RevealQuery, reveal, reveal_on_loop
from stacksafe.core.secrets import one_secret
from stacksafe.errors import StacksafeError

__all__ = ["APPLIES", "Asked", "FastPath"]

# The app's middleware and the routes' dependencies, and how this path does their work.
APPLIES = {
    "DeclaredSizeLimit": "a request that declares a body goes to FastAPI",
    "RequestId": "request_id_of and sending_id",
    "NoStore": "storing_nothing",
    "SecurityHeaders": "nothing: it leaves /api/ untouched (web.headers)",
    "_installation": "self.state.installation",
    "_api_state": "self.state",
    "caller": "core.reveal authenticates; admit counts (deps.counted, deps.bad_tokens_counted)",
}
# A list, or one key (FastAPI's ``{key}`` is one path segment, as here).
_PATH = re.compile(r"/api/3/(stacks|accounts)/([^/]+)/secrets(?:/([^/]+))?")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


class Asked(NamedTuple):
    """A request the fast path answers: the level (``stacks`` or ``accounts``), its reference,
    what it asks of core.reveal, and the list's page (None: one key, ``query.key``)."""

    level: str
    ref: str
    query: RevealQuery
    page: SecretsPage | None


class FastPath:
    """Answers the plainly valid secret lists and keys ``asked`` recognises (api.app calls it
    first)."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    @staticmethod
    def asked(scope: Scope) -> Asked | None:
        """What ``scope`` asks for, when this path answers it; None: FastAPI."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path = _PATH.fullmatch(scope["path"])
        # A declared body (which a GET should not have) goes to FastAPI, whose size limit
        # and validation apply to it; this path reads no body.
        if path is None or any(name in _BODY_HEADERS for name, _ in scope["headers"]):
            return None
        level, ref, key = path.groups()
        if key is not None:
            one = read_key_query(scope["query_string"], key)
            return None if one is None else Asked(level, ref, one, None)
        listed = read_query(scope["query_string"])
        return None if listed is None else Asked(level, ref, listed[1], listed[0])

    async def __call__(
        self,
        asked: Asked,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Answer ``asked`` with its ``Request-Id``, never cached; for anything unexpected the
        app's 500, then the exception raised to the server, as Starlette's error middleware."""
        await answer_asgi(
            scope,
            receive,
            send,
            lambda request_id: self._answer(asked, scope, request_id),
            lambda exc, request_id: unexpected_response(
                scope["method"], scope["path"], exc, request_id
            ),
        )

    async def _answer(self, asked: Asked, scope: Scope, request_id: str) -> Response:
        level, ref, query, page = asked
        state, where, headers = self.state, where_of(level, ref), {}
        # The first, as Starlette's request.headers.get gives it.
        authorization = next((v for n, v in scope["headers"] if n == b"authorization"), b"")
        client = scope.get("client")
        source_ip = client[0] if client else None

        def admit(actor: Principal) -> None:
            headers.update(counted(state, actor))

        def credential() -> Credential:
            return Credential(bearer_token(authorization.decode("latin-1")), source_ip, request_id)

        def body_of(found: Revealed) -> tuple[Revealed, bytes]:
            """The reveal and its body: the page of a list, or the one key's JSON."""
            if page is not None:
                return found, page_body(state.pages, found, page)
            assert query.key is not None  # noqa: S101 - a request without a page asks one
            secret = one_secret(found.secrets, query.key, found.target)
            headers["ETag"] = etag(secret.version)
            return found, secret_json(secret)

        async def at_hand() -> tuple[Revealed, bytes] | Response | None:
            """The reveal and its body when at hand (else None, having refused and counted
            nothing), or an error's response."""
            try:
                found = await reveal_on_loop(
                    state.installation, credential(), where, query, admit=admit
                )
                return None if found is None else body_of(found)
            except StacksafeError as exc:
                return stacksafe_error_response(exc)

        def waited() -> tuple[Revealed, bytes] | Response:
            """The reveal and its body, or an error's response."""
            try:
                asker = credential()
                found = bad_tokens_counted(
                    state,
                    source_ip,
                    request_id,
                    lambda: reveal(state.installation, asker, where, query, admit=admit),
                )
                return body_of(found)
            except StacksafeError as exc:
                return stacksafe_error_response(exc)

        # At hand (token, stack and level kept; the one database read at once on SQLite,
        # awaited on PostgreSQL): on the event loop, as a hop to the thread pool costs more CPU
        # than that whole read. Else in a thread.
        answered = await at_hand() if level == "stacks" else None
        if answered is None:
            answered = await to_thread.run_sync(waited)
        if not isinstance(answered, tuple):
            return answered
        revealed, body = answered
        await durable(revealed.receipt)
        try:
            revealed.result()  # durable by now: raises only if the event failed
        except StacksafeError as exc:
            return stacksafe_error_response(exc)
        return Response(body, media_type="application/json", headers=headers)
