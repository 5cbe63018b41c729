"""The application factory: everything the API needs is passed in, nothing read at import."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from anyio import to_thread
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from stacksafe import __version__
from stacksafe.api.audit_streams import AuditStreams
from stacksafe.api.change_hub import ChangeHub, StreamLimits
from stacksafe.api.deps import ApiState
from stacksafe.api.errors import install_error_handlers
from stacksafe.api.fast_path import FastPath
from stacksafe.api.fast_write import FastWrite
from stacksafe.api.limits import DeclaredSizeLimit
from stacksafe.api.metrics.collectors import Caches
from stacksafe.api.metrics.http import ROUTE_NOTED, STATUS_NOTED, StatusSeen, fastapi_route
from stacksafe.api.metrics.labels import FAST_ROUTES, vault_route
from stacksafe.api.metrics.listener import MetricsListener
from stacksafe.api.metrics.series import FACE, ApiMetrics
from stacksafe.api.no_store import NoStore
from stacksafe.api.pages import RenderedPages
from stacksafe.api.request_counts import RequestCountsFlusher, shared_window
from stacksafe.api.request_id import RequestId
from stacksafe.api.rotation_scheduler import RotationScheduler
from stacksafe.api.routes import (
    API_PREFIX,
    audit,
    auth,
    changes,
    environments,
    health,
    rotation,
    secrets,
    tenancy,
    tokens,
    users,
    webhooks,
)
from stacksafe.api.routes import metrics as metrics_routes
from stacksafe.api.stop_signals import on_stop_signals
from stacksafe.api.vault import PREFIX, VaultApi, vault_api
from stacksafe.api.webhook_streams import WebhookStreams
from stacksafe.core.guessing import BAD_TOKENS, BadTokens
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.password_pool import PasswordPool
from stacksafe.core.request_counts import RequestCounts
from stacksafe.core.sessions import SessionPolicy
from stacksafe.core.sign_in import SignInLimits
from stacksafe.core.streams.delivery import Tuning
from stacksafe.core.streams.sinks import sink_statuses
from stacksafe.core.validation import parse_duration
from stacksafe.settings import (
    DEFAULT_AUDIT_SINK_LEASE_SECONDS,
    DEFAULT_RATE_LIMIT,
    DEFAULT_VAULT_MOUNT,
    ServerSettings,
)
from stacksafe.web import install_web
from stacksafe.web.route_table import add_routes

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "MAX_BODY_BYTES",
    "SERVING_YOUNG_THRESHOLD",
    "app_from_environment",
    "app_from_settings",
    "create_app",
    "default_threads",
]

RATE_LIMIT_SECONDS = 3600.0
# A bulk import of many large values fits; anything bigger is refused with 413 unread.
MAX_BODY_BYTES = 8 * 1024 * 1024
# Invalid tokens per address per minute before further invalid ones get 429 (valid ones never).
BAD_TOKEN_LIMIT, BAD_TOKEN_SECONDS = BAD_TOKENS
SQLITE_THREADS = 2
POSTGRESQL_THREADS = 8
# The cyclic collector's young-generation threshold while serving (CPython's default: 700).
# A young pass walks every container the requests in flight hold, and a serving process makes
# next to no cyclic garbage: at the default the passes came every few requests and found
# nothing (bench/README.md, api_bench.py, "after 306fed7").
SERVING_YOUNG_THRESHOLD = 7000


def default_threads(installation: Installation) -> int:
    """Request threads per worker: few on SQLite (CPU-bound reads), more on PostgreSQL."""
    return SQLITE_THREADS if installation.store.dialect == "sqlite" else POSTGRESQL_THREADS


class StacksafeApi(FastAPI):
    """FastAPI, with api.fast_path answering the secret lists and keys it recognises in front of
    the middleware stack: for those hot requests, the stack's layers cost about as much CPU as
    the work once it is kept. The fast path does what of theirs applies to it (see there)."""

    fast_path: FastPath | None = None
    fast_write: FastWrite | None = None  # api.fast_write: one plain value's PUT
    vault: VaultApi | None = None  # /v1 (api.vault): Vault's protocol, its own errors and routes
    vault_mount: str = DEFAULT_VAULT_MOUNT
    metrics: ApiMetrics | None = None  # every HTTP request is counted here (api.metrics.http)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics
        if scope["type"] != "http" or metrics is None:
            await self._dispatch(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self._dispatch(scope, receive, send)
        finally:
            # Noted before the answer: a failure after a 500 was sent is counted as that.
            metrics.requests.counted(
                scope.get(ROUTE_NOTED) or fastapi_route(scope),
                scope["method"],
                scope.get(STATUS_NOTED, 500),
                time.perf_counter() - started,
            )

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``scope`` by /v1, the fast write, the fast path or FastAPI, with the face
        noted for the reveals it makes (api.metrics.series.FACE), and the route template and
        status in the scope (api.metrics.http: FastAPI's route notes itself; the faces in front
        of it, which answer through api.asgi_answer, their status)."""
        path: str = scope.get("path", "")
        if self.vault is not None and scope["type"] == "http" and path.startswith(PREFIX):
            scope[ROUTE_NOTED] = vault_route(path[len(PREFIX) :], self.vault_mount)
            face = FACE.set("vault")
            try:
                await self.vault(scope, receive, send)
            finally:
                FACE.reset(face)
            return
        wanted = None if self.fast_write is None else self.fast_write.asked(scope)
        if wanted is not None and self.fast_write is not None:
            face = FACE.set("api")
            try:
                await self.fast_write(wanted, scope, receive, send, self._fastapi)
            finally:
                FACE.reset(face)
            return
        asked = None if self.fast_path is None else self.fast_path.asked(scope)
        if asked is None or self.fast_path is None:
            await self._fastapi(scope, receive, send)
            return
        scope[ROUTE_NOTED] = FAST_ROUTES[asked.level, asked.page is None]
        face = FACE.set("api")
        try:
            await self.fast_path(asked, scope, receive, send)
        finally:
            FACE.reset(face)

    async def _fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI and its middleware, with the face (API or web) and the status noted."""
        path: str = scope.get("path", "")
        face = FACE.set("api" if path.startswith(API_PREFIX + "/") else "web")
        seen = StatusSeen(send)
        try:
            await super().__call__(scope, receive, seen)
        finally:
            FACE.reset(face)
            scope[STATUS_NOTED] = seen.status


def create_app(
    installation: Installation,
    *,
    rate_limit: int = DEFAULT_RATE_LIMIT,
    close_installation: bool = False,
    threads: int | None = None,
    serving: bool = False,
    rotation_interval: timedelta | None = None,
    web_policy: SessionPolicy | None = None,
    web_origin: str | None = None,
    fast_path: bool = True,
    passwords: PasswordPool | None = None,
    sign_in_limits: SignInLimits | None = None,
    vault_mount: str = DEFAULT_VAULT_MOUNT,
    vault_echo_token: bool = False,
    stream_limits: StreamLimits | None = None,
    audit_sink_lease_seconds: float = DEFAULT_AUDIT_SINK_LEASE_SECONDS,
    metrics_address: tuple[str, int] | None = None,
) -> FastAPI:
    """The API over ``installation``; ``serving`` when this process exists to serve it (uvicorn).

    With ``rotation_interval``, a scheduler thread rotates due secrets that often. The web UI
    is served at ``/`` by the same app (``web_policy``: its sessions' idle timeout and lifetime;
    ``web_origin``: the public origin when a proxy terminates TLS). ``fast_path`` False sends
    the secret lists through FastAPI too (api.fast_path; for comparing the two). ``passwords``: the
    pool the UI's sign-ins check passwords on (default: core.password_pool's sizes), and
    ``sign_in_limits`` their failures per email (core.sign_in). ``vault_mount`` names the
    Vault-compatible API's KV mount under ``/v1`` (api.vault); ``vault_echo_token``: its
    lookup-self answers the caller's own token in ``id`` (for Vault Agent's token_file method).
    ``stream_limits`` bounds the change streams (api.change_hub, api.routes.changes).
    A serving app delivers the audit log's sinks (api.audit_streams) and the webhooks
    (api.webhook_streams), each under a lease of ``audit_sink_lease_seconds``.
    ``metrics_address``: (host, port) where the metrics are also served without a token
    (api.metrics.listener), while the app runs.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run on anyio's default thread pool (40 threads). SQLite's driver
        # releases the GIL for every row it steps, so many threads reading at once hand the
        # GIL back and forth hundreds of times per request: measured, CPU per reveal grows with
        # the number of threads (docs/operations.md). Few threads per worker, and more workers,
        # serve more.
        to_thread.current_default_thread_limiter().total_tokens = (
            threads if threads is not None else default_threads(installation)
        )
        thresholds = gc.get_threshold()
        if serving:
            # Everything loaded so far lives as long as the server process: keep it out of
            # the cyclic collector's full passes, which would rescan it again and again.
            gc.freeze()
            gc.set_threshold(SERVING_YOUNG_THRESHOLD, *thresholds[1:])
        flusher = None
        if serving:  # other servers may share the database: share the per-token counts
            flusher = RequestCountsFlusher(state.per_token, state.request_counts)
            flusher.start()
        streams: list[AuditStreams | WebhookStreams] = []
        if serving:  # the audit log's sinks and the webhooks are delivered by serving processes
            tuning = Tuning(lease_seconds=audit_sink_lease_seconds)
            streams = [
                AuditStreams(installation, tuning=tuning),
                WebhookStreams(installation, tuning=tuning),
            ]
            for stream in streams:
                stream.start()
        listener = None
        if metrics_address is not None:
            listener = MetricsListener(metrics.registry, *metrics_address)
            listener.start()
        scheduler = None
        if rotation_interval is not None:
            scheduler = RotationScheduler(
                installation, rotation_interval, on_outcomes=metrics.rotated
            )
            scheduler.start()
        # A hub of this run's own: one closed by an earlier run of the lifespan ended for good.
        app.state.change_hub = hub = ChangeHub(installation, stream_limits)
        # Change streams never end by themselves: a stop signal ends them before uvicorn
        # waits for the responses in flight (api.stop_signals).
        restore_signals = on_stop_signals(hub.close) if serving else None
        yield
        hub.close()
        if restore_signals is not None:
            restore_signals()
        if scheduler is not None:
            scheduler.stop()
        for stream in streams:
            stream.stop()
        if flusher is not None:
            flusher.stop()
        if listener is not None:
            listener.stop()
        app.state.web.passwords.close()
        if close_installation:
            installation.close()
        gc.set_threshold(*thresholds)

    app = StacksafeApi(
        title="stacksafe",
        version="3",
        openapi_url="/api/3/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    pages = RenderedPages(
        0 if installation.read_cache is None else installation.read_cache.max_bytes
    )
    metrics = ApiMetrics(installation, _caches(installation, pages), __version__)
    metrics.watch_sink_lag(lambda: {s.name: s.lag for s in sink_statuses(installation)})
    app.state.stacksafe = state = ApiState(
        installation=installation,
        per_token=shared_window(installation, rate_limit, RATE_LIMIT_SECONDS),
        bad_tokens=BadTokens(installation, BAD_TOKEN_LIMIT, BAD_TOKEN_SECONDS),
        request_counts=RequestCounts(installation, RATE_LIMIT_SECONDS),
        pages=pages,
        metrics=metrics,
    )
    app.state.change_hub = ChangeHub(installation, stream_limits)
    # The installation tells this app's metrics of its reveals, commits and logins (the last
    # app made over an installation: one per server process).
    installation.meter = app.metrics = metrics
    if fast_path:
        app.fast_path = FastPath(app.state.stacksafe)
        app.fast_write = FastWrite(app.state.stacksafe, MAX_BODY_BYTES)
    app.vault = vault_api(
        state, vault_mount, max_body_bytes=MAX_BODY_BYTES, echo_token=vault_echo_token
    )
    app.vault_mount = vault_mount
    app.add_middleware(DeclaredSizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestId)
    app.add_middleware(NoStore)
    install_error_handlers(app)
    add_routes(
        app,
        tenancy.router,
        environments.router,
        secrets.router,
        changes.router,
        rotation.router,
        users.router,
        tokens.router,
        audit.router,
        webhooks.router,
        auth.router,
        health.router,
        metrics_routes.router,
    )
    install_web(
        app,
        installation,
        web_policy,
        web_origin,
        passwords=passwords,
        sign_in_limits=sign_in_limits,
    )
    return app


