"""`stacksafe secrets ...`: set, get, list, unset, import, export, and versions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli.backend import remote_client, remote_stack_uid, secrets_backend
from stacksafe.cli.common import (
    AccountOption,
    DataDirOption,
    StackOption,
    local_actor,
    opened_installation,
    parse_moment,
)
from stacksafe.cli.output import (
    ExportFormat,
    FileFormat,
    ListFormat,
    ListFormatOption,
    print_json,
    print_table,
    secret_rows,
)
from stacksafe.core import promotion, transfer
from stacksafe.core.exports import k8s_name, render_export
from stacksafe.core.generate import CHARSETS, MAX_LENGTH, generate_value
from stacksafe.core.tenancy import resolve_target
from stacksafe.core.validation import parse_duration
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["secrets_app"]

secrets_app = typer.Typer(help="Secrets of an account (inherited by its stacks) or of a stack.")

IfVersionOption = Annotated[
    int | None,
    typer.Option(
        "--if-version",
        min=0,
        help="Only if the key is at this version here (0: does not exist yet); else exit 5.",
    ),
]
RevealOption = Annotated[bool, typer.Option("--reveal", help="Include the plaintext raw_value.")]
RawOption = Annotated[
    bool, typer.Option("--raw", help="Show ${KEY} references as stored, unresolved.")
]
EnvironmentOption = Annotated[
    list[str] | None,
    typer.Option(
        "--environment",
        "-e",
        help="Account secrets: only stacks of this environment inherit it; repeatable.",
    ),
]
AllEnvironmentsOption = Annotated[
    bool,
    typer.Option("--all-environments", help="Account secrets: lift an environment restriction."),
]


def _restriction(environment: list[str] | None, all_environments: bool) -> list[str] | None:
    if environment and all_environments:
        raise InvalidInput("give --environment or --all-environments, not both")
    if all_environments:
        return []
    return environment or None


def _read_bytes(path: str) -> tuple[bytes, str]:
    if path == "-":
        return sys.stdin.buffer.read(), "stdin"
    try:
        return Path(path).read_bytes(), path
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _value_from_sources(
    key: str, inline: str | None, from_stdin: bool, from_file: Path | None
) -> SecretValue:
    given = [
        name
        for name, on in (
            ("KEY=VALUE", inline is not None),
            ("--stdin", from_stdin),
            ("--from-file", from_file is not None),
        )
        if on
    ]
    if len(given) > 1:
        raise InvalidInput(f"give the value one way only, not {' and '.join(given)}")
    if inline is not None:
        return SecretValue(inline)
    if from_stdin:
        data, source = _read_bytes("-")
        return SecretValue(_strip_one_newline(transfer.decode_utf8(data, source)))
    if from_file is not None:
        data, source = _read_bytes(str(from_file))
        return SecretValue(transfer.decode_utf8(data, source))
    if not sys.stdin.isatty():
        raise InvalidInput(f"no value for {key!r}: use KEY=VALUE, --stdin or --from-file FILE")
    return SecretValue(typer.prompt(f"Value for {key}", hide_input=True, confirmation_prompt=True))


@secrets_app.command("set")
def set_(
    assignment: Annotated[str, typer.Argument(metavar="KEY[=VALUE]")],
    stack: StackOption = None,
    account: AccountOption = None,
    from_stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the value from stdin (one final newline dropped).")
    ] = False,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="Read the value from a file, byte for byte.")
    ] = None,
    if_version: IfVersionOption = None,
    environment: EnvironmentOption = None,
    all_environments: AllEnvironmentsOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Set a secret. Without a value on the command line, asks for it without echoing."""
    key, sep, inline = assignment.partition("=")
    restriction = _restriction(environment, all_environments)
    value = _value_from_sources(key, inline if sep else None, from_stdin, from_file)
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        stored = target.set(key, value, if_version, restriction)
    typer.echo(f"Set {stored.key} on {target.describe()} (version {stored.version})")


@secrets_app.command("get")
def get(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Print only the plaintext value (implies --reveal).")
    ] = False,
    raw: RawOption = False,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="The level's own version named current, previous or pending (a rotation in "
            "progress), unresolved.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show one secret as a JSON object (the effective one, for a stack)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        found = target.get(key, reveal or plain, resolve=not raw, label=label)
    if plain and found.raw_value is not None:
        sys.stdout.write(found.raw_value.reveal() + "\n")
    else:
        print_json(found.to_json())


