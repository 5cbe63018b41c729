"""`stacksafe audit sinks`: where the audit log is streamed (a file, syslog, HTTPS), configured
by the server owner on the server's machine like `stacksafe auth jwt`; and `audit verify
--stream`, a receiver's check of the lines it got."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.common import DataDirOption, local_actor
from stacksafe.cli.local import server_side
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.errors import InvalidInput
from stacksafe.model import iso8601
from stacksafe.settings import ClientSettings

if TYPE_CHECKING:
    from stacksafe.core.streams.sinks import SinkStatus, StoredSink

__all__ = ["sinks_app", "verify_stream_files"]

sinks_app = typer.Typer(help="Stream the audit log to files, syslog or HTTPS (the owner's).")
_COMMAND = "audit sinks"


@sinks_app.command("add")
def add(
    name: str,
    type_: Annotated[str, typer.Option("--type", help="file, syslog or http.")],
    path: Annotated[Path | None, typer.Option("--path", help="file: the JSON-lines file.")] = None,
    max_bytes: Annotated[
        int | None, typer.Option("--max-bytes", help="file: rotate past this size (100 MiB).")
    ] = None,
    keep: Annotated[
        int | None, typer.Option("--keep", help="file: rotated files kept, FILE.1 ... (5).")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="syslog: HOST:PORT of the receiver.")
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="syslog: over TLS.")] = False,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="syslog: the CA file the receiver is checked with.")
    ] = None,
    udp: Annotated[bool, typer.Option("--udp", help="syslog: over UDP (may lose events).")] = False,
    url: Annotated[
        str | None, typer.Option("--url", help="http: where batches are POSTed.")
    ] = None,
    hmac_secret_file: Annotated[
        Path | None,
        typer.Option("--hmac-secret-file", help="http: a file holding the HMAC signing secret."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="http: 'NAME: VALUE' sent with every batch; repeatable."),
    ] = None,
    from_now: Annotated[
        bool, typer.Option("--from-now", help="Only events from now on (default: the whole log).")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Stream the audit log to a new sink (delivered by the running servers)."""
    from stacksafe.core.streams.config import SinkOptions
    from stacksafe.core.streams.sinks import add_sink

    secret = None if hmac_secret_file is None else _read(hmac_secret_file, "--hmac-secret-file")
    options = SinkOptions(
        path=path,
        max_bytes=max_bytes,
        keep=keep,
        address=address,
        tls=tls,
        ca=ca,
        udp=udp,
        url=url,
        hmac_secret=secret,
        headers=header or (),
    )
    with server_side(data_dir, _COMMAND) as installation:
        stored, warnings = add_sink(
            installation, local_actor(), name, type_, options, from_now=from_now
        )
    for warning in warnings:
        typer.echo(f"Warning: {warning}", err=True)
    start = "from now on" if from_now else "from the first event"
    typer.echo(f"Sink {stored.name!r} added ({stored.type}, {start})", err=True)


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{option} {path}: {exc.strerror or type(exc).__name__}") from None


def _where(sink: StoredSink) -> str:
    import json

    options = json.loads(sink.config)
    if sink.type == "file":
        return str(options.get("path", ""))
    if sink.type == "syslog":
        return f"{options.get('host')}:{options.get('port')}"
    return str(options.get("origin", ""))


@sinks_app.command("list")
def list_(fmt: ListFormatOption = ListFormat.table, data_dir: DataDirOption = None) -> None:
    """The sinks (credentials are never shown)."""
    import json

    from stacksafe.core.streams.sinks import list_sinks

    with server_side(data_dir, _COMMAND) as installation:
        sinks = list_sinks(installation, local_actor())
    rows = [
        {
            "name": s.name,
            "type": s.type,
            "paused": s.paused,
            "options": json.loads(s.config),
            "credentials": s.sealed is not None,  # whether any are kept, sealed
            "created_at_iso": None if s.created_at is None else iso8601(s.created_at),
        }
        for s in sinks
    ]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    print_table(
        ["NAME", "TYPE", "PAUSED", "WHERE"],
        [[s.name, s.type, "yes" if s.paused else "no", _where(s)] for s in sinks],
    )


@sinks_app.command("remove")
def remove(name: str, data_dir: DataDirOption = None) -> None:
    """Stop streaming to a sink and forget its cursor."""
    from stacksafe.core.streams.sinks import remove_sink

    with server_side(data_dir, _COMMAND) as installation:
        remove_sink(installation, local_actor(), name)
    typer.echo(f"Sink {name!r} removed", err=True)


