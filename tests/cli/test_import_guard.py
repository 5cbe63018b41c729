"""The CLI's lazy imports, guarded: `stacksafe --help` and `stacksafe run` in remote mode load
no server code (SQLAlchemy, stacksafe.store, the core's services), and a remote `run` no HTTP
library either (the light reader is the standard library's http.client).

A remote `run` needs the SDK only; the server's modules would add most of a second to every
start, httpx and its dependencies more than the rest of the start (bench/cli_bench.py). The
modules a process loaded are read from its own ``PYTHONPROFILEIMPORTTIME`` report
(``-X importtime``), which is written as each import happens, so it survives ``run`` replacing
the process with the child (exec).
The same check against a real server: tests/e2e/test_cli_remote.py.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stacksafe
from tests.cli.helpers import TIMEOUT, Cli, parent_environ, seed
from tests.e2e.conftest import start_serve

# The one core module a remote `run` needs: rules on names (a regex and its checks), which
# imports nothing but stacksafe.errors and stacksafe.model.
PLAIN_CORE = {"stacksafe.core", "stacksafe.core.validation"}


def imported(stderr: str) -> set[str]:
    """The modules an ``-X importtime`` report names."""
    found = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                found.add(name)
    return found


def server_modules(stderr: str) -> list[str]:
    """What of the server a process loaded: SQLAlchemy, the store, the core beyond its rules."""
    return sorted(
        name
        for name in imported(stderr)
        if name.partition(".")[0] == "sqlalchemy"
        or (name.startswith(("stacksafe.store", "stacksafe.core")) and name not in PLAIN_CORE)
    )


# What a remote `run` leaves to the SDK's other uses: the HTTP libraries (httpx and what it
# brings) and the SDK's modules that import them or are built on them.
HTTP_LIBRARIES = {"httpx", "httpcore", "h11", "anyio", "h2", "certifi"}
SDK_OVER_HTTPX = {
    "stacksafe.client.connection",
    "stacksafe.client.transport",
    "stacksafe.client.changes",
    "stacksafe.client.models",
}


def http_modules(stderr: str) -> list[str]:
    """What of httpx (and the SDK over it) a process loaded."""
    return sorted(
        name
        for name in imported(stderr)
        if name.partition(".")[0] in HTTP_LIBRARIES or name in SDK_OVER_HTTPX
    )


# A server nobody listens on: the command gets as far as its first network call.
UNREACHABLE = {"STACKSAFE_ADDR": "http://127.0.0.1:9", "STACKSAFE_TOKEN": "x"}


def profiled(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return cli.run(*args, env={**UNREACHABLE, "PYTHONPROFILEIMPORTTIME": "1"})


def test_remote_run_loads_no_server(tmp_path: Path) -> None:
    done = profiled(Cli(tmp_path / "empty"), "run", "--stack", "web", "--", "true")
    assert "cannot reach the stacksafe server" in done.stderr  # it got to the network
    assert "stacksafe.client" in imported(done.stderr)
    assert server_modules(done.stderr) == []


def test_remote_run_loads_no_http_library(tmp_path: Path) -> None:
    """Its one reveal goes through the light reader (client/light.py), not httpx."""
    done = profiled(Cli(tmp_path / "empty"), "run", "--stack", "web", "--", "true")
    assert "cannot reach the stacksafe server" in done.stderr  # it got to the network
    assert "stacksafe.client.light" in imported(done.stderr)
    assert http_modules(done.stderr) == []
    # Nor the server's settings (dataclasses built at import): only the client's.
    assert "stacksafe.settings.client" in imported(done.stderr)
    assert "stacksafe.settings.installation" not in imported(done.stderr)


@pytest.mark.parametrize("through", ["proxy", "jwt login"])
def test_a_proxy_or_a_jwt_login_is_the_sdks(tmp_path: Path, through: str) -> None:
    """httpx honours a proxy, and the SDK logs in with a JWT: `run` leaves those to it (and
    the guard above sees httpx when it is loaded)."""
    jwt = tmp_path / "jwt"
    jwt.write_text("header.payload.signature\n")
    extra = (
        {"HTTP_PROXY": "http://127.0.0.1:9"}
        if through == "proxy"
        else {"STACKSAFE_TOKEN": "", "STACKSAFE_JWT_ROLE": "ci", "STACKSAFE_JWT_FILE": str(jwt)}
    )
    done = Cli(tmp_path / "empty").run(
        "run",
        "--stack",
        "web",
        "--",
        "true",
        env={**UNREACHABLE, "PYTHONPROFILEIMPORTTIME": "1", **extra},
    )
    assert "cannot reach the stacksafe server" in done.stderr
    assert "httpx" in http_modules(done.stderr)
    assert "stacksafe.client.light" not in imported(done.stderr)
    assert server_modules(done.stderr) == []


def test_remote_run_through_typer_loads_no_server(tmp_path: Path) -> None:
    """A command line the fast path leaves to Typer (an option it does not parse)."""
    done = profiled(Cli(tmp_path / "empty"), "run", "--stack", "web", "--help")
    assert done.returncode == 0, done.stderr
    assert server_modules(done.stderr) == []


# What building a command (every one, for `stacksafe --help`) may load beyond that: the
# generator's limits, which `secrets generate --help` shows (constants and a function;
# stacksafe.errors and stacksafe.model only).
HELP_CORE = PLAIN_CORE | {"stacksafe.core.generate"}


@pytest.mark.parametrize(
    "command",
    [(), ("secrets",), ("keys",), ("users",), ("accounts",), ("serve",), ("init",)],
    ids=lambda command: " ".join(("stacksafe", *command)),
)
def test_help_loads_no_server(tmp_path: Path, command: tuple[str, ...]) -> None:
    """A command's module is imported when its help is shown (every one for `stacksafe --help`,
    which lists them all): none may load the server."""
    done = profiled(Cli(tmp_path / "empty"), *command, "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: stacksafe" in done.stdout
    assert [name for name in server_modules(done.stderr) if name not in HELP_CORE] == []


def test_generate_is_plain() -> None:
    """HELP_CORE's module stays one that imports no server of its own."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import stacksafe.core.generate"],
        capture_output=True,
        text=True,
        env=parent_environ(),
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [name for name in server_modules(done.stderr) if name not in HELP_CORE] == []


