"""The server's and the CLI's own configuration, read in stacksafe.settings from a mapping and
passed in: `serve` hands its workers a ServerSettings, and writes nothing into the environment."""

from __future__ import annotations

import functools
import os
import pickle
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacksafe.api.app import app_from_settings
from stacksafe.cli import serve_cmd
from stacksafe.cli.main import app as cli_app
from stacksafe.errors import ConfigurationError
from stacksafe.settings import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_ROTATION_INTERVAL,
    ClientSettings,
    ServerSettings,
    Settings,
)
from tests.cli.helpers import Cli, seed
from tests.e2e.conftest import free_port


def test_server_settings_default() -> None:
    assert ServerSettings.load({}) == ServerSettings(
        data_dir=None,
        rate_limit=DEFAULT_RATE_LIMIT,
        threads=None,
        rotation_interval=DEFAULT_ROTATION_INTERVAL,
        web_idle_timeout=None,
        web_origin=None,
    )
    assert ServerSettings.load({"STACKSAFE_THREADS": ""}).threads is None


def test_server_settings_from_variables(tmp_path: Path) -> None:
    env = {
        "STACKSAFE_RATE_LIMIT": str(10**9),
        "STACKSAFE_THREADS": "4",
        "STACKSAFE_ROTATION_INTERVAL": "0",
        "STACKSAFE_WEB_IDLE_TIMEOUT": "15m",
        "STACKSAFE_WEB_ORIGIN": "https://secrets.example.com",
        "STACKSAFE_DATA_DIR": str(tmp_path),
        "STACKSAFE_VAULT_MOUNT": "kv-prod",
        "STACKSAFE_VAULT_ECHO_TOKEN": "1",
        "STACKSAFE_CHANGE_STREAMS": "0",
        "STACKSAFE_CHANGE_STREAMS_PER_TOKEN": "2",
    }
    server = ServerSettings.load(env)
    assert (server.change_streams, server.change_streams_per_token) == (0, 2)
    assert (server.rate_limit, server.threads, server.rotation_interval) == (10**9, 4, 0)
    assert server.web_idle_timeout == "15m"
    assert server.web_origin == "https://secrets.example.com"
    assert (server.vault_mount, server.vault_echo_token) == ("kv-prod", True)
    assert server.installation_settings(env).data_dir == tmp_path


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("STACKSAFE_RATE_LIMIT", "0"),
        ("STACKSAFE_RATE_LIMIT", "lots"),
        ("STACKSAFE_THREADS", "0"),
        ("STACKSAFE_THREADS", "1000"),
        ("STACKSAFE_ROTATION_INTERVAL", "-1"),
        ("STACKSAFE_VAULT_MOUNT", "sys"),
        ("STACKSAFE_VAULT_MOUNT", "Secret/Data"),
        ("STACKSAFE_VAULT_ECHO_TOKEN", "maybe"),
        ("STACKSAFE_VAULT_ECHO_TOKEN", "2"),
        ("STACKSAFE_CHANGE_STREAMS", "-1"),
        ("STACKSAFE_CHANGE_STREAMS_PER_TOKEN", "0"),
        ("STACKSAFE_CHANGE_STREAMS_PER_TOKEN", "many"),
        ("STACKSAFE_METRICS_ADDRESS", "9464"),
        ("STACKSAFE_METRICS_ADDRESS", "127.0.0.1:"),
        ("STACKSAFE_METRICS_ADDRESS", "127.0.0.1:70000"),
        ("STACKSAFE_METRICS_ADDRESS", "metrics.example.com:9464"),
        ("STACKSAFE_METRICS_ADDRESS", "0.0.0.0:9464"),
        ("STACKSAFE_METRICS_ADDRESS", "[::]:9464"),
        ("STACKSAFE_METRICS_ADDRESS", "8.8.8.8:9464"),
        ("STACKSAFE_METRICS_ADDRESS", "[2001:4860::1]:9464"),
    ],
)
def test_server_settings_refuse_nonsense(name: str, text: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        ServerSettings.load({name: text})


@pytest.mark.parametrize(
    ("text", "listener"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("localhost:9464", ("localhost", 9464)),
        ("10.1.2.3:9100", ("10.1.2.3", 9100)),
        ("192.168.0.7:9100", ("192.168.0.7", 9100)),
        ("[::1]:9464", ("::1", 9464)),
        ("[fd00::5]:9464", ("fd00::5", 9464)),
    ],
)
def test_the_metrics_listener_is_on_loopback_or_a_private_network(
    text: str, listener: tuple[str, int]
) -> None:
    assert ServerSettings.load({"STACKSAFE_METRICS_ADDRESS": text}).metrics_address == listener
    assert ServerSettings.load({}).metrics_address is None
    # The flag wins over the variable, and is named when it is refused.
    flag = ServerSettings.of_serve(
        {"STACKSAFE_METRICS_ADDRESS": "8.8.8.8:1"},
        data_dir=None,
        rate_limit=1,
        threads=None,
        rotation_interval=0,
        metrics_address=text,
    )
    assert flag.metrics_address == listener
    refused = r"--metrics-address: 8\.8\.8\.8 is not a loopback"
    with pytest.raises(ConfigurationError, match=refused):
        ServerSettings.of_serve(
            {},
            data_dir=None,
            rate_limit=1,
            threads=None,
            rotation_interval=0,
            metrics_address="8.8.8.8:1",
        )


def test_serve_flags_win_over_the_variables() -> None:
    """As before: `serve`'s flags (with their defaults) decide, the variables do not."""
    env = {"STACKSAFE_RATE_LIMIT": "5", "STACKSAFE_THREADS": "x", "STACKSAFE_WEB_ORIGIN": "o"}
    server = ServerSettings.of_serve(
        env, data_dir=None, rate_limit=3000, threads=None, rotation_interval=60
    )
    assert (server.rate_limit, server.threads, server.rotation_interval) == (3000, None, 60)
    assert server.web_origin == "o"


def test_server_settings_cross_to_workers_without_key_material(tmp_path: Path) -> None:
    server = ServerSettings(data_dir=tmp_path, threads=3)
    assert pickle.loads(pickle.dumps(server)) == server  # noqa: S301 - our own bytes
    # The installation's Settings may hold a key: they cannot be pickled, each worker loads them.
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Settings.load({"STACKSAFE_MASTER_KEY": "1:abc"}, data_dir=tmp_path))


