"""`stacksafe audit sinks` (cli/audit_sinks_cmd.py) and `audit verify --stream`: sinks added,
listed, paused, resumed and removed by the owner on the server's machine, every change audited,
credentials sealed and never shown; a receiver's file verified with the public key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.streams.delivery import DeliveryLoop, Step
from stacksafe.core.streams.file_sink import FileSink
from stacksafe.errors import Conflict, InvalidInput, NotFound
from stacksafe.settings import Settings
from stacksafe.store import audit_sinks as queries
from stacksafe.store.stream_tables import audit_sinks
from tests.cli.helpers import Cli, InProcessCli

SECRET = "hmac-secret-do-not-show"
TOKEN = "Bearer header-token-do-not-show"


@pytest.fixture
def owner(seeded: Cli) -> InProcessCli:
    return seeded.in_process()


@pytest.fixture
def opened(seeded: Cli) -> Iterator[Installation]:
    installation = open_installation(Settings.load({}, data_dir=seeded.data_dir))
    yield installation
    installation.close()


def test_a_file_sink_round_trip_audited(owner: InProcessCli, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    owner.ok("audit", "sinks", "add", "siem", "--type", "file", "--path", str(path), "--keep", "2")
    listed = owner.json("audit", "sinks", "list", "--format", "json")
    assert [(s["name"], s["type"], s["paused"], s["credentials"]) for s in listed] == [
        ("siem", "file", False, False)
    ]
    assert listed[0]["options"] == {"path": str(path), "max_bytes": 100 * 1024 * 1024, "keep": 2}
    [status] = owner.json("audit", "sinks", "status", "--format", "json")
    assert (status["state"], status["cursor"]) == ("delivering", 0)
    assert status["lag"] == status["head"] > 0  # nothing delivered: no server runs
    table = owner.ok("audit", "sinks", "status").stdout
    assert table.splitlines()[0].split()[:6] == ["NAME", "TYPE", "STATE", "CURSOR", "HEAD", "LAG"]
    owner.ok("audit", "sinks", "pause", "siem")
    assert owner.json("audit", "sinks", "status", "--format", "json")[0]["state"] == "paused"
    owner.ok("audit", "sinks", "resume", "siem")
    owner.fails(
        Conflict.exit_code, "audit", "sinks", "add", "siem", "--type", "file", "--path", str(path)
    )
    owner.ok("audit", "sinks", "remove", "siem")
    owner.fails(NotFound.exit_code, "audit", "sinks", "remove", "siem")
    assert owner.json("audit", "sinks", "list", "--format", "json") == []
    events = owner.json("audit", "list", "--format", "json")
    assert [e["action"] for e in events if e["action"].startswith("audit_sink.")][::-1] == [
        "audit_sink.add",
        "audit_sink.pause",
        "audit_sink.resume",
        "audit_sink.remove",
    ]


def test_http_credentials_are_sealed_and_never_shown(
    owner: InProcessCli, tmp_path: Path, opened: Installation
) -> None:
    secret_file = tmp_path / "hmac"
    secret_file.write_text(SECRET + "\n")
    owner.ok(
        "audit", "sinks", "add", "collector", "--type", "http",
        "--url", "https://logs.example.test/ingest?token=query-secret",
        "--hmac-secret-file", str(secret_file), "--header", f"Authorization: {TOKEN}",
    )  # fmt: skip
    shown = [
        owner.ok("audit", "sinks", "list", "--format", "json").stdout,
        owner.ok("audit", "sinks", "list").stdout,
        owner.ok("audit", "sinks", "status", "--format", "json").stdout,
        owner.ok("audit", "list", "--format", "json").stdout,
    ]
    for text in shown:
        for hidden in (SECRET, "header-token", "query-secret", "/ingest"):
            assert hidden not in text
    assert json.loads(shown[0])[0]["options"] == {"origin": "https://logs.example.test", "ca": None}
    assert json.loads(shown[2])[0]["state"] == "delivering"
    with opened.store.read() as conn:
        row = conn.execute(select(audit_sinks.c.config, audit_sinks.c.sealed)).one()
        stored = queries.sink_by_name(conn, "collector")
    assert SECRET.encode() not in row.sealed
    assert b"header-token" not in row.sealed
    assert SECRET not in row.config
    assert SECRET not in repr(stored)
    from stacksafe.core.streams.config import open_config

    assert stored is not None
    config = open_config(opened, stored.name, stored.type, stored.config, stored.sealed)
    assert config.credentials == {
        "hmac_secret": SECRET,
        "headers": [["Authorization", TOKEN]],
        "url": "https://logs.example.test/ingest?token=query-secret",
    }
    assert SECRET not in repr(config)


def test_syslog_options_and_the_udp_warning(owner: InProcessCli) -> None:
    done = owner.ok(
        "audit", "sinks", "add", "rsyslog", "--type", "syslog", "--address", "127.0.0.1:514",
        "--udp",
    )  # fmt: skip
    assert "Warning: syslog over UDP may lose events" in done.stderr
    [listed] = owner.json("audit", "sinks", "list", "--format", "json")
    assert listed["options"] == {
        "host": "127.0.0.1", "port": 514, "tls": False, "ca": None, "udp": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["BAD NAME", "--type", "file", "--path", "/tmp/x.jsonl"], "sink name"),
        (["s", "--type", "kafka"], "--type 'kafka' must be one of file, syslog, http"),
        (["s", "--type", "file"], "a file sink needs --path FILE"),
        (["s", "--type", "file", "--path", "/nonexistent/dir/f"], "its directory does not exist"),
        (["s", "--type", "file", "--path", "/tmp/f", "--url", "https://x"], "--url does not apply"),
        (["s", "--type", "file", "--path", "/tmp/f", "--max-bytes", "10"], "--max-bytes must be"),
        (["s", "--type", "syslog", "--address", "nohost"], "must be HOST:PORT"),
        (["s", "--type", "syslog", "--address", "h:99999"], "must be HOST:PORT"),
        (["s", "--type", "syslog", "--address", "h:514", "--udp", "--tls"], "do not go together"),
        (["s", "--type", "syslog", "--address", "h:514", "--ca", "/etc/hosts"], "only with --tls"),
        (["s", "--type", "http", "--url", "http://logs.example.test/"], "must be https://"),
        (
            ["s", "--type", "http", "--url", "https://u:p@logs.example.test/"],
            "not hold credentials",
        ),
        (["s", "--type", "http", "--url", "https://x.test", "--header", "no-colon"], "NAME: VALUE"),
        (
            ["s", "--type", "http", "--url", "https://x.test", "--header", "Host: a"],
            "set by the sink",
        ),
        # What the sink itself would refuse when the server opens it is refused now.
        (["s", "--type", "http", "--url", "https://x.test", "--header", "X-T: Zürich"], "ASCII"),
        (
            ["s", "--type", "http", "--url", "https://x.test", "--header", "X-T: a\udcff"],
            "ASCII",
        ),
        (
            ["s", "--type", "http", "--url", "https://x.test", "--header", "Stacksafe-Signature:"],
            "set by stacksafe itself",
        ),
        (
            ["s", "--type", "http", "--url", "https://x.test", "--header", "Content-Encoding: gz"],
            "set by stacksafe itself",
        ),
        (["s", "--type", "http", "--url", "https://x.test:0/in"], "port 1-65535"),
        (["s", "--type", "http", "--url", "https://x.test/in\x00x"], "printable ASCII"),
        (["s", "--type", "http", "--url", "https://x.test/in\udcff"], "printable ASCII"),
        (["s", "--type", "http", "--url", "https://x\udcffy.test/in"], "printable ASCII"),
        (["s", "--type", "syslog", "--address", "a/b:514"], "host name or IP address"),
        (["s", "--type", "syslog", "--address", "lo\udcffg:514"], "undecodable"),
        (["s", "--type", "syslog", "--address", "lo\x00g:514"], "control character"),
        (["s", "--type", "syslog", "--address", "h:" + "9" * 5000], "must be HOST:PORT"),
        (["s", "--type", "file", "--path", "/tmp/a\udcff"], "--path holds"),
    ],
)
def test_mistakes_are_one_error_line_and_change_nothing(
    owner: InProcessCli, args: list[str], says: str
) -> None:
    done = owner.fails(InvalidInput.exit_code, "audit", "sinks", "add", *args)
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert owner.json("audit", "sinks", "list", "--format", "json") == []


def test_remote_mode_is_refused(seeded: Cli) -> None:
    done = seeded.run(
        "audit", "sinks", "list",
        env={"STACKSAFE_ADDR": "https://127.0.0.1:9", "STACKSAFE_TOKEN": "ssk_x"},
    )  # fmt: skip
    assert done.returncode == InvalidInput.exit_code
    assert "runs on the server's machine" in done.stderr


def _delivered(installation: Installation, path: Path) -> None:
    stored = {s.name: s for s in _sinks(installation)}["siem"]
    loop = DeliveryLoop(installation, stored.id, FileSink(path))
    while loop.step()[0] is Step.DELIVERED:
        pass
    loop.sink.close()


def _sinks(installation: Installation) -> list[queries.StoredSink]:
    with installation.store.read() as conn:
        return queries.list_sinks(conn)


def test_verify_stream_with_the_public_key_and_with_the_installations(
    owner: InProcessCli, tmp_path: Path, opened: Installation
) -> None:
    path = tmp_path / "audit.jsonl"
    owner.ok("audit", "sinks", "add", "siem", "--type", "file", "--path", str(path))
    _delivered(opened, path)
    pem = tmp_path / "stream.pem"
    pem.write_text(owner.ok("audit", "sinks", "public-key").stdout)
    assert pem.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    done = owner.ok("audit", "verify", "--stream", str(path), "--public-key", str(pem))
    assert done.stdout.startswith("Audit stream intact: ")
    assert "0 repeated line(s)" in done.stdout
    assert owner.ok("audit", "verify", "--stream", str(path)).stdout == done.stdout
    # A receiver's copy edited: exit 6, naming the event.
    lines = path.read_bytes().splitlines()
    edited = json.loads(lines[1])
    edited["outcome"] = "denied"
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"\n".join([lines[0], json.dumps(edited).encode(), *lines[3:]]) + b"\n")
    failed = owner.invoke("audit", "verify", "--stream", str(tampered), "--public-key", str(pem))
    assert failed.exit_code == 6
    assert "event 2 was altered (its signature fails)" in failed.stderr
    assert "event 3 missing (a gap)" in failed.stderr or "events 2 to 3 missing" in failed.stderr
    assert "audit stream not intact" in failed.stderr
    not_a_key = tmp_path / "nokey.pem"
    not_a_key.write_text("hello")
    done_bad = owner.fails(
        InvalidInput.exit_code, "audit", "verify", "--stream", str(path), "--public-key",
        str(not_a_key),
    )  # fmt: skip
    assert "not a PEM public key" in done_bad.stderr
