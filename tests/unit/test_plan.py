"""Tests of `runner plan` (runner.api.plan and its CLI rendering): what it shows, what it hides."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner import api
from runner.cli import main
from runner.state import open_store

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


STALE = """\
version: 1
settings: {state: .runner/state.db, logs: .runner/logs}
schedules:
  nightly: {cron: "0 22 * * *", timezone: Europe/Paris}
groups:
  g:
    members:
      - {id: a, server: s1}
      - {id: b%s}
definitions:
  d: {command: [/bin/true, "{{ item.id }}"], requires: [server]}
tasks:
  t: {definition: d, group: g, schedule: nightly}
"""

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class TestCounts:
    def test_counts_follow_the_group_as_it_is_now(self, tmp_path: Path) -> None:
        """An item left in `incomplete` whose group now supplies the attribute counts as unattempted."""
        (tmp_path / "pipeline.yaml").write_text(STALE % "")
        pipeline = api.load(tmp_path)
        with open_store(pipeline.state_file) as store:
            store.upsert_task("t", site="default", config_hash="h", modified_by="me", now=0.0)
            store.sync_members("t", [("a", '{"server": "s1"}', ""), ("b", "{}", "server")], now=0.0)
            assert store.queue_counts("t") == {"unattempted": 1, "incomplete": 1}
        (tmp_path / "pipeline.yaml").write_text(STALE % ", server: s2")
        (task,) = api.plan(api.load(tmp_path), at=AT)["tasks"]
        assert task["queues"] == {"unattempted": 2}

    def test_counts_without_a_state(self, tmp_path: Path) -> None:
        (tmp_path / "pipeline.yaml").write_text(STALE % "")
        (task,) = api.plan(api.load(tmp_path), at=AT)["tasks"]
        assert task["queues"] == {"incomplete": 1, "unattempted": 1}


class TestNextFire:
    def test_next_fire_is_one_machine_value_and_the_local_time_its_own_field(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "pipeline.yaml").write_text(STALE % "")
        (task,) = api.plan(api.load(tmp_path), at=AT)["tasks"]
        assert task["next_fire"] == "2026-01-05T21:00:00Z"
        assert datetime.fromisoformat(task["next_fire"]) == datetime(2026, 1, 5, 21, tzinfo=UTC)
        assert task["next_fire_local"] == "2026-01-05T22:00+01:00 Europe/Paris"

    def test_text_shows_both(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "pipeline.yaml").write_text(STALE % "")
        assert main(["plan", str(tmp_path), "--at", "2026-01-05T12:00:00+00:00"]) == 0
        out = capsys.readouterr().out
        assert "next fire 2026-01-05T21:00:00Z (2026-01-05T22:00+01:00 Europe/Paris)" in out
