"""Replay a recorded client request sequence (a ``*.json`` fixture of this folder) and judge it.

A fixture is one flow of one client (External Secrets Operator, vault-action, Vault Agent),
written from the client's source (each step names the file and line it comes from) and then
*recorded*: ``record.py`` sends it to a real OpenBao dev server and stores, per step, what
OpenBao answered (status, ``Content-Type``, the JSON shape). A replay sends the same bytes to
a server and returns one :class:`Exchange` per step; :func:`problems` says what in an answer
breaks the client:

* the status and ``Content-Type`` OpenBao gave (``recorded``): byte-for-byte the same (the
  ``Content-Type`` of a 204 excepted: there is no body to label);
* the envelope: every top-level key OpenBao's JSON answer had (``request_id``, ``data``, ...);
* the hand-written ``expect`` rules on JSON pointers: what the client reads, and how (a Go
  ``json.Number`` that must be an integer, an RFC 3339 expiry, the value written two steps
  before, ...).

Requests go out as the client sends them: its method (never ``LIST``: these clients list with
GET ``?list=true``), path, query and exactly its headers (httpx's own defaults such as ``Accept`` or
``Connection`` are removed unless the client sends them too), and the body as its JSON encoder
writes it (Go's ``json.Marshal``: compact, keys sorted, and *no* ``Content-Type`` header).

Placeholders in any string of a step: ``{path}`` (the fresh ``kvdiff/<stack>`` of this run),
``{mount}``, ``{token}``. A step's request without ``headers`` takes the fixture's ``headers``
(the client's usual set).
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPLAYS = Path(__file__).parent

# Headers httpx adds on its own; dropped from a request unless the fixture lists them, so the
# server sees what the real client sends and nothing more (Host and Content-Length stay: every
# client sends those).
_KEEP_ALWAYS = {"host", "content-length"}

# What Go's time.Parse(time.RFC3339, ...) accepts, which is how ESO reads expire_time
# (providers/v1/vault/auth.go:217): fractional seconds optional, "Z" or a numeric offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")

_MISSING = object()


@dataclass(frozen=True)
class Target:
    """Where a replay goes: a KV v2 server's address, a token, TLS trust, the mount."""

    name: str
    address: str
    token: str
    verify: ssl.SSLContext | bool
    mount: str = "secret"


@dataclass(frozen=True)
class Exchange:
    """One step as sent (placeholders filled) and what came back."""

    step: Mapping[str, Any]
    status: int
    content_type: str | None
    body: Any  # parsed JSON; None for an empty body; the text when it is not JSON
    text: str


def load(name: str) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads((REPLAYS / name).read_text("utf-8"))
    return fixture


def fixture_names() -> list[str]:
    return sorted(p.name for p in REPLAYS.glob("*.json"))


def fill(value: Any, values: Mapping[str, str]) -> Any:
    """``value`` with every ``{name}`` of ``values`` replaced, in strings, keys and lists."""
    if isinstance(value, str):
        for name, replacement in values.items():
            value = value.replace("{" + name + "}", replacement)
        return value
    if isinstance(value, list):
        return [fill(item, values) for item in value]
    if isinstance(value, dict):
        return {fill(k, values): fill(v, values) for k, v in value.items()}
    return value


def stacks(fixture: Mapping[str, Any], path: str) -> list[str]:
    """The KV paths this fixture writes to: each must exist (as a stack) before the replay."""
    names: list[str] = fixture.get("stacks", ["{path}"])
    return [fill(name, {"path": path}) for name in names]


def encode_body(request: Mapping[str, Any]) -> bytes | None:
    """The body bytes as the client's encoder writes them."""
    if "json" not in request:
        return None
    encoding = request.get("encoding", "go")
    if encoding == "go":
        # encoding/json.Marshal (openbao api/request.go SetJSONBody, the same in hashicorp/vault
        # api v1.22.0): compact, map keys sorted, no trailing newline.
        return json.dumps(request["json"], separators=(",", ":"), sort_keys=True).encode()
    raise ValueError(f"unknown body encoding {encoding!r}")


def build(client: httpx.Client, step: Mapping[str, Any]) -> httpx.Request:
    """The step's request exactly as its client would put it on the wire."""
    request = step["request"]
    query: list[list[str]] = request.get("query", [])
    built = client.build_request(
        request["method"],
        request["path"],
        params=[(k, v) for k, v in query] if query else None,
        content=encode_body(request),
    )
    wanted = {k.lower() for k in request.get("headers", {})}
    for name in list(built.headers.keys()):
        if name.lower() not in wanted and name.lower() not in _KEEP_ALWAYS:
            del built.headers[name]
    for name, header_value in request.get("headers", {}).items():
        built.headers[name] = header_value
    return built


def send(client: httpx.Client, step: Mapping[str, Any]) -> Exchange:
    built = build(client, step)
    answer = client.send(built)
    text = answer.text
    body: Any = None
    if text:
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    return Exchange(step, answer.status_code, answer.headers.get("content-type"), body, text)


