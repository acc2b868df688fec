"""The command line imports and starts: a broken import is a failure, never a skip."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_cli_module_imports() -> None:
    """`runner.cli` imports in this interpreter and offers `main`."""
    cli = importlib.import_module("runner.cli")
    assert callable(cli.main)


def test_python_dash_m_runner_prints_its_help() -> None:
    """`python -m runner --help` exits 0 and names the verbs, with no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr
    assert 0 == result.returncode, result.stderr
    assert "validate" in result.stdout
