"""The layering rules of docs/architecture.md, checked on the source: dependencies point down.

The rules themselves are the import contract in pyproject.toml (``[tool.importlinter]``), which
``make lint`` runs too; these tests fail the suite when it is broken, show that it catches the
import forms a hand-written AST walk missed, and keep the checks it cannot express.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stacksafe

SRC = Path(stacksafe.__file__).parent
ROOT = SRC.parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the package importable first on ``pythonpath`` (default: ours)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_import_contract_is_kept() -> None:
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr


PROBES = {
    # module of a copy of the package: the line added, the breach lint-imports must name
    "api/deps.py": ("from stacksafe import store", "stacksafe.api.deps -> stacksafe.store"),
    "cli/output.py": ("from stacksafe import store", "stacksafe.cli.output -> stacksafe.store"),
    "core/masking.py": ("import sqlalchemy", "stacksafe.core.masking -> sqlalchemy"),
    "core/generate.py": (
        "from stacksafe.store.schema import secrets",
        "stacksafe.core.generate -> stacksafe.store.schema",
    ),
    "store/keys.py": ("from stacksafe import core", "stacksafe.store.keys -> stacksafe.core"),
    "model.py": ("import stacksafe.crypto", "stacksafe.model -> stacksafe.crypto"),
}


def test_import_contract_catches_each_breach(tmp_path: Path) -> None:
    """The contract names every kind of leak, ``from stacksafe import store`` included (a form
    an AST walk over ``from X import`` module names does not see as importing the store)."""
    copy = tmp_path / "stacksafe"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    for module, (line, _) in PROBES.items():
        path = copy / module
        path.write_text(path.read_text() + f"\n{line}  # probe\n")
    done = lint_imports(pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    for module, (_, breach) in PROBES.items():
        assert breach in done.stdout, (module, done.stdout)


def all_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages([str(SRC)], prefix="stacksafe.")
        if ".migrations" not in info.name
    )


@pytest.mark.parametrize("name", all_modules())
def test_public_names_exist(name: str) -> None:
    """Every name a module exports is defined (ruff's RUF022 keeps ``__all__`` sorted)."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", [])
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


# Modules hold one concept each (House, item 2): none is a warehouse, each says what it is.
MAX_MODULE_LINES = 500


def source_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "versions" not in p.relative_to(SRC).parts)


def test_no_module_is_a_warehouse() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in source_modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_every_module_says_what_it_is() -> None:
    import ast

    silent = [
        str(p.relative_to(SRC))
        for p in source_modules()
        if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert silent == []
