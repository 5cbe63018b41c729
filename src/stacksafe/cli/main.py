"""The `stacksafe` command: wiring of the subcommands, and where errors become their exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stacksafe.errors import StacksafeError

if TYPE_CHECKING:  # Typer is imported when an app is built: `run`'s fast path never needs it
    import typer

__all__ = ["INTERRUPTED_EXIT", "UNEXPECTED_EXIT", "build_app", "main"]

# Exit codes are the errors' own (StacksafeError.exit_code, docs/cli.md); beyond them, only
# these two.
UNEXPECTED_EXIT = 70
INTERRUPTED_EXIT = 130


def build_app() -> typer.Typer:
    import typer

    from stacksafe.cli.admin_cmd import audit_app, tokens_app, users_app
    from stacksafe.cli.backup_cmd import backup, restore
    from stacksafe.cli.keys_cmd import keys_app
    from stacksafe.cli.materialize_cmd import materialize_command
    from stacksafe.cli.root_cmd import root
    from stacksafe.cli.rotation_cmd import rotation_app
    from stacksafe.cli.run_cmd import run
    from stacksafe.cli.scan_cmd import scan
    from stacksafe.cli.secrets_cmd import export, secrets_app
    from stacksafe.cli.serve_cmd import serve
    from stacksafe.cli.setup_cmd import init
    from stacksafe.cli.tenancy_cmd import accounts_app, stacks_app

    # Rich tracebacks print local variables, which may hold plaintext: never enable them.
    # Completion (--install-completion, --show-completion) is Typer's: bash, zsh, fish, PowerShell.
    application = typer.Typer(
        name="stacksafe",
        help="stacksafe: encrypted secrets for accounts and their stacks.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
    )
    application.callback()(root)
    application.command("init")(init)
    application.add_typer(accounts_app, name="accounts")
    application.add_typer(stacks_app, name="stacks")
    application.add_typer(secrets_app, name="secrets")
    application.add_typer(users_app, name="users")
    application.add_typer(tokens_app, name="tokens")
    application.add_typer(audit_app, name="audit")
    application.add_typer(keys_app, name="keys")
    application.add_typer(rotation_app, name="rotation")
    application.command("export")(export)  # `secrets export`, at the top level as peers have it
    application.command("materialize")(materialize_command)
    application.command("serve")(serve)
    application.command("backup")(backup)
    application.command("restore")(restore)
    application.command("scan")(scan)
    application.command(
        "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(run)
    return _plain_help(application)


def _plain_help(application: typer.Typer) -> typer.Typer:
    """Help as written: Rich markup would eat `[stacksafe:KEY]` and the like. Every sub-app has
    its own setting, so it is set on each here, in the one place that assembles them."""
    application.rich_markup_mode = None
    for group in application.registered_groups:
        if group.typer_instance is not None:
            _plain_help(group.typer_instance)
    return application


def build_single_app(name: str) -> typer.Typer:
    """Only command ``name`` (run or scan): their start-up time matters most (bench/cli_bench.py,
    bench/scan.py), and the other commands' modules would import the core for nothing."""
    import typer

    command: Callable[..., None]
    settings: dict[str, Any] = {}
    if name == "run":
        from stacksafe.cli.run_cmd import run as command

        settings = {"allow_extra_args": True, "ignore_unknown_options": True}
    else:
        from stacksafe.cli.scan_cmd import scan as command
    application = typer.Typer(
        name="stacksafe", pretty_exceptions_enable=False, add_completion=False
    )
    # A callback keeps the command a subcommand (a Typer app of one command would be it).
    application.callback()(_root)
    application.command(name, context_settings=settings)(command)
    return _plain_help(application)


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
    try:
        _start()
    except StacksafeError as exc:
        sys.stderr.write(f"Error: {exc.message}\n")
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