@secrets_app.command("list")
def list_(
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    raw: RawOption = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """List the effective secrets of a stack (own and inherited), or an account's own."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        found = target.list(reveal, resolve=not raw)
    if fmt is ListFormat.json:
        print_json([s.to_json() for s in found])
    else:
        print_table(["KEY", "FROM", "VERSION", "UPDATED", "VALUE"], secret_rows(found))


@secrets_app.command("unset")
def unset(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    if_version: IfVersionOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a secret from a stack or an account (its history is kept)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        target.unset(key, if_version)
    typer.echo(f"Unset {key} on {target.describe()}")


@secrets_app.command("import")
def import_(
    path: Annotated[
        str, typer.Argument(metavar="FILE", help="A .env or .json file, or - for stdin.")
    ],
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[
        FileFormat | None,
        typer.Option("--format", "-f", help="Default: json for *.json, else dotenv."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set every KEY=VALUE of a file in one transaction: all of them or none."""
    data, source = _read_bytes(path)
    text = transfer.decode_utf8(data, source)
    chosen = transfer.detect_format(path) if fmt is None else fmt.value
    entries = transfer.parse(text, "json" if chosen == "json" else "dotenv", source)
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        report = target.import_(entries)
    typer.echo(f"Imported into {target.describe()}:")
    for label, keys in (
        ("added", report.added),
        ("changed", report.changed),
        ("unchanged", report.unchanged),
    ):
        typer.echo(f"  {label:<9} {len(keys):>4}  {' '.join(keys)}".rstrip())


@secrets_app.command("export")
def export(
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.dotenv,
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
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        values = target.values(f"export {fmt.value}", resolve=not raw)
    manifest_name = name or k8s_name(stack or account or "stacksafe")
    sys.stdout.write(render_export(values, fmt.value, name=manifest_name))


@secrets_app.command("history")
def history(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    reveal: RevealOption = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Every version of a key at this level, newest first: who, when, what."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        entries = target.history(key, reveal)
    if fmt is ListFormat.json:
        print_json(list(entries))
        return
    columns = ["VERSION", "ACTION", "AUTHOR", "CREATED", "STATE"] + (["VALUE"] if reveal else [])
    rows = []
    for entry in entries:
        state = "destroyed" if entry["destroyed"] else ("deleted" if entry["deleted"] else "")
        row = [
            str(entry["version"]) + (" *" if entry["current"] else ""),
            str(entry["action"]),
            str(entry["author"]),
            str(entry["created_at_iso"]),
            state or "-",
        ]
        if reveal:
            row.append("-" if entry["raw_value"] is None else str(entry["raw_value"]))
        rows.append(row)
    print_table(columns, rows)


@secrets_app.command("rollback")
def rollback(
    key: Annotated[
        str | None, typer.Argument(help="The key; without it, every key of the level (--to).")
    ] = None,
    stack: StackOption = None,
    account: AccountOption = None,
    to_version: Annotated[
        int | None, typer.Option("--to-version", min=1, help="Restore this version of KEY.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Restore every key of the level as it was then (2026-11-20T10:00:00Z)."
        ),
    ] = None,
    if_version: IfVersionOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restore an earlier value as a new version: one key (--to-version), or a whole stack or
    account to a moment (--to), in one transaction. Nothing is erased."""
    if (key is None) != (to is not None) or (to_version is None) == (to is None):
        raise InvalidInput("give KEY --to-version N, or --to TIME without a key")
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        if key is not None and to_version is not None:
            version = target.rollback(key, to_version, if_version)
            typer.echo(
                f"Rolled {key} on {target.describe()} back to version {to_version}'s value "
                f"(now version {version})"
            )
            return
        if if_version is not None:
            raise InvalidInput("--if-version goes with KEY --to-version")
        report = target.rollback_level(parse_moment(str(to), "--to"))
    typer.echo(f"Rolled {target.describe()} back to {report['to_iso']}:")
    restored = " ".join(f"{k}@{v}" for k, v in sorted(report["restored"].items()))
    for label, shown in (
        ("restored", restored),
        ("deleted", " ".join(report["deleted"])),
        ("unchanged", " ".join(report["unchanged"])),
    ):
        typer.echo(f"  {label:<9} {shown}".rstrip())


@secrets_app.command("undelete")
def undelete(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restore a deleted key's last value (a new version)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        version = target.undelete(key)
    typer.echo(f"Restored {key} on {target.describe()} (version {version})")


@secrets_app.command("destroy")
def destroy(
    key: str,
    version: Annotated[int, typer.Option("--version", min=1, help="The version to destroy.")],
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove one old version's value for good (the current one cannot be destroyed)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        target.destroy(key, version)
    typer.echo(f"Destroyed version {version} of {key} on {target.describe()}")


@secrets_app.command("max-versions")
def max_versions(
    limit: Annotated[
        str | None, typer.Argument(metavar="[N|all]", help="Set it; without, show it.")
    ] = None,
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """How many versions each secret of a stack or account keeps (never fewer than 2)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        if limit is None:
            current = target.max_versions()
            typer.echo("all" if current is None else str(current))
            return
        if limit.strip().lower() == "all":
            chosen = None
        elif limit.strip().isdigit():
            chosen = int(limit)
        else:
            raise InvalidInput(f"max-versions {limit!r} is not a number or 'all'")
        target.set_max_versions(chosen)
    shown = "all versions" if chosen is None else f"at most {chosen} versions"
    typer.echo(f"Secrets of {target.describe()} keep {shown}")


@secrets_app.command("restrict")
def restrict(
    key: str,
    account: AccountOption = None,
    environment: EnvironmentOption = None,
    all_environments: AllEnvironmentsOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Which environments' stacks inherit an account secret: show it, or set it."""
    if account is None:
        raise InvalidInput("environment restrictions belong to account secrets: give --account")
    restriction = _restriction(environment, all_environments)
    with secrets_backend(data_dir, account=account, stack=None) as target:
        found = (
            target.environments(key) if restriction is None else target.restrict(key, restriction)
        )
    shown = "every environment" if found is None else ", ".join(found)
    typer.echo(f"{key} on {target.describe()} is inherited by stacks of: {shown}")


def _two_stacks(stacks: list[str] | None) -> tuple[str, str]:
    if not stacks or len(stacks) != 2:
        raise InvalidInput("name two stacks: --stack A --stack B")
    return stacks[0], stacks[1]


@secrets_app.command("diff")
def diff(
    stack: Annotated[
        list[str] | None, typer.Option("--stack", "-s", help="Twice: the two stacks.")
    ] = None,
    account: AccountOption = None,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Keys missing on either stack, and keys whose values differ (by fingerprint, never by
    value): drift before a deploy. Needs reveal permission on both."""
    left, right = _two_stacks(stack)
    with remote_client() as client:
        if client is not None:
            rows = client.diff(
                remote_stack_uid(client, left, account), remote_stack_uid(client, right, account)
            )
        else:
            with opened_installation(data_dir) as installation:
                found = promotion.diff_stacks(
                    installation,
                    local_actor(),
                    resolve_target(installation, account=account, stack=left),
                    resolve_target(installation, account=account, stack=right),
                )
            rows = [e.to_json() for e in found]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    shown = {"only_left": f"only in {left}", "only_right": f"only in {right}"}
    print_table(
        ["KEY", "STATE", left.upper(), right.upper()],
        [
            [
                str(r["key"]),
                shown.get(str(r["state"]), str(r["state"])),
                _where(r["left_version"], r["left_inherited"]),
                _where(r["right_version"], r["right_inherited"]),
            ]
            for r in rows
            if r["state"] != "same"
        ],
    )


def _where(version: object, inherited: object) -> str:
    if version is None:
        return "-"
    return f"v{version}" + (" (account)" if inherited else "")


@secrets_app.command("copy")
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
    data_dir: DataDirOption = None,
) -> None:
    """Copy a stack's effective values into another stack, in one transaction (audited)."""
    with remote_client() as client:
        if client is not None:
            copied = client.copy(
                remote_stack_uid(client, from_stack, account),
                remote_stack_uid(client, to_stack, account),
                key,
                allow_production_source=allow_production_source,
            )
            added, changed, unchanged = copied["added"], copied["changed"], copied["unchanged"]
        else:
            with opened_installation(data_dir) as installation:
                report = promotion.copy_secrets(
                    installation,
                    local_actor(),
                    resolve_target(installation, account=account, stack=from_stack),
                    resolve_target(installation, account=account, stack=to_stack),
                    key,
                    allow_production_source=allow_production_source,
                )
            added, changed, unchanged = report.added, report.changed, report.unchanged
    typer.echo(f"Copied from {from_stack!r} into {to_stack!r}:")
    for label, keys in (("added", added), ("changed", changed), ("unchanged", unchanged)):
        typer.echo(f"  {label:<9} {len(keys):>4}  {' '.join(keys)}".rstrip())


@secrets_app.command("generate")
def generate(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    length: Annotated[int, typer.Option(min=1, max=MAX_LENGTH, help="Characters.")] = 32,
    charset: Annotated[str, typer.Option(help=f"One of {', '.join(CHARSETS)}.")] = "alnum",
    if_version: IfVersionOption = None,
    rotate_every: Annotated[
        str | None,
        typer.Option(
            "--rotate-every",
            help="Also give KEY a policy: a new value of this kind every period (e.g. 30d), "
            "made by the server's scheduler or `stacksafe rotation run`.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set KEY to a new random value (never printed: reveal it with `secrets get`)."""
    if rotate_every is not None:
        parse_duration(rotate_every)  # a bad period must not leave a value set without policy
    value = generate_value(length, charset)
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        stored = target.set(key, value, if_version)
        if rotate_every is not None:
            config = {"length": length, "charset": charset}
            target.set_rotation(key, rotate_every, None, "generate", config)
    typer.echo(
        f"Set {stored.key} on {target.describe()} to {length} random {charset} characters "
        f"(version {stored.version})"
        + ("" if rotate_every is None else f"; rotated every {rotate_every}")
    )
