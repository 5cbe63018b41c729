"""The user tasks of the peer bench, as targets on each server: the same work, checked alike.

* **fetch**: an app's 200 secrets. stacksafe: ``GET /api/3/stacks/{uid}/secrets?reveal=true
  &per_page=1000`` (the native reveal, 50 own + 150 inherited) and ``GET /v1/secret/data/
  bench-account/web`` (its Vault-compatible KV read of the same stack); OpenBao: the KV read of
  the one 200-key path.
* **single**: one secret revealed, the stack's 50 own keys in turn. stacksafe: ``GET .../secrets/
  {KEY}?reveal=true``; OpenBao: ``GET /v1/secret/data/bench-one/{KEY}``.
* **write**: one secret written, 20 keys in turn, a new value every time (peer_wrk.py).
  stacksafe: ``PUT /api/3/stacks/{writes}/secrets/{KEY}`` ``{"raw_value": ...}``; OpenBao:
  ``POST /v1/secret/data/bench-write/{KEY}`` ``{"data": {"value": ...}}``.
"""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Callable

import api_bench
import peer_setup
from peer_setup import FETCH_PATH, SINGLE_PREFIX, WRITE_KEYS, WRITE_PREFIX, Peer, Stacksafe
from peer_targets import Target
from peer_wrk import WRITTEN, Load
from sqlalchemy import Engine
from tests import openbao

__all__ = ["FETCH", "FETCH_V1", "SINGLE", "TASKS", "WRITE", "openbao_targets", "stacksafe_targets"]

FETCH = "fetch 200 secrets"  # stacksafe: the native reveal; OpenBao: its KV read
FETCH_V1 = "fetch 200 secrets, /v1 KV read"  # stacksafe only (compared with OpenBao's FETCH)
SINGLE = "reveal one secret"
WRITE = "write one secret"
TASKS = (FETCH, FETCH_V1, SINGLE, WRITE)
KV_FETCH = f"/v1/secret/data/{FETCH_PATH}"


