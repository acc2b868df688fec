"""Every error class carries the exit code a command ends with; the CLI reads it in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import exitcodes
from runner.cli import main
from runner.errors import (
    ConfigError,
    ConfigIssue,
    DiskFullError,
    GroupResolutionError,
    Location,
    LockHeldError,
    RunnerError,
    StateError,
    TemplateRenderError,
    UnsafePathError,
    UsageError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError([ConfigIssue(Location(Path("p.yaml"), 3, 1), "bad")]), exitcodes.BAD_CONFIG),
        (UsageError("no such task"), exitcodes.BAD_CONFIG),
        (UnsafePathError("a symlink"), exitcodes.BAD_CONFIG),
        (LockHeldError(Path("state.lock"), 42), exitcodes.LOCKED),
        (GroupResolutionError("resolver failed"), exitcodes.RUN_FAILED),
        (StateError("too new"), exitcodes.RUN_FAILED),
        (DiskFullError(Path("state.db")), exitcodes.RUN_FAILED),
        (TemplateRenderError("undefined"), exitcodes.RUN_FAILED),
        (RunnerError("anything else"), exitcodes.RUN_FAILED),
    ],
)
def test_error_class_carries_its_exit_code(error: RunnerError, code: int) -> None:
    assert code == error.exit_code


def test_config_error_report_tells_what_to_do() -> None:
    error = ConfigError([ConfigIssue(Location(Path("p.yaml"), 3, 1), "bad")])
    assert error.report().endswith("runner: fix the errors above, then run `runner validate` again")
    assert "p.yaml:3:1: bad" in error.report()


def test_cli_exits_with_the_error_class_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error subclass with its own code needs no change in the CLI to exit with it."""

    class Odd(RunnerError):
        exit_code = 42

    def fail(_path: object) -> None:
        raise Odd("odd failure")

    monkeypatch.setattr("runner.api.load", fail)
    assert 42 == main(["validate", "nowhere"])
    assert "runner: odd failure\n" == capsys.readouterr().err
