"""SQL lives only in the stores (runner/state/sqlite/, runner/state/postgresql/): no other
module of the package speaks it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import runner

PACKAGE = Path(runner.__file__).parent
SQLITE = PACKAGE / "state" / "sqlite"
POSTGRESQL = PACKAGE / "state" / "postgresql"
SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|DROP|BEGIN|COMMIT)\b")


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) or "" for v in node.values)
    if isinstance(node, ast.BinOp):
        return _text(node.left)
    return None


def sql_uses(source: str) -> list[str]:
    """What in this module's source speaks SQL: sqlite3 imports, SQL text, raw connections."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "sqlite3" for a in node.names):
            found.append(f"line {node.lineno}: import sqlite3")
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
            found.append(f"line {node.lineno}: from sqlite3 import")
        elif isinstance(node, ast.Attribute) and node.attr == "connection":
            found.append(f"line {node.lineno}: .connection")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if (
                node.func.attr.startswith("execute")
                and node.args
                and _text(node.args[0]) is not None
            ):
                found.append(f"line {node.lineno}: .{node.func.attr}() of SQL text")
        elif isinstance(node, ast.Constant | ast.JoinedStr):
            text = _text(node)
            if text is not None and SQL_TEXT.match(text):
                found.append(f"line {node.lineno}: SQL text {text[:40]!r}")
    return found


def test_the_check_finds_each_kind_of_sql() -> None:
    source = (
        "import sqlite3\n"
        "from sqlite3 import connect\n"
        "store.connection\n"
        "db.execute(f'SELECT {x} FROM t')\n"
        "query = 'UPDATE items SET queue = ?'\n"
    )
    assert 5 <= len(sql_uses(source))
    assert [] == sql_uses("engine.execute(requests)\nname = 'Selected items'\n")


def test_no_module_outside_the_sqlite_store_speaks_sql() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if SQLITE not in path.parents and POSTGRESQL not in path.parents
        if (uses := sql_uses(path.read_text(encoding="utf-8")))
    }
    assert {} == offenders
