"""`stacksafe serve`: the HTTP API on uvicorn, TLS when given a certificate."""

from __future__ import annotations

import contextlib
import errno
import functools
import signal
import socket
import ssl
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli import collector
from stacksafe.cli.common import DataDirOption, local_actor
from stacksafe.core.validation import parse_duration
from stacksafe.errors import AddressUnavailable, ConfigurationError, InvalidInput
from stacksafe.loopback import is_loopback
from stacksafe.settings import ServerSettings, Settings

if TYPE_CHECKING:
    import uvicorn

__all__ = ["FIRST_OWNER", "SHUTDOWN_TIMEOUT", "WORKER_HEALTHCHECK_SECONDS", "serve"]

FIRST_OWNER = "owner@localhost"
# Seconds a stopping server (SIGTERM, Ctrl-C) gives requests in flight before it cancels them:
# under the 30 s an orchestrator (Kubernetes, systemd, docker stop: 10 s) allows by default.
SHUTDOWN_TIMEOUT = 8
# Seconds a worker (--workers > 1) may leave the supervisor's health check unanswered before
# it is killed and replaced, with every request in flight on it. uvicorn's 5 s is met by a
# worker that a loaded machine gives no CPU for a moment; a hung one is still replaced.
WORKER_HEALTHCHECK_SECONDS = 30


