"""Where `run` reads its stack (cli/run_source.py): the light reader in remote mode with a
token, the SDK when a proxy is set or a JWT logs in, the installation in local mode."""

from __future__ import annotations

from pathlib import Path

from stacksafe.cli.run_source import LightStack, light_stack
from stacksafe.client.light import LightReader
from stacksafe.settings import ClientSettings
from tests.cli.helpers import Cli, error_line

ADDRESS = "https://secrets.example.com:8200"
REMOTE = ClientSettings(address=ADDRESS, token="ssk_x")


def test_remote_mode_with_a_token_is_light() -> None:
    found = light_stack(REMOTE, stack="web", account="acme")
    assert isinstance(found, LightStack)
    assert isinstance(found.reader, LightReader)
    assert found.reader.base == "https://secrets.example.com:8200/api/3"
    assert (found.stack, found.account) == ("web", "acme")
    found.reader.close()


def test_what_the_sdk_must_do_is_left_to_it(tmp_path: Path) -> None:
    jwt = str(tmp_path / "jwt")
    for settings in (
        ClientSettings(),  # local mode: the installation
        ClientSettings(address=ADDRESS, token="ssk_x", proxied=True),  # httpx's proxy
        ClientSettings(address=ADDRESS, jwt_role="ci", jwt_file=jwt),  # the SDK logs in
    ):
        assert light_stack(settings, stack="web", account=None) is None


def test_the_environment_says_what_httpx_would_take_from_it() -> None:
    base = {"STACKSAFE_ADDR": ADDRESS, "STACKSAFE_TOKEN": "ssk_x"}
    assert not ClientSettings.load(base).proxied
    for name in ("HTTPS_PROXY", "http_proxy", "ALL_PROXY", "All_Proxy"):
        assert ClientSettings.load({**base, name: "http://proxy:3128"}).proxied, name
    # Empty, or only the exceptions: no proxy.
    assert not ClientSettings.load({**base, "HTTPS_PROXY": "", "NO_PROXY": "*"}).proxied
    trusted = ClientSettings.load({**base, "SSL_CERT_FILE": "/ca.pem", "SSL_CERT_DIR": "/cas"})
    assert (trusted.ssl_cert_file, trusted.ssl_cert_dir) == ("/ca.pem", "/cas")


def test_a_token_with_a_line_break_is_one_line_and_exit_2_before_any_connection(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path / "empty")
    done = cli.run(
        "run", "--stack", "web", "--", "true",
        env={"STACKSAFE_ADDR": "https://127.0.0.1:9", "STACKSAFE_TOKEN": "ssk_one\nssk_two"},
    )  # fmt: skip
    assert done.returncode == 2
    line = error_line(done.stderr)
    assert "STACKSAFE_TOKEN" in line
    assert "ssk_one" not in done.stderr
    assert "ssk_two" not in done.stderr
