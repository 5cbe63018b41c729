"""Every export format read back by that format's own parser gives exactly the values."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from stacksafe.core.exports import EXPORT_FORMATS, k8s_name, render_export
from stacksafe.core.transfer import parse
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

AWKWARD = {
    "PLAIN": "hunter2",
    "QUOTES": 'it\'s "quoted" and `ticked`',
    "SHELLY": "$HOME $(rm -rf /) ${X} \\ ; | & * ? ~ !",
    "SPACES": "  leading and trailing  ",
    "UNICODE": "pässwörd ✓ 秘密",
    "EMPTY": "",
    "HASH": "#not a comment",
    "EQUALS": "a=b=c",
    "YAML_LOOKALIKE": "yes",
    "NUMBERISH": "0012",
    "NULLISH": "null",
}
MULTILINE = {"PEM": "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n", "CRLF": "a\r\nb"}


def values(plain: dict[str, str]) -> dict[str, SecretValue]:
    return {k: SecretValue(v) for k, v in plain.items()}


def docker_env_file(text: str) -> dict[str, str]:
    """Docker's env-file reader (opts/envfile.go, parseKeyValueFile): lines, leading whitespace
    trimmed, # comments and blank lines skipped, split at the first '='; nothing unquoted."""
    found = {}
    for line in text.split("\n"):
        line = line.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        found[key] = value
    return found


def sourced_by_bash(text: str, tmp_path: Path, keys: list[str]) -> dict[str, str]:
    script = tmp_path / "exported.sh"
    script.write_text(text, encoding="utf-8")
    dump = "import json, os, sys; print(json.dumps({k: os.environ[k] for k in sys.argv[1:]}))"
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'source "$1"; shift; exec python3 -c {dump!r} "$@"',
            "-",
            str(script),
            *keys,
        ],
        capture_output=True,
        check=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    loaded: dict[str, str] = json.loads(done.stdout)
    return loaded


def test_dotenv_json_and_yaml_round_trip_with_line_breaks() -> None:
    plain = {**AWKWARD, **MULTILINE}
    given_values = values(plain)
    # interpolate=False: python-dotenv would otherwise expand ${X} even in single quotes (the
    # documented caveat of dotenv exports, docs/delivery.md).
    # QUOTES holds a ' and a `: dotenv cannot carry it safely to a shell (refused, tested below).
    for_dotenv = {k: v for k, v in plain.items() if k != "QUOTES"}
    dotenv_text = render_export(values(for_dotenv), "dotenv")
    assert dotenv_values(stream=io.StringIO(dotenv_text), interpolate=False) == for_dotenv
    assert json.loads(render_export(given_values, "json")) == plain
    assert yaml.safe_load(render_export(given_values, "yaml")) == plain


def test_shell_round_trips_through_bash(tmp_path: Path) -> None:
    plain = {**AWKWARD, **MULTILINE}
    text = render_export(values(plain), "shell")
    assert sourced_by_bash(text, tmp_path, sorted(plain)) == plain


def test_docker_env_round_trips_and_refuses_line_breaks() -> None:
    text = render_export(values(AWKWARD), "docker-env")
    assert docker_env_file(text) == AWKWARD
    with pytest.raises(InvalidInput, match=r"cannot carry CRLF, PEM: .*line break"):
        render_export(values({**AWKWARD, **MULTILINE}), "docker-env")


def test_k8s_secret_manifest_has_base64_data() -> None:
    plain = {**AWKWARD, **MULTILINE}
    manifest = yaml.safe_load(render_export(values(plain), "k8s", name="web-secrets"))
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "Secret"
    assert manifest["type"] == "Opaque"
    assert manifest["metadata"] == {"name": "web-secrets"}
    decoded = {k: base64.b64decode(v).decode("utf-8") for k, v in manifest["data"].items()}
    assert decoded == plain
    assert "hunter2" not in render_export(values(plain), "k8s", name="x")
    with pytest.raises(InvalidInput, match="not a valid Kubernetes name"):
        render_export(values(plain), "k8s", name="Web_Secrets")
    assert k8s_name("Web App_prod") == "web-app-prod"
    with pytest.raises(InvalidInput, match="cannot be made a Kubernetes name"):
        k8s_name("___")


def test_shell_refuses_keys_that_are_not_variable_names() -> None:
    with pytest.raises(InvalidInput, match=r"cannot carry 9LIVES, my\.key: not shell variable"):
        render_export(values({"my.key": "v", "9LIVES": "v", "OK": "v"}), "shell")