def test_client_settings() -> None:
    assert ClientSettings.load({}) == ClientSettings()
    assert not ClientSettings.load({"STACKSAFE_ADDR": ""}).remote
    env = {
        "STACKSAFE_ADDR": "https://secrets.example.com",
        "STACKSAFE_TOKEN": "ss_token_value",
        "STACKSAFE_CA_BUNDLE": "/etc/ca.pem",
        "STACKSAFE_FALLBACK_PASSPHRASE": "pass phrase",
        "STACKSAFE_DATA_DIR": "/data",
        "STACKSAFE_DEBUG": "1",
    }
    client = ClientSettings.load(env)
    assert client.remote
    assert (client.address, client.token, client.ca_bundle) == (
        "https://secrets.example.com",
        "ss_token_value",
        "/etc/ca.pem",
    )
    assert (client.fallback_passphrase, client.data_dir, client.debug) == (
        "pass phrase",
        Path("/data"),
        True,
    )
    assert "ss_token_value" not in repr(client)
    assert "pass phrase" not in repr(client)


def test_serve_passes_its_settings_in_and_leaves_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(tmp_path / "data")
    seed(cli.in_process())
    seen: dict[str, Any] = {}
    first_start = serve_cmd._first_start

    def starting(settings: Settings) -> None:
        seen["before"] = dict(os.environ)
        first_start(settings)

    def run(config: Any, listening: socket.socket) -> None:
        listening.close()  # serve binds its port before anything else (a busy port: one line)
        seen["after"] = dict(os.environ)
        seen["config"] = config

    monkeypatch.setattr(serve_cmd, "_first_start", starting)
    monkeypatch.setattr(serve_cmd, "_run", run)
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STACKSAFE_")}
    env |= {"STACKSAFE_DATA_DIR": str(cli.data_dir), "STACKSAFE_WEB_IDLE_TIMEOUT": "15m"}
    done = CliRunner().invoke(
        cli_app,
        [
            "serve",
            "--port",
            str(free_port()),
            "--workers",
            "2",
            "--rate-limit",
            "7",
            "--rotation-interval",
            "0",
        ],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert seen["after"] == seen["before"]
    factory = seen["config"].app
    assert isinstance(factory, functools.partial)
    assert factory.func is app_from_settings
    server = factory.args[0]
    assert server == ServerSettings(
        data_dir=cli.data_dir.absolute(),
        rate_limit=7,
        threads=None,
        rotation_interval=0,
        web_idle_timeout="15m",
    )
    assert pickle.loads(pickle.dumps(factory)).args == (server,)  # noqa: S301 - our own bytes
    served = factory()
    try:
        assert served.state.web.policy.idle_timeout == timedelta(minutes=15)
    finally:
        served.state.web.passwords.close()
        served.state.web.installation.close()


SRC = Path(serve_cmd.__file__).parent.parent
# Besides settings/, what reads the environment on purpose: the environment a child process
# inherits (`run`'s command, `scan`'s git), where the offline snapshots are cached, and the
# certificate authorities httpx trusts (SSL_CERT_FILE / SSL_CERT_DIR, which httpx reads itself:
# the server's outbound TLS context is kept until they change).
READS_ENVIRONMENT = {
    "settings/installation.py",
    "settings/client.py",
    "cli/run_exec.py",
    "scan/sources.py",
    "core/offline.py",
    "core/outbound_tls.py",
}


def test_only_settings_reads_the_environment_and_nothing_writes_it() -> None:
    readers = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        if "os.environ" in text or "getenv" in text:
            readers.add(path.relative_to(SRC).as_posix())
        # No item assignment, update, setdefault, pop or putenv (nor a read by item).
        for write in ("os.environ[", "os.environ.", "putenv", "unsetenv"):
            reads = text.replace("os.environ.items()", "").replace("os.environ.get(", "")
            assert write not in reads, (path, write)
    assert readers == READS_ENVIRONMENT


def test_remote_mode_is_the_client_settings() -> None:
    from stacksafe.cli.backend import remote_client

    with remote_client(ClientSettings()) as local:
        assert local is None
    with (
        pytest.raises(ConfigurationError, match="STACKSAFE_TOKEN is not"),
        remote_client(ClientSettings(address="https://secrets.example.com")),
    ):
        pass


def test_serve_refuses_a_metrics_listener_for_several_workers(tmp_path: Path) -> None:
    """Each worker counts its own requests: one listener could show only one of them."""
    done = CliRunner().invoke(
        cli_app,
        ["serve", "--port", str(free_port()), "--workers", "2", "--metrics-address", "[::1]:1"],
        env={"STACKSAFE_DATA_DIR": str(tmp_path / "data")},
    )
    assert isinstance(done.exception, ConfigurationError)
    assert "use it with --workers 1" in done.exception.message
    assert not (tmp_path / "data").exists()  # refused before anything was made
