"""Corpus cases from detect-secrets' plugin tests: the ``@pytest.mark.parametrize`` tables of
``tests/plugins/*_test.py`` (a line and whether the plugin must flag it), read with ``ast`` and a
small evaluator of literal expressions (string constants, module-level names, ``+``, ``%``,
``str.format``), plus the ``test_data/files`` whose findings the baseline tests pin.

A table row that needs anything else (a random value, a call) is skipped and counted.
"""

from __future__ import annotations

import ast
from typing import Any

from scan_corpus_gitleaks import Skips, lines_of

PLUGIN_TESTS = "tests/plugins"
# test_data files whose expected findings detect-secrets' tests pin (tests/core/baseline_test.py:
# one secret in file_with_secrets.py, line 3 (line 4 carries an allowlist pragma); two on line 3
# of tmp/file_with_secrets.py; none in file_with_no_secrets.py).
PINNED_FILES = {
    "test_data/files/file_with_secrets.py": [[3, 3]],
    "test_data/files/tmp/file_with_secrets.py": [[3, 3]],
    "test_data/files/file_with_no_secrets.py": [],
}
_PAYLOAD_NAMES = ("payload", "line", "file_content")
_FLAG_NAMES = ("should_flag", "expected_secret", "should_be_caught")


class _NotLiteral(Exception):
    pass


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    """The value of a literal-only expression (or _NotLiteral)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise _NotLiteral(node.id)
    if isinstance(node, ast.Tuple | ast.List):
        return [_eval(e, env) for e in node.elts]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            return left % (tuple(right) if isinstance(right, list) else right)
        if isinstance(node.op, ast.Mult):
            return left * right
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                parts.append(str(_eval(value.value, env)))
            else:
                parts.append(str(_eval(value, env)))
        return "".join(parts)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        template = _eval(node.func.value, env)
        args = [_eval(a, env) for a in node.args]
        kwargs = {k.arg: _eval(k.value, env) for k in node.keywords if k.arg}
        if isinstance(template, str):
            return template.format(*args, **kwargs)
    raise _NotLiteral(type(node).__name__)


def _module_env(tree: ast.Module) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                try:
                    env[target.id] = _eval(stmt.value, env)
                except (_NotLiteral, TypeError, ValueError, KeyError, IndexError):
                    env[target.id] = _Unknown()
        elif isinstance(stmt, ast.ImportFrom) and stmt.module:
            for alias in stmt.names:
                env[alias.asname or alias.name] = _Named(alias.name)
    return env


class _Unknown:
    """A module-level value that is not a literal (a random line...)."""


class _Named(str):
    """An imported name (a detector class), kept by name."""


def _parametrize(func: ast.AST) -> list[ast.Call]:
    calls: list[ast.Call] = []
    for deco in getattr(func, "decorator_list", []):
        if (
            isinstance(deco, ast.Call)
            and isinstance(deco.func, ast.Attribute)
            and deco.func.attr == "parametrize"
        ):
            calls.append(deco)
    return calls


def _rows(call: ast.Call, env: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    names = [n.strip() for n in str(_eval(call.args[0], env)).split(",")]
    values = call.args[1]
    rows: list[list[Any]] = []
    # keyword_test.py: parse_test_cases([(extension, TABLE), ...]) yields (ext, line, expected)
    if isinstance(values, ast.Call) and isinstance(values.func, ast.Name):
        groups = _eval(values.args[0], env)
        for ext, table in groups:
            for line, expected in table:
                rows.append([ext, line, expected])
        return names, rows
    if isinstance(values, ast.Tuple | ast.List):
        for elt in values.elts:
            try:
                row = _eval(elt, env)
            except (_NotLiteral, TypeError, ValueError, KeyError, IndexError):
                row = [_Unknown()] * len(names)  # counted as skipped if the table is used
            rows.append(row if len(names) > 1 else [row])
    return names, rows


def _label(text: str, positive: bool) -> list[list[int]] | None:
    if not positive:
        return []
    lines = lines_of(text)
    if len(lines) == 1:
        return [[1, 1]]
    begins = [i for i, line in enumerate(lines, 1) if "-----BEGIN" in line]
    if begins:
        ends = [i for i, line in enumerate(lines, 1) if "-----END" in line and i >= begins[0]]
        return [[begins[0], ends[0] if ends else len(lines)]]
    return None


def _asserts_detection(func: ast.AST) -> bool:
    source = ast.unparse(func)
    return "assert" in source and "assert not" not in source


def detect_secrets_cases(mirror: Any, skips: Skips) -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for path in mirror.files(PLUGIN_TESTS):
        if not path.endswith("_test.py"):
            continue
        plugin = path.rsplit("/", 1)[1].removesuffix("_test.py")
        tree = ast.parse(mirror.text(path))
        env = _module_env(tree)
        found: list[dict[str, object]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                for call in _parametrize(node):
                    names, rows = _rows(call, env)
                    found.extend(_table_cases(plugin, names, rows, node, skips))
        found.extend(_class_table_cases(plugin, tree, env, skips))
        for n, case in enumerate(found, 1):
            kind = "tp" if case["secrets"] else "fp"
            cases.append({"id": f"detect_secrets/{plugin}/{kind}-{n}", **case})
    for file_path, spans in PINNED_FILES.items():
        name = file_path.removeprefix("test_data/")
        cases.append(
            {
                "id": f"detect_secrets/test_data/{name}",
                "source": "detect_secrets",
                "rule": None,
                "path": name.rsplit("/", 1)[1],
                "text": mirror.text(file_path),
                "secrets": spans,
            }
        )
    return cases


def _table_cases(
    plugin: str, names: list[str], rows: list[list[Any]], func: ast.AST, skips: Skips
) -> list[dict[str, object]]:
    payload = next((names.index(n) for n in _PAYLOAD_NAMES if n in names), None)
    flag = next((names.index(n) for n in _FLAG_NAMES if n in names), None)
    if payload is None or (flag is None and len(names) > 1):
        return []  # a table of something else (verification responses, settings)
    out: list[dict[str, object]] = []
    ext_at = names.index("file_extension") if "file_extension" in names else None
    for row in rows:
        text = row[payload]
        if isinstance(text, _Unknown) or not isinstance(text, str):
            skips.add("detect_secrets: parametrize row not a literal")
            continue
        positive = bool(row[flag]) if flag is not None else _asserts_detection(func)
        spans = _label(text, positive)
        if spans is None:
            skips.add("detect_secrets: multi-line positive without a key block")
            continue
        ext = row[ext_at] if ext_at is not None and row[ext_at] else "txt"
        out.append(
            {
                "source": "detect_secrets",
                "rule": plugin,
                "path": f"{plugin}.{ext}",
                "text": text,
                "secrets": spans,
            }
        )
    return out


def _class_table_cases(
    plugin: str, tree: ast.Module, env: dict[str, Any], skips: Skips
) -> list[dict[str, object]]:
    """high_entropy_strings_test.py: a class-level table of (plugin, non_secret, secret) crossed
    with test_basic's table of (format, should_be_caught)."""
    out: list[dict[str, object]] = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for outer in _parametrize(cls):
            names, rows = _rows(outer, env)
            if names != ["plugin", "non_secret", "secret"]:
                continue
            basic = [
                f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "test_basic"
            ]
            for func in basic:
                for inner in _parametrize(func):
                    _, formats = _rows(inner, env)
                    for detector, non_secret, secret in rows:
                        if isinstance(secret, _Unknown) or isinstance(non_secret, _Unknown):
                            skips.add("detect_secrets: parametrize row not a literal")
                            continue
                        for fmt, caught in formats:
                            text = str(fmt).format(non_secret=non_secret, secret=secret)
                            out.append(
                                {
                                    "source": "detect_secrets",
                                    "rule": str(detector),
                                    "path": f"{plugin}.txt",
                                    "text": text,
                                    "secrets": [[1, 1]] if caught else [],
                                }
                            )
    return out
