"""Every export format read back by that format's own parser gives exactly the values."""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from hypothesis import given, settings
from hypothesis import strategies as st

from stacksafe.core.exports import EXPORT_FORMATS, k8s_name, render_export
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
    dotenv_text = render_export(given_values, "dotenv")
    assert dotenv_values(stream=io.StringIO(dotenv_text), interpolate=False) == plain
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


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="format 'xml' is not one of"):
        render_export(values(AWKWARD), "xml")
    assert set(EXPORT_FORMATS) == {"dotenv", "json", "yaml", "shell", "docker-env", "k8s"}


KEYS = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True)
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(KEYS, TEXT, max_size=6))
def test_any_values_round_trip_through_yaml_json_and_k8s(plain: dict[str, str]) -> None:
    given_values = values(plain)
    assert json.loads(render_export(given_values, "json")) == plain
    assert (yaml.safe_load(render_export(given_values, "yaml")) or {}) == plain
    data = yaml.safe_load(render_export(given_values, "k8s"))["data"] or {}
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == plain
