"""`stacksafe secrets import|export|diff|copy`: secrets in and out of files, between stacks."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.backend import backend, secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption, StackOption
from stacksafe.cli.import_report import import_progress, report_json, summary
from stacksafe.cli.output import (
    ExportFormat,
    FileFormat,
    ListFormat,
    ListFormatOption,
    print_json,
    print_table,
)
from stacksafe.cli.secret_input import read_bytes
from stacksafe.errors import BrokenReferences, InvalidInput

if TYPE_CHECKING:
    from stacksafe.client import DiffEntry

__all__ = ["DRIFT_EXIT", "copy", "diff", "export", "import_"]

# `secrets diff --exit-code` on drift: git diff's 1 (no error class: nothing failed).
DRIFT_EXIT = 1


def import_(
    path: Annotated[
        str, typer.Argument(metavar="FILE", help="A .env or .json file, or - for stdin.")
    ],
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[
        FileFormat | None,
        typer.Option(
            "--format", "-f", help="The file's format. Default: json for *.json, else dotenv."
        ),
    ] = None,
    output: Annotated[
        ListFormat,
        typer.Option(
            "--output",
            "-o",
            help="The report: a one-line summary (table), or json with every key by outcome.",
        ),
    ] = ListFormat.table,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Values as stored, from `export --raw`: ${KEY} stay references. "
            "Default: every value is literal and reads back exactly.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Set every KEY=VALUE of a file: all of them or none. Reports how many keys were added,
    changed and left unchanged (with a progress bar on a terminal)."""
    from stacksafe.core import transfer

    data, source = read_bytes(path)
    text = transfer.decode_utf8(data, source)
    chosen = transfer.detect_format(path) if fmt is None else fmt.value
    entries = transfer.parse(text, "json" if chosen == "json" else "dotenv", source)
    with (
        secrets_backend(data_dir, account=account, stack=stack) as target,
        import_progress(len(entries)) as progress,
    ):
        report = target.import_(entries, progress, raw=raw)
    if not raw and any("${" in v.reveal() for v in entries.values()):
        # A file from `export --raw` imported without --raw would turn references into text.
        typer.echo(
            "Note: ${...} in values was stored as literal text; "
            "import with --raw to keep references (a file from `export --raw`)",
            err=True,
        )
    if output is ListFormat.json:
        print_json({"into": target.describe(), **report_json(report)})
        return
    typer.echo(f"Imported into {target.describe()}: {summary(report)}")


def export(
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="dotenv, json, yaml, shell, docker-env or k8s."),
    ] = ExportFormat.dotenv,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="Values as stored, references unresolved: a faithful copy for import."
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="k8s: the Secret's name (default: from the stack or account name).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print the effective secrets, revealed (references resolved), as dotenv, JSON, YAML,
    shell `export` lines, a Docker env-file or a Kubernetes Secret manifest."""
    from stacksafe.core.exports import k8s_name, render_export

    with secrets_backend(data_dir, account=account, stack=stack) as target:
        values, broken = target.delivery(f"export {fmt.value}", resolve=not raw)
    manifest_name = name or k8s_name(stack or account or "stacksafe")
    sys.stdout.write(render_export(values, fmt.value, name=manifest_name))
    # The other keys are exported; a key whose references are broken is named, and the exit
    # status says the export is not whole (docs/references.md).
    BrokenReferences.among(broken)


def _two_stacks(stacks: list[str] | None) -> tuple[str, str]:
    if not stacks or len(stacks) != 2:
        raise InvalidInput("name two stacks: --stack A --stack B")
    return stacks[0], stacks[1]


def diff(
    stack: Annotated[
        list[str] | None, typer.Option("--stack", "-s", help="Twice: the two stacks.")
    ] = None,
    account: AccountOption = None,
    fmt: ListFormatOption = ListFormat.table,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help="Exit 1 if the stacks differ (as git diff --exit-code), 0 if they match.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Keys missing on either stack, and keys whose values differ (by fingerprint, never by
    value): drift before a deploy. Needs reveal permission on both."""
    left, right = _two_stacks(stack)
    with backend(data_dir) as where:
        entries = where.diff(left, right, account)
    _show_diff(entries, left, right, fmt)
    if exit_code and any(e.state != "same" for e in entries):
        # After the report, as git does: a script learns there is drift, a human sees which.
        raise typer.Exit(DRIFT_EXIT)


def _show_diff(entries: list[DiffEntry], left: str, right: str, fmt: ListFormat) -> None:
    if fmt is ListFormat.json:
        print_json([e.to_json() for e in entries])
        return
    shown = {"only_left": f"only in {left}", "only_right": f"only in {right}"}
    print_table(
        ["KEY", "STATE", left.upper(), right.upper()],
        [
            [
                e.key,
                shown.get(e.state, e.state),
                _where(e.left_version, e.left_inherited),
                _where(e.right_version, e.right_inherited),
            ]
            for e in entries
            if e.state != "same"
        ],
    )


def _where(version: int | None, inherited: bool | None) -> str:
    if version is None:
        return "-"
    return f"v{version}" + (" (account)" if inherited else "")


def copy(
    from_stack: Annotated[str, typer.Option("--from-stack", help="Copy from this stack.")],
    to_stack: Annotated[str, typer.Option("--to-stack", help="Into this stack's own secrets.")],
    key: Annotated[
        list[str] | None, typer.Option("--key", "-k", help="Only this key; repeatable.")
    ] = None,
    account: AccountOption = None,
    allow_production_source: Annotated[
        bool,
        typer.Option(
            "--allow-production-source",
            help="Needed to copy out of a production stack into a non-production one.",
        ),
    ] = False,
    output: Annotated[
        ListFormat,
        typer.Option(
            "--output",
            "-o",
            help="The report: a one-line summary (table), or json with every key by outcome.",
        ),
    ] = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Copy a stack's effective values into another stack, in one transaction (audited).
    Reports how many keys were added, changed and left unchanged, as `secrets import` does."""
    with backend(data_dir) as where:
        report = where.copy(from_stack, to_stack, account, key, allow_production_source)
    if output is ListFormat.json:
        print_json({"from": from_stack, "into": to_stack, **report_json(report)})
        return
    typer.echo(f"Copied from {from_stack!r} into {to_stack!r}: {summary(report)}")
