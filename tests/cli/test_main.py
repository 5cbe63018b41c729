"""The `stacksafe` command's front door: --version, shell completion, one-line usage errors,
help printed as written, and a description on every option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from typing import Any

import pytest
import typer
from typer.core import TyperGroup, TyperOption

from stacksafe.cli.main import app
from tests.cli.helpers import Cli, error_line
from tests.serving import serving


def test_version(cli: Cli) -> None:
    done = cli.ok("--version")
    assert done.stdout == f"stacksafe {version('stacksafe')}\n"


def test_completion_script_and_answers(cli: Cli) -> None:
    # The script `--show-completion` prints for the shell it detects (a parent process: under
    # `make` that is sh, which has none), asked for bash by name through the same protocol.
    script = cli.ok(env={"_STACKSAFE_COMPLETE": "source_bash"}).stdout
    assert "_STACKSAFE_COMPLETE=complete_bash" in script
    # What the script asks the command for, as bash would on `stacksafe sec<TAB>`.
    for words, cword, expected in (
        ("stacksafe sec", "1", "secrets"),
        ("stacksafe secrets gen", "2", "generate"),
        ("stacksafe run --ma", "2", "--mask"),
    ):
        answer = cli.ok(
            env={"_STACKSAFE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        )
        assert expected in answer.stdout.split(), (words, answer.stdout)


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (("secrets", "set"), "Missing argument 'KEY[=VALUE]'.", "stacksafe secrets set --help"),
        (("secrets", "set", "--stakc", "x", "K=v"), "No such option: --stakc", "secrets set"),
        (("serve", "--port", "0"), "Invalid value for '--port'", "stacksafe serve --help"),
        (("nosuch",), "No such command 'nosuch'.", "stacksafe --help"),
        (("run", "--bogus"), "Missing option '--stack'", "stacksafe run --help"),
    ],
    ids=lambda part: part if isinstance(part, str) else " ".join(part),
)
def test_a_usage_error_is_one_line(
    cli: Cli, argv: tuple[str, ...], message: str, hint: str
) -> None:
    done = cli.fails(2, *argv)
    line = error_line(done.stderr)
    assert message in line
    assert hint in line
    assert line.endswith("--help')"), line


def test_help_is_printed_as_written(cli: Cli) -> None:
    """Rich markup would eat `[stacksafe:KEY]` (it printed "...with ." before)."""
    shown = " ".join(cli.ok("run", "--help").stdout.split())
    assert "with [stacksafe:KEY]." in shown
    assert "╭" not in cli.ok("secrets", "set", "--help").stdout


def _commands(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


def test_every_option_says_what_it_does() -> None:
    missing = [
        f"{path} {option.opts[0]}"
        for path, command in _commands(typer.main.get_command(app), "stacksafe")
        for option in command.params
        if isinstance(option, TyperOption) and not (option.help or "").strip()
    ]
    assert missing == []


class _Hostile(BaseHTTPRequestHandler):
    """A "server" whose every answer is an error whose text holds terminal escape sequences."""

    def do_GET(self) -> None:
        body = json.dumps(
            {"error": "not_found", "error_description": "gone\x1b]0;owned\x07\x1b[2J\nnext"}
        ).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_servers_error_text_is_shown_escaped(cli: Cli) -> None:
    """What a remote server (or a proxy) says in an error cannot drive the terminal: control
    characters are shown escaped, on the one error line."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    with serving(server):
        address = f"http://127.0.0.1:{server.server_address[1]}"
        done = cli.fails(
            3,
            "secrets",
            "list",
            "--stack",
            "f" * 32,
            env={"STACKSAFE_ADDR": address, "STACKSAFE_TOKEN": "ss_" + "a" * 40},
        )
    assert "\x1b" not in done.stderr
    assert "\x07" not in done.stderr
    line = error_line(done.stderr)
    assert line.startswith("Error: gone\\x1b]0;owned\\x07\\x1b[2J\\nnext")
