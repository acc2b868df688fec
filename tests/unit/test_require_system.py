"""A missing system component skips a test locally and fails it under CI."""

from __future__ import annotations

import pytest

from tests.support.system import require_system


def test_skips_when_ci_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing system component mount: why"):
        require_system("mount", "why")


@pytest.mark.parametrize("value", ["1", "true"])
def test_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="missing system component mount: why"):
        require_system("mount", "why")


def test_an_empty_ci_variable_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        require_system("mount", "why")