def _caches(installation: Installation, pages: RenderedPages) -> Caches:
    read_cache = installation.read_cache
    kept_bytes = {"pages": lambda: pages.kept_bytes}
    if read_cache is not None:
        kept_bytes["read_cache"] = lambda: read_cache.kept_bytes
    return Caches(
        {"read_cache": read_cache, "pages": pages, "tokens": installation.known_tokens},
        kept_bytes,
    )


def app_from_environment() -> FastAPI:
    """For ``uvicorn --factory``: the settings of the ``STACKSAFE_*`` variables
    (stacksafe.settings)."""
    return app_from_settings(ServerSettings.load())


def app_from_settings(server: ServerSettings) -> FastAPI:
    """The served app of ``server`` (`stacksafe serve` calls it in each worker), over the
    installation its ``Settings`` name."""
    settings = server.installation_settings()
    idle = server.web_idle_timeout
    interval = server.rotation_interval
    return create_app(
        open_installation(settings),
        rate_limit=server.rate_limit,
        close_installation=True,
        threads=server.threads,
        serving=True,
        rotation_interval=timedelta(seconds=interval) if interval > 0 else None,
        web_policy=SessionPolicy(idle_timeout=parse_duration(idle)) if idle else None,
        web_origin=server.web_origin,
        passwords=PasswordPool(settings.password_workers, settings.password_queue),
        vault_mount=server.vault_mount,
        vault_echo_token=server.vault_echo_token,
        stream_limits=StreamLimits(
            per_token=server.change_streams_per_token, total=server.change_streams
        ),
        audit_sink_lease_seconds=server.audit_sink_lease_seconds,
        metrics_address=server.metrics_address,
    )