def _call(
    port: int, method: str, path: str, header: tuple[str, str], body: object = None
) -> tuple[int, object]:
    conn = http.client.HTTPConnection(api_bench.HOST, port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {header[0]: header[1], "Content-Type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.strip() else {}
    finally:
        conn.close()


def _answer(status: int, doc: object) -> str:
    return f"answered {status} {json.dumps(doc)[:120]}"


def _kv_data(port: int, path: str, token: str) -> dict[str, str] | str:
    """A KV v2 read's ``data.data``, or why there is none."""
    status, doc = _call(port, "GET", path, ("X-Vault-Token", token))
    try:
        data = doc["data"]["data"]  # type: ignore[index]
    except (KeyError, TypeError):
        data = None
    if status != 200 or not isinstance(data, dict):
        return _answer(status, doc)
    return data


def _same(found: dict[str, str] | str, expected: dict[str, str]) -> str | None:
    if isinstance(found, str):
        return found
    if found != expected:
        return f"answered {len(found)} keys that differ from the {len(expected)} loaded"
    return None


def _fresh() -> str:
    """A value of the written shape that wrk cannot have written (the check's own write)."""
    return f"wrk-99-{secrets.randbelow(10**9):09d}-{secrets.token_hex(4)}"


def stacksafe_targets(s: Stacksafe, admin: Engine | None) -> list[Target]:
    bearer = ("Authorization", f"Bearer {s.inst.token}")
    port, uid, writes = s.server.port, s.inst.stack_uid, s.writes_uid
    plaintexts = s.inst.plaintexts
    native = f"/api/3/stacks/{uid}/secrets?reveal=true&per_page=1000"

    def revealed(path: str) -> dict[str, object] | str:
        status, doc = _call(port, "GET", path, bearer)
        if status != 200 or not isinstance(doc, dict):
            return _answer(status, doc)
        return doc

    def check_native() -> str | None:
        doc = revealed(native)
        if isinstance(doc, str):
            return doc
        items = doc.get("response")
        found = {i["key"]: i["raw_value"] for i in items} if isinstance(items, list) else {}
        return _same(found, plaintexts)

    def single_path(key: str) -> str:
        return f"/api/3/stacks/{uid}/secrets/{key}?reveal=true"

    def check_single() -> str | None:
        for key in s.single_keys:
            doc = revealed(single_path(key))
            if isinstance(doc, str):
                return f"{key}: {doc}"
            item = doc.get("response")
            if not isinstance(item, dict) or item.get("raw_value") != plaintexts[key]:
                return f"{key}: answered another value"
        return None

    written = f"/api/3/stacks/{writes}/secrets?reveal=true&per_page=1000"

    def writes_list() -> dict[str, object]:
        doc = revealed(written)
        if isinstance(doc, str):
            raise RuntimeError(f"{s.label}: reading the written keys {doc}")
        return doc

    def versions() -> int:
        meta = writes_list()["meta"]
        assert isinstance(meta, dict)
        return sum(int(meta[k]["version"]) for k in WRITE_KEYS)

    def values() -> dict[str, str]:
        items = writes_list()["response"]
        assert isinstance(items, list)
        return {i["key"]: i["raw_value"] for i in items if i["key"] in WRITE_KEYS}

    def check_write() -> str | None:
        value = _fresh()
        status, doc = _call(
            port,
            "PUT",
            f"/api/3/stacks/{writes}/secrets/{WRITE_KEYS[0]}",
            bearer,
            {"raw_value": value},
        )
        if status != 200:
            return _answer(status, doc)
        return None if values()[WRITE_KEYS[0]] == value else "a write did not read back"

    db_pids: Callable[[], list[int]] | None = None
    if admin is not None and s.database is not None:
        database = s.database

        def db_pids() -> list[int]:
            return peer_setup.backend_pids(admin, database)

    def target(task: str, load: Load, check: Callable[[], str | None]) -> Target:
        return Target(
            task,
            s.label,
            port,
            s.server.process.pid,
            load,
            check,
            s.audit_count,
            db_pids=db_pids,
        )

    write = target(
        WRITE,
        Load(
            "PUT",
            tuple(f"/api/3/stacks/{writes}/secrets/{k}" for k in WRITE_KEYS),
            bearer,
            '{"raw_value":"{value}"}',
        ),
        check_write,
    )
    write.versions = versions
    write.read_back = lambda: _read_back(values())
    return [
        target(FETCH, Load("GET", (native,), bearer), check_native),
        target(
            FETCH_V1,
            Load("GET", (KV_FETCH,), ("X-Vault-Token", s.inst.token)),
            lambda: _same(_kv_data(port, KV_FETCH, s.inst.token), plaintexts),
        ),
        target(SINGLE, Load("GET", tuple(map(single_path, s.single_keys)), bearer), check_single),
        write,
    ]


def _read_back(values: dict[str, str]) -> str | None:
    """Why the written keys do not all hold a value wrk wrote (None: they do)."""
    others = sorted(k for k in WRITE_KEYS if not WRITTEN.fullmatch(values.get(k, "")))
    return f"{len(others)} keys do not read back a written value ({others[:3]})" if others else None


def openbao_targets(
    peer: Peer, plaintexts: dict[str, str], single: tuple[str, ...]
) -> list[Target]:
    bao = peer.bao
    port, root = bao.port, bao.root_token
    reader = ("X-Vault-Token", peer.reader)

    def check_single() -> str | None:
        for key in single:
            found = _kv_data(port, f"/v1/secret/data/{SINGLE_PREFIX}/{key}", peer.reader)
            if problem := _same(found, {"value": plaintexts[key]}):
                return f"{key}: {problem}"
        return None

    def versions() -> int:
        total = 0
        for key in WRITE_KEYS:
            status, doc = openbao.request(
                port, "GET", f"/v1/secret/metadata/{WRITE_PREFIX}/{key}", root
            )
            data = doc.get("data")
            if status != 200 or not isinstance(data, dict):
                raise RuntimeError(f"{bao.label}: metadata of {key} {_answer(status, doc)}")
            total += int(data["current_version"])
        return total

    def values() -> dict[str, str]:
        found = {}
        for key in WRITE_KEYS:
            data = _kv_data(port, f"/v1/secret/data/{WRITE_PREFIX}/{key}", root)
            found[key] = "" if isinstance(data, str) else data.get("value", "")
        return found

    def check_write() -> str | None:
        value = _fresh()
        path = f"/v1/secret/data/{WRITE_PREFIX}/{WRITE_KEYS[0]}"
        status, doc = openbao.request(port, "POST", path, peer.writer, {"data": {"value": value}})
        if status != 200:
            return _answer(status, doc)
        return None if values()[WRITE_KEYS[0]] == value else "a write did not read back"

    audit_log = bao.audit_log

    def audit() -> int:
        """Its file device writes a request and a response entry (a line each) per request."""
        assert audit_log is not None
        count = 0
        with audit_log.open("rb") as f:
            while chunk := f.read(1 << 20):
                count += chunk.count(b"\n")
        return count // 2

    pid = bao.process.pid

    def target(task: str, load: Load, check: Callable[[], str | None]) -> Target:
        return Target(task, bao.label, port, pid, load, check, audit if audit_log else None)

    write = target(
        WRITE,
        Load(
            "POST",
            tuple(f"/v1/secret/data/{WRITE_PREFIX}/{k}" for k in WRITE_KEYS),
            ("X-Vault-Token", peer.writer),
            '{"data":{"value":"{value}"}}',
        ),
        check_write,
    )
    write.versions = versions
    write.read_back = lambda: _read_back(values())
    fetch = Load("GET", (KV_FETCH,), reader)
    return [
        target(FETCH, fetch, lambda: _same(_kv_data(port, KV_FETCH, peer.reader), plaintexts)),
        target(
            SINGLE,
            Load("GET", tuple(f"/v1/secret/data/{SINGLE_PREFIX}/{k}" for k in single), reader),
            check_single,
        ),
        write,
    ]
