"""The layering rules of ARCHITECTURE.md, checked on the source: dependencies point down only."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import stacksafe

SRC = Path(stacksafe.__file__).parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules_under(package: str) -> list[Path]:
    if not package:
        return [SRC / "model.py", SRC / "errors.py"]
    return sorted((SRC / package).rglob("*.py"))


FORBIDDEN = {
    # package: prefixes it must not import
    "crypto": ("stacksafe.store", "stacksafe.core", "stacksafe.cli", "sqlalchemy"),
    "store": ("stacksafe.core", "stacksafe.cli", "stacksafe.crypto"),
    "core": (
        "stacksafe.cli",
        "stacksafe.api",
        "stacksafe.web",
        "stacksafe.client",
        "cryptography",
        "fastapi",
    ),
    "api": ("stacksafe.store", "stacksafe.crypto", "stacksafe.cli", "sqlalchemy"),
    # The UI is a face like the API: core functions only, never storage or crypto directly.
    # The API hosts the UI (create_app mounts it), so the UI imports nothing of the API.
    "web": (
        "stacksafe.store",
        "stacksafe.crypto",
        "stacksafe.cli",
        "stacksafe.api",
        "sqlalchemy",
        "cryptography",
    ),
    "client": ("stacksafe.core", "stacksafe.store", "stacksafe.crypto", "stacksafe.api"),
    # scan/ stands alone: handed values and inputs, it reaches for nothing else of stacksafe.
    "scan": (
        "stacksafe.store",
        "stacksafe.crypto",
        "stacksafe.core",
        "stacksafe.cli",
        "stacksafe.api",
        "stacksafe.client",
        "sqlalchemy",
    ),
    "": ("stacksafe.store", "stacksafe.core", "stacksafe.cli", "stacksafe.crypto", "sqlalchemy"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_down(package: str) -> None:
    for path in modules_under(package):
        bad = sorted(name for name in imports_of(path) if name.startswith(FORBIDDEN[package]))
        assert bad == [], f"{path.relative_to(SRC)} imports {bad}"


def test_only_crypto_imports_cryptography_hazmat() -> None:
    for path in SRC.rglob("*.py"):
        if "crypto" in path.relative_to(SRC).parts:
            continue
        assert not any(n.startswith("cryptography") for n in imports_of(path)), path


def test_cli_reaches_storage_and_crypto_only_through_core() -> None:
    for path in (SRC / "cli").rglob("*.py"):
        bad = [
            n
            for n in imports_of(path)
            if n.startswith(("stacksafe.crypto", "stacksafe.store.")) or n == "sqlalchemy"
        ]
        assert bad == [], f"{path.name} imports {bad}"


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
