"""`stacksafe scan` through the console script: files, stdin, git, formats, baseline,
exit codes, the audit of the values it reads, and never a value in what it prints.

The script's ``main()`` runs in this process (``*_here``) except where a shell's view is the
point: exit statuses 0, 1 and 2 and the configuration error's one line, stdin from a pipe,
and the pre-commit hook's command line, each through the installed script."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import open_installation
from stacksafe.scan.known import CHUNK_SIZE
from stacksafe.settings import Settings
from tests.cli.helpers import Cli, error_line
from tests.cli.main_in_process import MainInProcess, in_this_process
from tests.scan.gitrepo import GitRepo

SCHEMA = json.loads((Path(__file__).parents[1] / "scan" / "sarif-schema-2.1.0.json").read_text())

ACCOUNT_VALUE = "acct-Pr0d-passw0rd-77"
STACK_VALUE = "stack-t0ken-9f8e7d6c5b"
OTHER_VALUE = "other-stack-v4lue-31337"
SHORT_VALUE = "abc12"
AWS = "AKIAZZZZZZZZZZZZZZZZ"
VALUES = (ACCOUNT_VALUE, STACK_VALUE, OTHER_VALUE, SHORT_VALUE)
FOUND, BAD_REQUEST, CONFIGURATION = 1, 2, 7


@pytest.fixture
def managed(seeded: Cli) -> Cli:
    """acme (DB_PASSWORD) with stacks web (API_TOKEN, PIN: too short) and api (OTHER)."""
    fast = seeded.in_process()
    fast.ok("stacks", "create", "api", "--account", "acme")
    fast.ok("secrets", "set", f"DB_PASSWORD={ACCOUNT_VALUE}", "--account", "acme")
    fast.ok("secrets", "set", f"API_TOKEN={STACK_VALUE}", "--stack", "web")
    fast.ok("secrets", "set", f"PIN={SHORT_VALUE}", "--stack", "web")
    fast.ok("secrets", "set", f"OTHER={OTHER_VALUE}", "--stack", "api")
    return seeded


@pytest.fixture
def managed_here(managed: Cli) -> MainInProcess:
    """``managed``, its commands run by the script's ``main()`` in this process."""
    return in_this_process(managed)


def no_value_in(*texts: str) -> None:
    for text in texts:
        for value in VALUES:
            assert value not in text


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    (root / "config" / "db.env").write_text(f"HOST=db\nPASSWORD={ACCOUNT_VALUE}\n")
    (root / "app.py").write_text(f'TOKEN = "{STACK_VALUE}"\nAWS = "{AWS}"\n')
    (root / "clean.txt").write_text("nothing to see here\n")
    (root / "image.bin").write_bytes(b"\x00\x01\x02" + OTHER_VALUE.encode())
    return root


def test_directory_scan_names_keys_and_never_values(managed: Cli, project: Path) -> None:
    done = managed.run("scan", str(project))
    assert done.returncode == FOUND
    lines = done.stdout.splitlines()
    assert lines == [
        f"{project}/app.py:1:10: known-value: managed secret value of "
        "API_TOKEN (stack web of account acme)",
        f"{project}/app.py:2:8: aws-access-key: possible secret: AWS access key id",
        f"{project}/config/db.env:2:10: known-value: managed secret value of "
        "DB_PASSWORD (account acme)",
    ]
    assert "PIN (stack web of account acme)" in done.stderr  # too short: said, not searched
    # The managed value in db.env is password-shaped too: reported once, as the managed value.
    assert "3 findings in 4 files" in done.stderr
    assert "1 binary files skipped" in done.stderr
    no_value_in(done.stdout, done.stderr)


def test_binary_files_on_request(managed_here: MainInProcess, project: Path) -> None:
    done = managed_here.run("scan", "--include-binary", "--no-patterns", str(project / "image.bin"))
    assert done.returncode == FOUND
    assert "OTHER (stack api of account acme)" in done.stdout
    no_value_in(done.stdout, done.stderr)


def test_clean_input_exits_zero(managed: Cli, project: Path) -> None:
    done = managed.run("scan", str(project / "clean.txt"))
    assert (done.returncode, done.stdout) == (0, "")


def test_stack_option_limits_the_values_looked_for(
    managed_here: MainInProcess, project: Path
) -> None:
    leak = project / "other.txt"
    leak.write_text(f"{OTHER_VALUE}\n{STACK_VALUE}\n")
    web = managed_here.run("scan", "--stack", "web", "--no-patterns", str(leak))
    assert web.returncode == FOUND
    assert [line.split(": ", 2)[2] for line in web.stdout.splitlines()] == [
        "managed secret value of API_TOKEN (stack web of account acme)"
    ]
    api = managed_here.run("scan", "--stack", "api", "--no-patterns", str(leak))
    assert "OTHER (stack api of account acme)" in api.stdout
    assert "API_TOKEN" not in api.stdout


