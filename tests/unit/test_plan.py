"""Tests of `runner plan` (runner.api.plan and its CLI rendering): what it shows, what it hides."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner import api
from runner.cli import main

SECRET = "s3cret-Passw0rd"

PIPELINE = """\
version: 1
settings: {state: .runner/state.db, logs: .runner/logs, secrets: [PLAN_TOKEN]}
groups:
  g:
    members:
      - {id: a, server: s1}
definitions:
  d: {command: [/bin/echo, "--token={{ env.PLAN_TOKEN }}", "{{ item.id }}"]}
tasks:
  t: {definition: d, group: g}
"""


@pytest.fixture
def pipeline_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    monkeypatch.setenv("PLAN_TOKEN", SECRET)
    return tmp_path


class TestSecrets:
    def test_first_commands_mask_secret_values(self, pipeline_dir: Path) -> None:
        report = api.plan(api.load(pipeline_dir), at=datetime(2026, 1, 5, tzinfo=UTC))
        (task,) = report["tasks"]
        assert task["first_commands"] == [["/bin/echo", "--token=***", "a"]]
        assert SECRET not in json.dumps(report)

    @pytest.mark.parametrize("json_flag", [[], ["--json"]])
    def test_cli_output_never_holds_a_secret(
        self, pipeline_dir: Path, capsys: pytest.CaptureFixture[str], json_flag: list[str]
    ) -> None:
        assert main(["plan", str(pipeline_dir), *json_flag]) == 0
        out = capsys.readouterr().out
        assert "--token=***" in out
        assert SECRET not in out


class TestShortSecretWarning:
    def test_validate_warns_about_a_short_secret(
        self,
        pipeline_dir: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("PLAN_TOKEN", "x")
        assert main(["validate", str(pipeline_dir)]) == 0
        err = capsys.readouterr().err
        assert "warning: secret PLAN_TOKEN is shorter than 3 characters" in err
        assert main(["validate", "--json", str(pipeline_dir)]) == 0
        assert len(json.loads(capsys.readouterr().out)["warnings"]) == 1

    def test_no_warning_for_a_real_secret(
        self, pipeline_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["validate", "--json", str(pipeline_dir)]) == 0
        assert json.loads(capsys.readouterr().out)["warnings"] == []
