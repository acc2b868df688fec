"""Imports flow one way: loading the configuration pulls in no execution code."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

EXECUTION_MODULES = (
    "runner.engine",
    "runner.process",
    "runner.launch",
    "runner.state",
    "runner.system",
    "runner.schedule",
    "runner.serve",
    "runner.session",
    "runner.operations",
    "runner.api",
    "runner.cli",
    "runner.groups",
    "runner.logs",
)
"""runner modules that execute, store or schedule: the config side must not import them."""

FORBIDDEN_STDLIB = ("subprocess", "sqlite3", "psutil")
"""Modules for running processes or keeping state, which reading configuration never needs."""


def modules_after_importing(*names: str) -> set[str]:
    """The modules loaded by a fresh interpreter after importing ``names``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(names)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(result.stdout)
    return set(loaded)


@pytest.fixture(scope="module")
def config_modules() -> set[str]:
    """What importing runner.config and its loader loads."""
    return modules_after_importing("runner.config", "runner.config.loader")


class TestLayering:
    """runner.config stays on its side of the line."""

    def test_config_loads_its_own_modules(self, config_modules: set[str]) -> None:
        """The check itself works: the loader and the models were imported."""
        assert {
            "runner.config.loader",
            "runner.config.messages",
            "runner.config.fields",
            "runner.config.pipeline",
        } <= config_modules

    @pytest.mark.parametrize("module", EXECUTION_MODULES)
    def test_config_does_not_import_execution_code(
        self, config_modules: set[str], module: str
    ) -> None:
        """Importing runner.config loads no engine, process, state, scheduler, CLI or groups."""
        assert module not in config_modules

    @pytest.mark.parametrize("module", FORBIDDEN_STDLIB)
    def test_config_does_not_import_process_or_storage_libraries(
        self, config_modules: set[str], module: str
    ) -> None:
        """Reading configuration needs no subprocess, SQLite or psutil."""
        assert module not in config_modules


def imported_modules(path: Path) -> set[str]:
    """The modules a source file imports (``from runner import cli`` counts as ``runner.cli``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


LIBRARY_FILES = sorted(
    path
    for path in (REPO / "runner").rglob("*.py")
    if path.relative_to(REPO).parts[:2] != ("runner", "cli") and path.name != "__main__.py"
)
"""Every module of the library: all of runner/ but the CLI package and `python -m runner`."""


class TestCliIsAShell:
    """The CLI package imports the library; the library never imports the CLI."""

    def test_the_library_files_were_found(self) -> None:
        assert REPO / "runner" / "api.py" in LIBRARY_FILES
        assert not any(
            path.relative_to(REPO).parts[:2] == ("runner", "cli") for path in LIBRARY_FILES
        )

    @pytest.mark.parametrize(
        "path", LIBRARY_FILES, ids=lambda p: str(p.relative_to(REPO / "runner"))
    )
    def test_library_module_does_not_import_the_cli(self, path: Path) -> None:
        cli = {name for name in imported_modules(path) if name.split(".")[:2] == ["runner", "cli"]}
        assert set() == cli


DOMAIN_MODULES = (
    "runner.domain.dispatch",
    "runner.domain.outcomes",
    "runner.domain.policy",
    "runner.domain.queues",
    "runner.domain.runs",
    "runner.domain.statuses",
    "runner.domain.timefmt",
    "runner.domain.workers",
)
"""Every module of the vocabulary and pure rules."""


@pytest.fixture(scope="module")
def domain_modules() -> set[str]:
    """What importing every runner.domain module loads beyond the interpreter's own start."""
    return modules_after_importing(*DOMAIN_MODULES) - modules_after_importing()


class TestDomain:
    """runner.domain sits below runner.config: standard library only."""

    def test_domain_loads_its_own_modules(self, domain_modules: set[str]) -> None:
        """The check itself works: every domain module was imported."""
        assert set(DOMAIN_MODULES) <= domain_modules

    def test_domain_imports_no_other_runner_module(self, domain_modules: set[str]) -> None:
        """The rules import nothing from the rest of the runner."""
        others = {
            m
            for m in domain_modules
            if m.startswith("runner.") and not m.startswith("runner.domain")
        }
        assert set() == others

    def test_domain_imports_only_the_standard_library(self, domain_modules: set[str]) -> None:
        """No third-party package (pydantic, yaml, jinja2, psutil, structlog...) is loaded."""
        third_party = {
            m.split(".")[0]
            for m in domain_modules
            if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "runner"
        }
        assert set() == third_party