def test_stdin_value_split_across_chunks(managed: Cli) -> None:
    data = b"x" * (CHUNK_SIZE - 7) + STACK_VALUE.encode() + b"\nsecond line " + b"y" * 99
    done = managed.run("scan", "-", "--no-patterns", input=data)
    assert done.returncode == FOUND
    assert done.stdout == (
        f"stdin:1:{CHUNK_SIZE - 6}: known-value: managed secret value of "
        "API_TOKEN (stack web of account acme)\n"
    )
    no_value_in(done.stdout, done.stderr)


def test_stdin_patterns(managed_here: MainInProcess) -> None:
    done = managed_here.run("scan", "-", "--no-known-values", input=f"log line\nkey={AWS}\n")
    assert done.returncode == FOUND
    assert done.stdout == "stdin:2:5: aws-access-key: possible secret: AWS access key id\n"


def test_json_and_sarif(managed_here: MainInProcess, project: Path) -> None:
    as_json = managed_here.run("scan", "--format", "json", str(project))
    assert as_json.returncode == FOUND
    report = json.loads(as_json.stdout)
    assert report["summary"]["findings"] == 3
    assert report["findings"][0]["secrets"] == [
        {"account": "acme", "stack": "web", "key": "API_TOKEN"}
    ]
    as_sarif = managed_here.run("scan", "-f", "sarif", str(project))
    assert as_sarif.returncode == FOUND
    log = json.loads(as_sarif.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert len(log["runs"][0]["results"]) == 3
    no_value_in(as_json.stdout, as_sarif.stdout, as_json.stderr, as_sarif.stderr)


def test_baseline_round_trip(managed_here: MainInProcess, project: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    written = managed_here.run(
        "scan", "--baseline", str(baseline), "--update-baseline", str(project)
    )
    assert written.returncode == 0
    assert "3 findings accepted" in written.stderr
    assert "managed values found in the open; rotate them" in written.stderr
    no_value_in(baseline.read_text(), written.stdout, written.stderr)
    accepted = managed_here.run("scan", "--baseline", str(baseline), str(project))
    assert (accepted.returncode, accepted.stdout) == (0, "")
    assert "3 accepted by the baseline" in accepted.stderr
    (project / "new.txt").write_text(f"leaked again: {ACCOUNT_VALUE}\n")
    again = managed_here.run("scan", "--baseline", str(baseline), str(project))
    assert again.returncode == FOUND
    assert [line.split(":")[0] for line in again.stdout.splitlines()] == [f"{project}/new.txt"]
    as_json = managed_here.run(
        "scan", "--baseline", str(baseline), "--format", "json", str(project)
    )
    summary = json.loads(as_json.stdout)["summary"]
    assert (summary["findings"], summary["known_values"], summary["patterns"]) == (1, 1, 0)
    assert summary["accepted_by_baseline"] == 3


def test_git_history_and_staged(managed_here: MainInProcess, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    leak = repo.commit("add config", **{"settings.env": f"PASSWORD={ACCOUNT_VALUE}\n"})
    fixed = repo.commit("remove the password", **{"settings.env": "PASSWORD=\n"})
    repo.write("notes.txt", f"staged {STACK_VALUE}\n")
    repo.stage("notes.txt")
    done = managed_here.run("scan", "--git", str(repo.root), "--no-patterns")
    assert done.returncode == FOUND
    assert done.stdout.splitlines() == [
        "notes.txt:1:8: known-value: managed secret value of API_TOKEN (stack web of account acme)",
        f"{leak[:12]}:settings.env:1:10: known-value: managed secret value of "
        "DB_PASSWORD (account acme)",
    ]
    assert "in 2 commits" in done.stderr
    recent = managed_here.run("scan", "--git", "--since", fixed, str(repo.root), "--no-patterns")
    assert [line.split(":")[0] for line in recent.stdout.splitlines()] == ["notes.txt"]
    no_value_in(done.stdout, done.stderr)


def test_a_scan_is_audited_as_reveals_naming_keys(
    managed_here: MainInProcess, project: Path
) -> None:
    managed_here.run("scan", "--no-patterns", str(project / "clean.txt"))
    installation = open_installation(Settings.load({}, data_dir=managed_here.data_dir))
    try:
        events = [
            e
            for e in list_events(installation, limit=20)
            if e.action == "reveal" and e.detail.get("purpose") == "scan"
        ]
    finally:
        installation.close()
    named = {key for e in events for key in e.detail["keys"]}
    assert {"DB_PASSWORD", "API_TOKEN", "PIN", "OTHER"} <= named
    assert len(events) == 3  # the account level and its two stacks
    no_value_in(*(json.dumps(e.detail) for e in events))


def test_pattern_scan_needs_no_installation(cli_here: MainInProcess, project: Path) -> None:
    done = cli_here.run("scan", "--no-known-values", str(project))
    assert done.returncode == FOUND
    assert [line.split(": ")[1] for line in done.stdout.splitlines()] == [
        "secret-keyword",  # app.py: TOKEN = "stack-t0ken-..."
        "aws-access-key",
        "generic-password",  # config/db.env: PASSWORD=...
    ]
    assert not cli_here.data_dir.exists()


def test_known_values_without_an_installation_say_how_to_skip_them(cli: Cli, project: Path) -> None:
    done = cli.fails(CONFIGURATION, "scan", str(project))
    assert "--no-known-values" in error_line(done.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name what to scan"),
        (("missing-path",), "missing-path does not exist"),
        (("--since", "HEAD", "."), "--since goes with --git"),
        (("--update-baseline", "."), "--update-baseline needs --baseline"),
        (("--no-known-values", "--no-patterns", "."), "leave nothing to look for"),
        (("-", "."), "cannot be combined"),
    ],
)
def test_usage_errors_exit_2(cli_here: MainInProcess, args: tuple[str, ...], message: str) -> None:
    done = cli_here.fails(BAD_REQUEST, "scan", "--no-known-values", *args)
    assert message in error_line(done.stderr)


def test_a_bad_baseline_exits_2(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    done = cli.fails(BAD_REQUEST, "scan", "--no-known-values", "--baseline", str(bad), ".")
    assert "is not a stacksafe-scan-baseline file" in error_line(done.stderr)


def test_the_baseline_file_itself_is_not_scanned(cli_here: MainInProcess, project: Path) -> None:
    baseline = project / ".stacksafe-baseline.json"
    args = ("scan", "--no-known-values", "--baseline", str(baseline))
    cli_here.ok(*args, "--update-baseline", str(project))
    again = cli_here.run(*args, str(project))
    assert (again.returncode, again.stdout) == (0, "")


PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "MIIEowIBAAKCAQEAx3k9Tq2Lw8Zp4Rv7Ym1Nc6Kb0Hd5Js3Gf9Xa" * 3
    + "\n-----END RSA PRIVATE KEY-----\n"
)


def test_list_rules_names_every_rule(cli_here: MainInProcess) -> None:
    listed = dict(
        line.split("\t") for line in cli_here.ok("scan", "--list-rules").stdout.splitlines()
    )
    assert listed["private-key"] == "Private key"
    assert len(listed) > 1


def test_a_settings_file_disables_rules_and_excludes_paths(
    cli_here: MainInProcess, tmp_path: Path
) -> None:
    (tmp_path / "key.pem").write_text(PEM)
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "key.pem").write_text(PEM)
    assert cli_here.run("scan", "--no-known-values", str(tmp_path)).stdout.count("private-key") == 2
    settings = tmp_path / "scan.toml"
    settings.write_text(f'exclude = ["{tmp_path}/fixtures"]\n')
    kept = cli_here.run("scan", "--no-known-values", "--config", str(settings), str(tmp_path))
    assert kept.stdout.count("private-key") == 1
    settings.write_text('disable = ["private-key"]\n')
    clean = cli_here.run("scan", "--no-known-values", "--config", str(settings), str(tmp_path))
    assert (clean.returncode, clean.stdout) == (0, "")


def test_a_bad_settings_file_exits_2_naming_the_problem(
    cli_here: MainInProcess, tmp_path: Path
) -> None:
    settings = tmp_path / "scan.toml"
    settings.write_text('disable = ["no-such-rule"]\n')
    done = cli_here.fails(BAD_REQUEST, "scan", "--no-known-values", "--config", str(settings), ".")
    assert "disable names no rule: no-such-rule" in error_line(done.stderr)


def test_an_allow_marker_silences_its_line(cli_here: MainInProcess, tmp_path: Path) -> None:
    marked = PEM.replace("PRIVATE KEY-----\n", "PRIVATE KEY----- stacksafe:allow\n", 1)
    (tmp_path / "marked.pem").write_text(marked)
    done = cli_here.run("scan", "--no-known-values", str(tmp_path))
    assert (done.returncode, done.stdout) == (0, "")


def test_the_pre_commit_hook_scans_the_files_it_is_given(cli: Cli, tmp_path: Path) -> None:
    hooks = yaml.safe_load((Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "stacksafe-scan"]
    assert hook["entry"] == "stacksafe scan"
    staged = tmp_path / "deploy.sh"
    staged.write_text(f"export KEY={AWS}\n")
    other = tmp_path / "clean.txt"
    other.write_text("nothing\n")
    # pre-commit runs the entry with the hook's args and then the staged files' paths.
    done = cli.run("scan", "--no-known-values", str(staged), str(other))
    assert done.returncode == FOUND
    assert done.stdout == f"{staged}:1:12: aws-access-key: possible secret: AWS access key id\n"