@pytest.mark.parametrize("fmt", ["dotenv", "shell"])
@pytest.mark.parametrize("key", ["A.B", "A-B", "9X", "app.config"])
def test_sourced_formats_refuse_keys_a_shell_would_run_as_commands(fmt: str, key: str) -> None:
    # Sourced, `A.B='v'` is not an assignment: the shell runs a command named `A.B=v`.
    with pytest.raises(InvalidInput) as refused:
        render_export(values({key: "v", "OK": "v"}), fmt)
    message = refused.value.message
    assert message.startswith(f"the {fmt} format cannot carry {key}: not shell variable names")
    assert "\n" not in message


@pytest.mark.parametrize("fmt", ["dotenv", "shell"])
@pytest.mark.parametrize(
    "key",
    ["PATH", "PS1", "PROMPT_COMMAND", "BASH_ENV", "ENV", "IFS", "LD_PRELOAD", "DYLD_LIBRARY_PATH"],
)
def test_sourced_formats_refuse_names_that_would_run_code_later(fmt: str, key: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        render_export(values({key: "/tmp/evil", "OK": "v"}), fmt)
    message = refused.value.message
    assert message.startswith(f"the {fmt} format will not set {key}: ")
    assert "--format json" in message
    assert "/tmp/evil" not in message
    assert "\n" not in message
    # json and docker-env (never sourced) still carry them: Docker sets PATH legitimately.
    assert json.loads(render_export(values({key: "/tmp/evil"}), "json")) == {key: "/tmp/evil"}
    assert render_export(values({key: "/tmp/evil"}), "docker-env") == f"{key}=/tmp/evil\n"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="format 'xml' is not one of"):
        render_export(values(AWKWARD), "xml")
    assert set(EXPORT_FORMATS) == {"dotenv", "json", "yaml", "shell", "docker-env", "k8s"}


KEYS = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(KEYS, TEXT, max_size=6))
def test_any_values_round_trip_through_yaml_json_and_k8s(plain: dict[str, str]) -> None:
    given_values = values(plain)
    assert json.loads(render_export(given_values, "json")) == plain
    assert (yaml.safe_load(render_export(given_values, "yaml")) or {}) == plain
    data = yaml.safe_load(render_export(given_values, "k8s"))["data"] or {}
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == plain


# Values that ran commands when an exported dotenv file was sourced with `set -a; . .env`
# (issue 17, item 6): each would touch PWNED in the working directory if the shell ran it.
HOSTILE = {
    "SUBSTITUTION": "$(touch PWNED)",
    "BACKTICKS": "`touch PWNED`",
    "SPLITTING": "${IFS}$(touch${IFS}PWNED)",
    "ASSIGN_DEFAULT": "${PWNED:=$(touch PWNED)}",
    "CLOSES_SINGLE": "'; touch PWNED; '",
    "CLOSES_DOUBLE": '"; touch PWNED; "',
    "ESCAPED_QUOTE": "\\'; touch PWNED #",
    "LINE_BREAKS": "first\ntouch PWNED\n'\ntouch PWNED\n",
    "CRLF": "a\r\nb",
    "BACKSLASHES": "C:\\path\\to\\ \\\\server\\",
    "TRAILING_BACKSLASH": "ends in \\",
    "BANGS": "!! !$ !-1 !touch",
    "MIXED": 'it\'s "fine" \\n \\" !',
    "GLOBS": "* ? [a-z] ~ ; | & < > ( ) { }",
    "UNICODE": "pässwörd ✓ 秘密",
}
# A ' (or two backslashes in a row, or one at the end) and a $ or `: neither quoting carries
# both; refused by name.
UNSAFE_FOR_DOTENV = {
    "QUOTE_AND_SUBSTITUTION": "it's $(touch PWNED)",
    "QUOTE_AND_BACKTICK": "'`touch PWNED`'",
    "BACKSLASHES_AND_DOLLAR": "\\\\$HOME",
    "TRAILING_BACKSLASH_AND_DOLLAR": "$HOME\\",
}
# bash, dash, and /bin/sh when it is yet another shell (on Debian it is dash).
SHELLS: list[str] = []
for _name in ("bash", "dash", "sh"):
    _found = shutil.which(_name)
    if _found and all(
        os.path.realpath(_found) != os.path.realpath(str(shutil.which(s))) for s in SHELLS
    ):
        SHELLS.append(_name)


