"""The hottest read, answered without the framework's routing and dependency machinery.

``GET /api/3/stacks/{uid}/secrets`` (and ``/accounts/{id}/secrets``) is what every deploy and
every ``stacksafe run`` asks for. Through FastAPI it pays route matching over every route,
dependency solving, and two hops to the thread pool (the token check, then the endpoint): about
0.6 ms of CPU per request on the benchmark machine, more than the work itself once the values
are kept (core.opened). This middleware answers exactly that request, when its query is plainly
valid, with the same functions the route uses (``deps.authenticated``, the route's resolver,
``routes.secrets.secrets_page_audited``, ``errors.stacksafe_error_response``) in one hop to the
thread pool; a reveal then awaits its audit event on the event loop, not in a thread (nothing is
sent before the event is durable).
Anything else, including any query it does not read exactly as the route would (an unknown or
repeated parameter, a value out of range), goes on to FastAPI unchanged, so the route stays the
one definition of the endpoint: its validation errors, its OpenAPI document.
``tests/api/test_lane.py`` sends the same requests both ways and compares the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from anyio import to_thread
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from stacksafe.api.deps import (
    ApiState,
    authenticated,
    authenticated_with,
    bearer_token,
    counted,
)
from stacksafe.api.errors import (
    stacksafe_error_response,
    unexpected_response,
)
from stacksafe.api.no_store import storing_nothing
from stacksafe.api.request_id import request_id_of, sending_id
from stacksafe.api.routes.secrets import RESOLVERS, SecretsPage, secrets_page_audited
from stacksafe.core.principals import authenticate_for_stack, known_for_stack
from stacksafe.core.secrets import Audited, audited_soon, kept_list
from stacksafe.errors import StacksafeError
from stacksafe.paging import MAX_PAGE, MAX_PER_PAGE

__all__ = ["Asked", "SecretsLane", "read_query"]

_PATH = re.compile(r"/api/3/(stacks|accounts)/([^/]+)/secrets")
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_PRINTABLE = re.compile(r"[\x20-\x7e]{0,200}")
_DIGITS = re.compile(r"[1-9][0-9]{0,6}")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


@functools.lru_cache(maxsize=512)  # clients repeat their query: parsing it was 3 % of a reveal
def read_query(query_string: bytes) -> SecretsPage | None:
    """The list query, when every parameter is one the route reads, given once, and plainly
    valid; else None (the route decides, and words any error)."""
    try:
        pairs = parse_qsl(
            query_string.decode("ascii"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        return None
    given = dict(pairs)
    if len(given) != len(pairs):
        return None
    flags: dict[str, bool] = {}
    numbers: dict[str, int] = {}
    for name, text in given.items():
        if name in ("reveal", "resolve"):
            flag = _BOOLS.get(text.lower())
            if flag is None:
                return None
            flags[name] = flag
        elif name in ("page", "per_page"):
            if not _DIGITS.fullmatch(text):
                return None
            numbers[name] = int(text)
            if numbers[name] > (MAX_PAGE if name == "page" else MAX_PER_PAGE):
                return None
        elif name != "purpose" or not _PRINTABLE.fullmatch(text):
            return None
    default = SecretsPage()
    return SecretsPage(
        reveal=flags.get("reveal", default.reveal),
        page=numbers.get("page", default.page),
        per_page=numbers.get("per_page", default.per_page),
        resolve=flags.get("resolve", default.resolve),
        purpose=given.get("purpose", default.purpose),
    )


@dataclass(frozen=True, slots=True)
class Asked:
    """A secret list the lane answers: which level, which one, and the query."""

    level: str
    ref: str
    query: SecretsPage


class SecretsLane:
    """Answers the plainly valid secret lists that ``asked`` recognises; ``api.app`` calls it
    in front of FastAPI and its middleware stack."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    @staticmethod
    def asked(scope: Scope) -> Asked | None:
        """The list ``scope`` asks for, when the lane answers it; None: FastAPI does."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path = _PATH.fullmatch(scope["path"])
        if path is None:
            return None
        # A declared body (which a GET should not have) goes to FastAPI, whose size limit
        # and validation apply to it; the lane reads no body.
        if any(name in _BODY_HEADERS for name, _ in scope["headers"]):
            return None
        query = read_query(scope["query_string"])
        return None if query is None else Asked(path.group(1), path.group(2), query)

    async def __call__(self, asked: Asked, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``asked``: with its ``Request-Id`` header (api.request_id), and for anything
        unexpected the 500 the app's error handler gives, then the exception raised to the
        server (as Starlette's error middleware does: the middleware the lane skips)."""
        request_id = scope.setdefault("state", {})["request_id"] = request_id_of(scope)
        # Its answers carry revealed values: never cached (api.no_store, as for every route).
        send_id = storing_nothing(sending_id(send, request_id))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            started = True
            await send_id(message)

        try:
            await self._answer(asked, scope, receive, send_with_id, request_id)
        except Exception as exc:
            if not started:
                await unexpected_response(scope["method"], scope["path"], exc)(
                    scope, receive, send_with_id
                )
            raise  # for the server's log, as Starlette's error middleware does

    async def _answer(
        self, asked: Asked, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        level, ref, query = asked.level, asked.ref, asked.query
        # The first, as Starlette's request.headers.get gives it (a second one, appended by a
        # proxy, must not change who is asking).
        authorization = next(
            (value for name, value in scope["headers"] if name == b"authorization"), b""
        ).decode("latin-1")
        client = scope.get("client")
        source_ip = client[0] if client else None

        def answer() -> tuple[Audited[bytes], dict[str, str]] | Response:
            try:
                if level == "stacks":
                    # The token and the stack from one read (the route makes two).
                    actor, stack_target, limits = authenticated_with(
                        self.state,
                        authorization,
                        source_ip,
                        request_id,
                        lambda token, rid: authenticate_for_stack(
                            self.state.installation, token, ref, source_ip=source_ip, request_id=rid
                        ),
                    )
                    target = stack_target()
                else:
                    actor, limits = authenticated(self.state, authorization, source_ip, request_id)
                    target = RESOLVERS[level](self.state.installation, actor, ref)
                return secrets_page_audited(self.state.installation, actor, target, query), limits
            except StacksafeError as exc:
                return _error(exc)

        # A warm reveal (its token's principal and its level's page and event detail kept,
        # the database readable at once) is answered here, on the event loop: a hop to the
        # thread pool costs more CPU than the whole of that work. Anything else goes to a thread.
        answered = self._at_hand(level, ref, query, authorization, source_ip, request_id)
        if answered is None:
            answered = await to_thread.run_sync(answer)
        if isinstance(answered, Response):
            await answered(scope, receive, send)
            return
        audited, limits = answered
        durable = audited.durable
        if isinstance(durable, asyncio.Future):
            # This loop's own (store.CommitGroup.submit_soon): a cancelled request abandons
            # only its wait; the event is written with its group all the same.
            with contextlib.suppress(Exception):  # result() words the failure
                await durable
        elif durable is not None:
            # The thread is free for other requests meanwhile, and more reveals share each
            # audit commit (store.CommitGroup.submit_later).
            # Shielded: a cancelled request must not cancel the event's future (it is written
            # anyway, and its group must still learn the outcome).
            with contextlib.suppress(Exception):  # result() words the failure
                await asyncio.shield(asyncio.wrap_future(durable))
        try:
            response: Response = Response(
                audited.result(), media_type="application/json", headers=limits
            )
        except StacksafeError as exc:
            response = _error(exc)
        await response(scope, receive, send)

    def _at_hand(
        self,
        level: str,
        ref: str,
        query: SecretsPage,
        authorization: str,
        source_ip: str | None,
        request_id: str,
    ) -> tuple[Audited[bytes], dict[str, str]] | Response | None:
        """The answer, when everything it takes is at hand without reading the database
        through a transaction or waiting for anything (core.principals.known_for_stack,
        core.secrets.kept_list); else None, having counted and recorded nothing, for the
        thread to answer as the route would. The same steps in the same order as there:
        the token, the stack, the rate limit, the permission, the
        audit event; any refusal is left to the thread, which records it."""
        if level != "stacks":
            return None
        state = self.state
        try:
            token = bearer_token(authorization)
        except StacksafeError:
            return None
        known = known_for_stack(
            state.installation,
            token,
            ref,
            source_ip=source_ip,
            request_id=request_id,
        )
        if known is None:
            return None
        actor, target = known
        page = kept_list(
            state.installation,
            actor,
            target,
            reveal=query.reveal,
            purpose=query.purpose or "list",
            resolve=query.resolve,
            memo=(query.page, query.per_page),
        )
        if page is None or not isinstance(page[0], bytes):
            return None
        body, detail = page[0], page[1]
        # From here on the request is answered here: it is counted once, by this path.
        try:
            limits = counted(state, actor)
            return audited_soon(state.installation, actor, target, body, detail), limits
        except StacksafeError as exc:
            return _error(exc)


def _error(exc: StacksafeError) -> Response:
    return stacksafe_error_response(exc)