def replay(
    fixture: Mapping[str, Any], target: Target, path: str, extra: Mapping[str, str] | None = None
) -> Iterator[Exchange]:
    """Send every step in order; yield each exchange as it completes (stop early on a break)."""
    values = {"path": path, "mount": target.mount, "token": target.token, **(extra or {})}
    with httpx.Client(base_url=target.address, verify=target.verify, timeout=10) as client:
        for step in fixture["steps"]:
            yield send(client, fill(with_headers(fixture, step), values))


def with_headers(fixture: Mapping[str, Any], step: Mapping[str, Any]) -> dict[str, Any]:
    """The step with its request headers: its own list, else the fixture's ``headers``."""
    request = dict(step["request"])
    request.setdefault("headers", fixture.get("headers", {}))
    return {**step, "request": request}


def mint_openbao_token(target: Target) -> str:
    """A child token of ``target``'s (same policies, 24 h TTL) that a replay may revoke."""
    answer = httpx.post(
        f"{target.address}/v1/auth/token/create",
        headers={"X-Vault-Token": target.token},
        json={"ttl": "24h"},
        verify=target.verify,
        timeout=10,
    )
    answer.raise_for_status()
    token: str = answer.json()["auth"]["client_token"]
    return token


def pointer(document: Any, where: str) -> Any:
    """RFC 6901: the value at ``where`` in ``document``, or ``_MISSING``."""
    if where == "":
        return document
    node = document
    for raw in where.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def json_type(value: Any) -> str:
    """The JSON type name; ``integer`` apart from ``number`` (Go's json.Number.Int64 needs it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(document: Any, where: str = "") -> dict[str, str]:
    """Every JSON pointer of ``document`` (objects only, not list items) and its type."""
    found: dict[str, str] = {}
    if isinstance(document, dict):
        for key, value in document.items():
            below = f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"
            found[below] = json_type(value)
            found.update(shape(value, below))
    return found


def _rule_problems(body: Any, where: str, rule: Mapping[str, Any]) -> list[str]:
    value = pointer(body, where)
    if rule.get("absent"):
        return [] if value is _MISSING else [f"{where} must be absent, is {value!r}"]
    if value is _MISSING:
        return [f"{where} missing"]
    found: list[str] = []
    if "type" in rule:
        allowed = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
        if json_type(value) not in allowed:
            found.append(f"{where} is {json_type(value)} ({value!r}), not {' or '.join(allowed)}")
    if "equals" in rule and value != rule["equals"]:
        found.append(f"{where} is {value!r}, not {rule['equals']!r}")
    if "not_equals" in rule and value == rule["not_equals"]:
        found.append(f"{where} must not be {value!r}")
    if rule.get("rfc3339") and isinstance(value, str) and not _RFC3339.fullmatch(value):
        found.append(f"{where} {value!r} is not RFC 3339 (Go's time.RFC3339 layout)")
    if "contains" in rule and (not isinstance(value, list) or rule["contains"] not in value):
        found.append(f"{where} is {value!r}, without {rule['contains']!r}")
    if "min" in rule and isinstance(value, int | float) and value < rule["min"]:
        found.append(f"{where} is {value!r}, below {rule['min']!r}")
    return found


def problems(exchange: Exchange) -> list[str]:
    """Why this answer would break the client (empty: it would not)."""
    step = exchange.step
    label = f"{step['id']} ({step['request']['method']} {step['request']['path']})"
    found: list[str] = []
    recorded = step.get("recorded")
    expect = step.get("expect", {})
    # OpenBao's status and the hand-written one (record.py refuses to record them different).
    wanted = {recorded["status"]} if recorded else set()
    if "status" in expect:
        wanted.add(expect["status"])
    for status in sorted(wanted - {exchange.status}):
        found.append(f"status {exchange.status}, not {status}: {exchange.text[:300]!r}")
    if recorded is not None:
        # A 204 has no body to parse (OpenBao still labels it application/json; no client looks).
        if recorded["status"] != 204 and exchange.content_type != recorded["content_type"]:
            found.append(
                f"Content-Type {exchange.content_type!r}, not {recorded['content_type']!r}"
            )
        envelope = [p for p in recorded.get("shape", {}) if p.count("/") == 1]
        if envelope and not isinstance(exchange.body, dict):
            found.append(f"body is not a JSON object: {exchange.text[:300]!r}")
        elif envelope:
            missing = [p for p in envelope if pointer(exchange.body, p) is _MISSING]
            if missing:
                found.append(f"envelope keys missing: {missing}")
    if expect.get("empty_body") and exchange.text:
        found.append(f"body must be empty, is {exchange.text[:300]!r}")
    for where, rule in expect.get("json", {}).items():
        found.extend(_rule_problems(exchange.body, where, rule))
    return [f"{label}: {p}" for p in found]