def test_keys_batches_are_the_cores() -> None:
    """keys_cmd repeats the core's default batches (its --help shows them) not to import it."""
    from stacksafe.cli import keys_cmd
    from stacksafe.core import data_key_rotation, master_key_rotation

    assert (keys_cmd.REWRAP_BATCH, keys_cmd.RESEAL_BATCH) == (
        master_key_rotation.BATCH,
        data_key_rotation.BATCH,
    )


# What a start on SQLite has no use for (bench/README.md, "Start-up"): PostgreSQL's driver and
# SQLAlchemy's dialect for it; a JWT's check (joserfc, and through it cryptography's X.509) and
# HTTP calls out (httpx, with the rich and pygments of its own CLI), which a server makes only
# when a workload logs in, a person signs in with a provider or a sink or webhook delivers.
POSTGRESQL_ONLY = ("psycopg", "sqlalchemy.dialects.postgresql")
NOT_AT_START = (*POSTGRESQL_ONLY, "httpx", "httpcore", "rich", "pygments", "joserfc")
# A local command does not serve either: none of the server's faces.
SERVER_FACES = ("fastapi", "starlette", "uvicorn")
NOT_IN_A_LOCAL_COMMAND = (*NOT_AT_START, *SERVER_FACES, *HTTP_LIBRARIES)


def test_the_names_are_modules() -> None:
    """A misspelt name would never be loaded, and its guard never fail. (HTTP_LIBRARIES names
    h2 too, which httpx uses when it is installed.)"""
    names = (*NOT_AT_START, *SERVER_FACES)
    assert [name for name in names if importlib.util.find_spec(name) is None] == []


def loaded_of(stderr: str, packages: tuple[str, ...]) -> list[str]:
    """The modules of ``packages`` (each a package or a module) an import report names."""
    return sorted(
        name
        for name in imported(stderr)
        if any(name == package or name.startswith(package + ".") for package in packages)
    )


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A SQLite installation with an account (seeded in-process)."""
    cli = Cli(tmp_path_factory.mktemp("sqlite") / "data")
    seed(cli.in_process())
    return cli


@pytest.mark.parametrize(
    "command",
    [
        ("accounts", "list"),
        ("secrets", "list", "--stack", "web"),
        ("secrets", "set", "GREETING=hello", "--stack", "web"),
    ],
    ids=" ".join,
)
def test_a_local_command_on_sqlite_loads_only_what_it_uses(
    initialised: Cli, command: tuple[str, ...]
) -> None:
    done = initialised.run(*command, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    assert "stacksafe.store.transactions" in imported(done.stderr)  # it did open the database
    assert loaded_of(done.stderr, NOT_IN_A_LOCAL_COMMAND) == []


def test_serve_starts_without_what_its_first_request_does_not_need(
    initialised: Cli, tmp_path: Path
) -> None:
    """`stacksafe serve` on SQLite, until /healthz answers: no PostgreSQL driver or dialect,
    no JWT library, no HTTP client (each is imported when first used)."""
    server = start_serve(
        initialised,
        ["--rotation-interval", "0"],
        tmp_path / "serve",
        scheme="http",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    try:
        server.wait_healthy(verify=False)
    finally:
        server.stop()
    report = server.stderr()
    assert "stacksafe.api.app" in imported(report)  # the report is the server's
    assert loaded_of(report, NOT_AT_START) == []


def test_the_guard_sees_a_server_import_in_the_cli(tmp_path: Path) -> None:
    """Break the lazy imports in a copy of the package (``import sqlalchemy`` at the top of
    cli/main.py): the same check names it."""
    copy = tmp_path / "stacksafe"
    shutil.copytree(
        Path(stacksafe.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    main = copy / "cli" / "main.py"
    first = "from __future__ import annotations\n"
    source = main.read_text()
    assert first in source
    main.write_text(source.replace(first, first + "\nimport sqlalchemy\n", 1))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stacksafe.cli.main import main; main()",
            "run",
            "--stack",
            "web",
            "--",
            "true",
        ],
        capture_output=True,
        text=True,
        env={
            # Not measured: coverage would count the copy's modules as more of the package
            # (its source is the package by name), none of them run but main.
            **parent_environ(measured=False),
            **UNREACHABLE,
            "PYTHONPATH": str(tmp_path),
            "PYTHONPROFILEIMPORTTIME": "1",
        },
        timeout=TIMEOUT,
        check=False,
    )
    # (Were the copy not what ran, nothing would have imported SQLAlchemy.)
    assert "sqlalchemy" in server_modules(done.stderr)