def sourced(shell: str, text: str, workdir: Path, keys: list[str]) -> dict[str, str]:
    """What ``shell`` has in its environment after ``set -a; . FILE`` in ``workdir`` (where a
    command that ran would leave PWNED)."""
    script = workdir / "exported.env"
    script.write_text(text, encoding="utf-8")
    dump = "import json, os, sys; print(json.dumps({k: os.environ[k] for k in sys.argv[1:]}))"
    done = subprocess.run(
        [
            shell,
            "-c",
            'set -a; . "$1"; shift; exec "$PYTHON" -c "$DUMP" "$@"',
            "-",
            str(script),
            *keys,
        ],
        capture_output=True,
        check=False,
        text=True,
        cwd=workdir,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "DUMP": dump},
    )
    assert not (workdir / "PWNED").exists(), f"{shell} ran a command from the file"
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    loaded: dict[str, str] = json.loads(done.stdout)
    return loaded


def test_bash_and_dash_are_there_to_source_with() -> None:
    assert "bash" in SHELLS
    assert "dash" in SHELLS  # Debian's /bin/sh: the strictest POSIX reader at hand


@pytest.mark.parametrize("shell", SHELLS)
def test_sourcing_a_dotenv_export_runs_nothing_and_reads_back_exactly(
    shell: str, tmp_path: Path
) -> None:
    text = render_export(values(HOSTILE), "dotenv")
    assert sourced(shell, text, tmp_path, sorted(HOSTILE)) == HOSTILE
    assert dotenv_values(stream=io.StringIO(text), interpolate=False) == HOSTILE
    assert {k: v.reveal() for k, v in parse(text, "dotenv", "export").items()} == HOSTILE


@pytest.mark.parametrize("shell", SHELLS)
def test_sourcing_a_shell_export_runs_nothing_and_reads_back_exactly(
    shell: str, tmp_path: Path
) -> None:
    plain = {**HOSTILE, **UNSAFE_FOR_DOTENV}
    text = render_export(values(plain), "shell")
    assert sourced(shell, text, tmp_path, sorted(plain)) == plain


def test_a_dotenv_export_refuses_what_it_cannot_quote_safely_naming_the_keys() -> None:
    for key, value in UNSAFE_FOR_DOTENV.items():
        with pytest.raises(InvalidInput, match=f"dotenv format cannot carry {key}: ") as refused:
            render_export(values({**HOSTILE, key: value}), "dotenv")
        assert value not in refused.value.message
    with pytest.raises(InvalidInput) as refused:
        render_export(values({**HOSTILE, **UNSAFE_FOR_DOTENV}), "dotenv")
    assert ", ".join(sorted(UNSAFE_FOR_DOTENV)) in refused.value.message


def test_docker_env_stays_literal_for_docker_with_hostile_values() -> None:
    # Docker reads the line literally (no quotes, no expansion): exact, and never for a shell.
    plain = {k: v for k, v in {**HOSTILE, **UNSAFE_FOR_DOTENV}.items() if "\n" not in v}
    plain = {k: v for k, v in plain.items() if "\r" not in v}
    assert docker_env_file(render_export(values(plain), "docker-env")) == plain


HOSTILE_TEXT = st.text(st.sampled_from("$`'\"\\(){}!;|&# \n\r\taZ9é=*~"), max_size=12)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(KEYS, HOSTILE_TEXT, min_size=1, max_size=4))
def test_any_dotenv_export_is_safe_to_source_or_refused(plain: dict[str, str]) -> None:
    unquotable = sorted(
        key
        for key, value in plain.items()
        if ("'" in value or "\\\\" in value or value.endswith("\\"))
        and ("$" in value or "`" in value)
    )
    if unquotable:
        # Refused only for values neither quoting carries, and exactly those are named.
        with pytest.raises(InvalidInput) as refused:
            render_export(values(plain), "dotenv")
        named = refused.value.message.split(": ")[0].removeprefix("the dotenv format cannot carry ")
        assert named.split(", ") == unquotable
        return
    text = render_export(values(plain), "dotenv")
    assert dotenv_values(stream=io.StringIO(text), interpolate=False) == plain
    with tempfile.TemporaryDirectory() as workdir:
        for shell in SHELLS:
            assert sourced(shell, text, Path(workdir), sorted(plain)) == plain
