"""`stacksafe scan`: look for leaked secrets in files, git history or stdin.

Exit status: 0 nothing found (or all in the baseline), 1 findings, and the usual error codes
(each error's ``exit_code``, stacksafe.errors) when the scan could not run.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli import collector
from stacksafe.cli.common import AccountOption, DataDirOption, StackOption
from stacksafe.errors import Forbidden, InvalidInput
from stacksafe.scan import (
    MIN_VALUE_LENGTH,
    Baseline,
    Detectors,
    KnownValues,
    ReportFormat,
    ScanResult,
    render,
    scan_git,
    scan_paths,
    scan_stream,
)
from stacksafe.scan.config import DEFAULT_NAME, ScanConfig
from stacksafe.scan.sources import display_path

__all__ = ["scan"]


def _rule_ids() -> list[str]:
    # Imported when asked: the catalogue compiles every rule, which a scan whose pattern work
    # goes to worker processes need not do here.
    from stacksafe.scan.rules.catalogue import RULES

    return [r.id for r in RULES]


def _say(message: str) -> None:
    sys.stderr.write(f"scan: {message}\n")


def _check(
    paths: list[str], git: bool, since: str | None, known: bool, patterns: bool, update: bool
) -> None:
    if not known and not patterns:
        raise InvalidInput("--no-known-values and --no-patterns leave nothing to look for")
    if since is not None and not git:
        raise InvalidInput("--since goes with --git")
    if git and len(paths) > 1:
        raise InvalidInput("--git scans one repository: give at most one PATH (default: .)")
    if "-" in paths and len(paths) > 1:
        raise InvalidInput("- (stdin) cannot be combined with other paths")
    if not paths and not git:
        raise InvalidInput("name what to scan: PATH..., - for stdin, or --git")
    if update and git is False and "-" in paths:
        raise InvalidInput("--update-baseline needs files or --git, not stdin")


def _known_values(
    data_dir: Path | None, stack: str | None, account: str | None, min_length: int
) -> KnownValues:
    # Imported here: the core (SQLAlchemy) is needed only to look for known values.
    from stacksafe.cli.scan_values import managed_values

    values = managed_values(data_dir, stack, account)
    if values.forbidden and (stack is not None or account is not None or not values.levels):
        # A scan that looked for nothing must not pass as clean: a level named on the command
        # line, or every level there is, could not be revealed.
        raise Forbidden(
            f"you may not reveal the values of {', '.join(values.forbidden)}, so they cannot be "
            "looked for (--no-known-values scans for secret-shaped text only)"
        )
    for level in values.forbidden:
        _say(f"{level}: you may not reveal its values; not looked for")
    known = KnownValues(values.entries, min_length=min_length)
    _say(f"looking for {known.count} managed values from {values.levels} levels")
    if known.skipped:
        names = ", ".join(loc.describe() for loc in known.skipped)
        _say(f"too short to look for (under {min_length} characters): {names}")
    return known


def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[PATH]...",
            help="Files and directories to scan; - reads stdin; with --git, the repository.",
            show_default=False,
        ),
    ] = None,
    git: Annotated[
        bool, typer.Option("--git", help="Scan lines added in git history and staged changes.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="With --git: only commits after this revision.", show_default=False
        ),
    ] = None,
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = (
        ReportFormat.text
    ),
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", help="Accept the findings listed in this file.", show_default=False
        ),
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option("--update-baseline", help="Write every finding to the --baseline file."),
    ] = False,
    no_known_values: Annotated[
        bool, typer.Option("--no-known-values", help="Do not look for managed values.")
    ] = False,
    no_patterns: Annotated[
        bool, typer.Option("--no-patterns", help="Do not run the pattern rules.")
    ] = False,
    include_binary: Annotated[
        bool,
        typer.Option("--include-binary", help="Also look for managed values in binary files."),
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Leave out paths matching GLOB (a directory leaves out all below); repeatable.",
            show_default=False,
        ),
    ] = None,
    no_gitignore: Annotated[
        bool, typer.Option("--no-gitignore", help="Also scan files that git ignores.")
    ] = False,
    min_length: Annotated[
        int,
        typer.Option("--min-length", min=1, help="Shortest managed value looked for."),
    ] = MIN_VALUE_LENGTH,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=f"Scan settings (rules to disable, paths to exclude); default: {DEFAULT_NAME} "
            "in the current directory, if there is one.",
            show_default=False,
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="List the pattern rules (id and what each finds).")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Find leaked secrets: managed values (by exact match) and secret-like text.

    Exits 1 when something is found that the baseline does not accept, 0 otherwise.
    """
    if list_rules:
        from stacksafe.scan.rules.catalogue import RULES

        sys.stdout.write("".join(f"{r.id}\t{r.description}\n" for r in RULES))
        return
    given = paths or []
    settings = ScanConfig.find(config, Path.cwd(), _rule_ids)
    _check(given, git, since, not no_known_values, not no_patterns, update_baseline)
    if update_baseline and baseline is None:
        raise InvalidInput("--update-baseline needs --baseline FILE")
    accepted = Baseline.new()
    if baseline is not None:
        accepted = Baseline.load_or_new(baseline) if update_baseline else Baseline.load(baseline)
    skip = [*settings.exclude, *(exclude or ())]
    if baseline is not None:
        # Its key and fingerprints look like secrets; it is read, never scanned.
        skip.append(glob.escape(display_path(baseline)))
    known = None if no_known_values else _known_values(data_dir, stack, account, min_length)
    detectors = Detectors(
        key=accepted.key,
        known=known,
        patterns=not no_patterns,
        include_binary=include_binary,
        disabled=settings.disable,
    )
    collector.started()
    result: ScanResult
    if git:
        result = scan_git(Path(given[0] if given else "."), detectors, since, skip)
    elif given == ["-"]:
        result = scan_stream(sys.stdin.buffer, detectors)
    else:
        result = scan_paths(given, detectors, gitignore=not no_gitignore, exclude=skip)
    if update_baseline:
        assert baseline is not None  # noqa: S101 - checked above
        accepted.accepting(result.findings).save(baseline)
        _say(f"{baseline}: {len(result.findings)} findings accepted")
        leaked = sum(1 for f in result.findings if f.is_known_value)
        if leaked:
            # Its key sits in the same file: whoever has the file can test guesses of the
            # matched values offline. Rotate leaked values rather than accept them.
            _say(
                f"warning: {leaked} of them are managed values found in the open; rotate them, "
                "and do not commit a baseline that accepts them (docs/scanning.md)"
            )
        return
    new, old = accepted.split(result.findings)
    sys.stdout.write(render(fmt, new, result.summary(new), keyed=baseline is not None))
    read = f"{result.commits} commits" if git else f"{result.files} files"
    note = f", {len(old)} accepted by the baseline" if old else ""
    skipped = (
        f", {len(result.binary_skipped)} binary files skipped" if result.binary_skipped else ""
    )
    _say(f"{len(new)} findings in {read} ({result.bytes} bytes){note}{skipped}")
    if new:
        raise typer.Exit(1)
