"""docs/architecture.md names the package's modules as they are."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[A-Za-z_][\w.]*/?)(?:\s|$)")
NAMED_IN_TABLE = re.compile(r"`(runner/[\w/]+\.py)`")


def tree_paths(text: str) -> set[str]:
    """The paths of the module tree (the first code block), built from its indentation."""
    block = text.split("```", 2)[1]
    lines = block.splitlines()[1:]
    paths: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in lines:
        match = ENTRY.match(line)
        if not match or not (match["name"].endswith("/") or match["name"].endswith(".py")):
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        path = parent + match["name"]
        if path.endswith("/"):
            stack.append((indent, path))
        else:
            paths.add(path)
    return paths


def package_modules() -> set[str]:
    """Every module of runner/ but package faces and `python -m` entry points at the top."""
    found = set()
    for path in (REPO / "runner").rglob("*.py"):
        relative = path.relative_to(REPO).as_posix()
        if path.name == "__init__.py" or relative == "runner/__main__.py":
            continue
        found.add(relative)
    return found


class TestArchitectureDoc:
    """The architecture page and the code agree, both ways."""

    def test_the_tree_was_read(self) -> None:
        """The parser finds nested entries (the check below is not vacuous)."""
        paths = tree_paths(DOC.read_text(encoding="utf-8"))
        assert "runner/state/sqlite/items.py" in paths
        assert "runner/domain/policy.py" in paths

    def test_every_named_module_exists(self) -> None:
        """No line of the tree or of the behaviour table names a file that is gone."""
        text = DOC.read_text(encoding="utf-8")
        named = {
            p
            for p in tree_paths(text) | set(NAMED_IN_TABLE.findall(text))
            if not p.endswith("__init__.py")
        }
        missing = sorted(p for p in named if not (REPO / p).is_file())
        assert [] == missing

    def test_every_module_is_named(self) -> None:
        """A new module gets its line in the tree."""
        named = tree_paths(DOC.read_text(encoding="utf-8"))
        assert [] == sorted(package_modules() - named)