def _first_start(settings: Settings) -> None:
    """An installation without users (made before users existed) gets its owner now, once."""
    from stacksafe.core.installation import open_installation
    from stacksafe.core.principals import bootstrap_owner, create_token, has_users

    installation = open_installation(settings)
    try:
        if has_users(installation):
            return
        bootstrap_owner(installation, FIRST_OWNER)
        first = create_token(installation, local_actor(), FIRST_OWNER, scopes=["public", "admin"])
    finally:
        installation.close()
    typer.echo(f"Owner {FIRST_OWNER}: first API token {first.uid} (shown once, keep it safe):")
    typer.echo(f"  {first.token}")


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 8200,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key.")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes (docs/operations.md).")
    ] = 1,
    insecure: Annotated[
        bool, typer.Option(help="Allow plain HTTP on a non-loopback address.")
    ] = False,
    rate_limit: Annotated[int, typer.Option(min=1, help="Requests per token per hour.")] = 3000,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Request threads per worker (default: 2 on SQLite, 8 on PostgreSQL).",
        ),
    ] = None,
    shutdown_timeout: Annotated[
        int,
        typer.Option(
            min=0,
            max=3600,
            help="On SIGTERM or Ctrl-C: seconds to let requests in flight finish before they "
            "are cancelled (new connections are refused at once; the exit status is 0).",
        ),
    ] = SHUTDOWN_TIMEOUT,
    rotation_interval: Annotated[
        int,
        typer.Option(
            min=0,
            help="Seconds between looks for due rotations (0: no scheduler; use "
            "`stacksafe rotation run` from cron instead).",
        ),
    ] = 60,
    metrics_address: Annotated[
        str | None,
        typer.Option(
            help="Also serve the metrics WITHOUT A TOKEN on HOST:PORT, a loopback or private "
            "address (default: STACKSAFE_METRICS_ADDRESS; docs/operations.md).",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the API and the web UI on HOST:PORT."""
    import uvicorn

    if (tls_cert is None) != (tls_key is None):
        raise InvalidInput("give both --tls-cert and --tls-key, or neither")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"TLS file {path} does not exist")
    if tls_cert is not None and tls_key is not None:
        _check_tls(tls_cert, tls_key)
    if tls_cert is None and not is_loopback(host) and not insecure:
        raise ConfigurationError(
            f"refusing to serve plain HTTP on {host}: secrets would cross the network "
            "unencrypted; give --tls-cert/--tls-key (or --insecure behind a TLS proxy)"
        )
    server = ServerSettings.of_serve(
        data_dir=data_dir,
        rate_limit=rate_limit,
        threads=threads,
        rotation_interval=rotation_interval,
        metrics_address=metrics_address,
    )
    if server.metrics_address is not None and workers > 1:
        # Each worker process counts its own requests: one listener could show only one's.
        raise ConfigurationError(
            "--metrics-address (STACKSAFE_METRICS_ADDRESS) serves one process's metrics: "
            "use it with --workers 1"
        )
    idle = server.web_idle_timeout
    if idle:
        try:
            parse_duration(idle)  # refused here, once, rather than by every worker at start
        except InvalidInput as exc:
            raise InvalidInput(f"STACKSAFE_WEB_IDLE_TIMEOUT: {exc.message}") from None
    if server.web_origin:
        # Imported here: the UI's modules (FastAPI, Jinja2) stay out of every other command's start.
        from stacksafe.web.state import check_web_origin

        check_web_origin(server.web_origin)
    settings = server.installation_settings()
    # Bound here, before the first start makes an owner and before the app starts, so a busy
    # port is one line and its own exit code, and changes nothing.
    listening = _bind(host, port)
    if server.metrics_address is not None:
        # Checked the same way; the app binds it again when it starts (api.metrics.listener).
        _bind(*server.metrics_address).close()
    _first_start(settings)
    # Each worker opens the same data dir, however it was given (flag or variable).
    server = replace(server, data_dir=settings.data_dir)
    scheme = "https" if tls_cert else "http"
    typer.echo(f"stacksafe serving on {scheme}://{host}:{port} ({workers} worker(s))", err=True)
    from stacksafe.api.app import app_from_settings
    from stacksafe.cli.list_method import VaultListProtocol

    config = uvicorn.Config(
        # A picklable factory, not an import string: the workers (separate processes) get
        # their settings from it, not from variables written into the environment.
        functools.partial(app_from_settings, server),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=None if tls_cert is None else str(tls_cert),
        ssl_keyfile=None if tls_key is None else str(tls_key),
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=shutdown_timeout,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        http=VaultListProtocol,  # httptools, and Vault's LIST method (cli.list_method)
    )
    collector.started()  # the app's lifespan freezes again what it built (api.app)
    _run(config, listening)


def _check_tls(cert: Path, key: Path) -> None:
    """Load the certificate and key as the server will, so a file that cannot serve is one
    line naming it (not a crash at start). Only PEM markers are looked at, never shown."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except PermissionError as exc:
        raise ConfigurationError(
            f"cannot read TLS file {exc.filename}: permission denied"
        ) from None
    except ssl.SSLError as exc:
        if _pem_kind(cert) == "key" or _pem_kind(key) == "certificate":
            problem = "the two look swapped (--tls-cert takes the certificate, --tls-key the key)"
        elif exc.reason == "KEY_VALUES_MISMATCH":
            problem = "the private key does not belong to the certificate"
        else:
            problem = f"not a PEM certificate and its private key ({exc.reason or 'unreadable'})"
        raise ConfigurationError(
            f"TLS files --tls-cert {cert} / --tls-key {key} cannot be used: {problem}"
        ) from None


def _pem_kind(path: Path) -> str | None:
    """Which PEM block ``path`` begins with: a certificate, a (private) key, or neither."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if b"-----BEGIN CERTIFICATE-----" in head:
        return "certificate"
    if b"PRIVATE KEY-----" in head:
        return "key"
    return None


_BIND_PROBLEMS = {
    errno.EADDRINUSE: "the port is in use by another process (stop it or choose --port)",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's (--host)",
    errno.EACCES: "permission denied (ports below 1024 need privileges; choose --port)",
}


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn is given (as ``uvicorn.Config.bind_socket`` makes it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        problem = _BIND_PROBLEMS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        raise AddressUnavailable(f"cannot listen on {host}:{port}: {problem}") from None
    except UnicodeError:
        sock.close()
        raise InvalidInput(f"--host {host!r} is not a host name or an address") from None
    sock.set_inheritable(True)  # the worker processes accept on it
    return sock


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM once the server stopped (uvicorn raises again the signal it shut down for), or
    before it started: the normal way to stop a server, so exit 0 rather than die of it."""
    raise SystemExit(0)


def _run(config: uvicorn.Config, listening: socket.socket) -> None:
    """``uvicorn.run``'s start, which takes several workers' app only as an import string.

    On SIGTERM uvicorn stops accepting, lets requests in flight finish (at most
    ``timeout_graceful_shutdown`` seconds), then raises SIGTERM again: ``_stopped`` makes that
    an exit 0.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    served = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, _stopped)
    with contextlib.suppress(KeyboardInterrupt):
        if config.workers > 1:
            Multiprocess(config, sockets=[listening]).run()
        else:
            served.run(sockets=[listening])
    if config.workers == 1 and not served.started:
        raise SystemExit(3)  # uvicorn.run's STARTUP_FAILURE