@sinks_app.command("pause")
def pause(name: str, data_dir: DataDirOption = None) -> None:
    """Stop delivering to a sink; its cursor stays (resume continues from it)."""
    from stacksafe.core.streams.sinks import set_paused

    with server_side(data_dir, _COMMAND) as installation:
        set_paused(installation, local_actor(), name, True)
    typer.echo(f"Sink {name!r} paused", err=True)


@sinks_app.command("resume")
def resume(name: str, data_dir: DataDirOption = None) -> None:
    """Deliver to a paused sink again, from where it stopped."""
    from stacksafe.core.streams.sinks import set_paused

    with server_side(data_dir, _COMMAND) as installation:
        set_paused(installation, local_actor(), name, False)
    typer.echo(f"Sink {name!r} resumed", err=True)


def _status_row(s: SinkStatus) -> dict[str, object]:
    return {
        "name": s.name,
        "type": s.type,
        "state": s.state,
        "paused": s.paused,
        "cursor": s.cursor,
        "head": s.head,
        "lag": s.lag,
        "last_delivered_iso": None if s.last_delivered_at is None else iso8601(s.last_delivered_at),
        "last_error": s.last_error,
        "last_error_iso": None if s.last_error_at is None else iso8601(s.last_error_at),
    }


@sinks_app.command("status")
def status(fmt: ListFormatOption = ListFormat.table, data_dir: DataDirOption = None) -> None:
    """Each sink's state, cursor, the log's head, the lag in events, and its last error."""
    from stacksafe.core.streams.sinks import status as statuses

    with server_side(data_dir, _COMMAND) as installation:
        rows = [_status_row(s) for s in statuses(installation, local_actor())]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    columns = ["name", "type", "state", "cursor", "head", "lag", "last_delivered_iso"]
    print_table(
        [*[c.upper().removesuffix("_ISO").replace("_", " ") for c in columns], "LAST ERROR"],
        [[*[str(r[c] if r[c] is not None else "-") for c in columns], _error(r)] for r in rows],
    )


def _error(row: dict[str, object]) -> str:
    if row["last_error"] is None:
        return "-"
    return f"{row['last_error_iso']}: {row['last_error']}"


@sinks_app.command("public-key")
def public_key(data_dir: DataDirOption = None) -> None:
    """The PEM public key that verifies every streamed line (give it to receivers)."""
    from stacksafe.core.streams.sinks import public_key as pem

    with server_side(data_dir, _COMMAND) as installation:
        typer.echo(pem(installation, local_actor()), nl=False)


def verify_stream_files(files: list[Path], key: Path | None, data_dir: Path | None) -> None:
    """`audit verify --stream`: exit 0 when the files hold a clean stream, else 6 naming
    each problem. Without ``key``, the installation's own public key (on its machine)."""
    from stacksafe.core.streams.verify import MAX_LISTED, verifier_from_pem, verify_stream

    if key is not None:
        verifier = verifier_from_pem(_read(key, "--public-key"), str(key))
    else:
        if ClientSettings.load().remote:
            raise InvalidInput(
                "give --public-key PEM (from `stacksafe audit sinks public-key`), or run on the "
                "server's machine without STACKSAFE_ADDR"
            )
        from stacksafe.core.streams.lines import installation_verifier

        with server_side(data_dir, "audit verify --stream") as installation:
            verifier = installation_verifier(installation)
    report = verify_stream(files, verifier)
    summary = (
        f"{report.events} events ({report.first} to {report.newest}), "
        f"{report.repeats} repeated line(s) de-duplicated"
        if report.events
        else "no events"
    )
    if report.clean:
        typer.echo(f"Audit stream intact: {summary}")
        typer.echo(f"  newest {report.newest}:{report.newest_hash}")
        return
    for problem in report.problems:
        typer.echo(f"Error: {problem}", err=True)
    if report.unlisted:
        typer.echo(f"Error: ... and {report.unlisted} more (only {MAX_LISTED} listed)", err=True)
    typer.echo(f"Error: audit stream not intact: {summary}", err=True)
    if report.newest is not None:
        typer.echo(f"  newest seen {report.newest}:{report.newest_hash}", err=True)
    raise typer.Exit(6)
