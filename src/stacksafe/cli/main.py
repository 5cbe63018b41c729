"""The `stacksafe` command: wiring of the subcommands, and where errors become their exit codes."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from stacksafe.errors import StacksafeError

if TYPE_CHECKING:  # Typer is imported when an app is built: `run`'s fast path never needs it
    import typer

__all__ = ["INTERRUPTED_EXIT", "UNEXPECTED_EXIT", "build_app", "main"]

# Exit codes are the errors' own (StacksafeError.exit_code, docs/cli.md); beyond them, only
# these two.
UNEXPECTED_EXIT = 70
INTERRUPTED_EXIT = 130
# How much of an error message is shown (a server may send any length).
MAX_ERROR = 4000


def build_app() -> typer.Typer:
    """The whole command; each command's module is imported when it is used (cli/commands.py)."""
    import typer

    from stacksafe.cli.commands import SETTINGS, TopLevel
    from stacksafe.cli.root_cmd import root

    # Completion (--install-completion, --show-completion) is Typer's: bash, zsh, fish, PowerShell.
    application = typer.Typer(
        name="stacksafe",
        cls=TopLevel,
        help="stacksafe: encrypted secrets for accounts and their stacks.",
        no_args_is_help=True,
        add_completion=True,
        **SETTINGS,
    )
    application.callback()(root)
    return application


def build_single_app(name: str) -> typer.Typer:
    """Only command ``name`` (run or scan): their start-up time matters most (bench/cli_bench.py,
    bench/scan.py), and neither needs the root's options or completion."""
    import typer

    from stacksafe.cli.commands import COMMANDS, SETTINGS

    entry = COMMANDS[name]
    command = getattr(entry.load(), entry.attribute)
    application = typer.Typer(name="stacksafe", add_completion=False, **SETTINGS)
    # A callback keeps the command a subcommand (a Typer app of one command would be it).
    application.callback()(_root)
    application.command(name, context_settings=dict(entry.context_settings) or None)(command)
    return application


def _root() -> None:
    """stacksafe: encrypted secrets for accounts and their stacks."""


def __getattr__(name: str) -> typer.Typer:
    # `app` is built on first use (tests, `python -m`), not on import: main() builds only what
    # the command line needs.
    if name == "app":
        built = build_app()
        globals()["app"] = built
        return built
    raise AttributeError(name)


def _start() -> None:
    if sys.argv[1:2] == ["run"]:
        from stacksafe.cli.run_args import parse_run
        from stacksafe.settings import ClientSettings

        fast = parse_run(sys.argv[2:], ClientSettings.load().data_dir)
        if fast is not None:
            from stacksafe.cli.run_exec import execute_run

            execute_run(*fast)
        _invoke(build_single_app("run"))
    if sys.argv[1:2] == ["scan"]:
        _invoke(build_single_app("scan"))
    _invoke(build_app())


def _invoke(application: typer.Typer) -> None:
    """Run ``application``; a usage error is one line, ``Error: ...`` with where to look, not
    click's usage block or Rich's box (scripts and logs read the first line of stderr)."""
    from typer import Abort

    try:  # Typer 0.29 runs on its own copy of click: its exceptions, not the click package's
        from typer._click import exceptions as click
    except ImportError:  # an older Typer, on click itself
        from click import exceptions as click  # type: ignore[no-redef]

    try:
        code = application(standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # `stacksafe secrets`: its help, as asked
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        message = " ".join(exc.format_message().split())
        where = exc.ctx.command_path if exc.ctx is not None else "stacksafe"
        sys.stderr.write(f"Error: {message} (see '{where} --help')\n")
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        sys.stderr.write(f"Error: {' '.join(exc.format_message().split())}\n")
        sys.exit(exc.exit_code)
    except Abort:  # Ctrl-D at a prompt
        sys.stderr.write("Aborted\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def main() -> None:
    from stacksafe.cli import collector

    collector.pause()  # until the command has started (cli.collector)
    try:
        _start()
    except StacksafeError as exc:
        # A remote error's text is the server's (or a proxy's): escaped, so that it cannot
        # move the cursor, retitle the terminal or hide what follows (one line, as always).
        from stacksafe.client.wire import printable

        sys.stderr.write(f"Error: {printable(exc.message, MAX_ERROR)}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        sys.exit(INTERRUPTED_EXIT)
    except Exception as exc:
        # Unexpected: the message may quote data, so show only the type unless debugging.
        from stacksafe.settings import ClientSettings

        if ClientSettings.load().debug:
            raise
        sys.stderr.write(
            f"Error: unexpected {type(exc).__name__}; set STACKSAFE_DEBUG=1 for the traceback\n"
        )
        # Not 1: `scan` (and `rotation run`) exit 1 for "found something" / "a rotation
        # failed", which a crash must not pass for. 70 is sysexits' EX_SOFTWARE.
        sys.exit(UNEXPECTED_EXIT)
    finally:
        collector.resume()  # a command that ended before it started (an error, --help)
