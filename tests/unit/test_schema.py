"""The generated JSON Schema and key reference: up to date, valid, and in step with the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev dependencies
import pytest
import yaml
from pydantic import BaseModel

from runner import config as models
from runner.config.schema import (
    REFERENCE_PATH,
    SCHEMA_ID,
    SCHEMA_PATH,
    main,
    pipeline_json_schema,
    reference_markdown,
    render_schema_text,
)

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "python -m runner.config.schema --write"

SPEC_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "settings": {"state": ".runner/state.db", "concurrency": 8, "secrets": ["SMTP_PASSWORD"]},
    "schedules": {
        "weeknights": {"cron": "0 18 * * 1-5", "timezone": "Europe/London", "window": "12h"}
    },
    "groups": {
        "sales": {"members": "alice@example.com; bob@example.com"},
        "finance": {"members": ["carol@example.com", {"id": "dave@example.com", "server": "ex02"}]},
        "archives": {"file": "data/archives.csv"},
        "ad-group": {"command": ["./scripts/resolve-group", "CN=x"], "timeout": "2m"},
        "everyone": {"include": ["sales", "finance"], "exclude": ["ceo@example.com"]},
    },
    "definitions": {
        "replicate-folders": {
            "command": ["./scripts/replicate", "--mailbox", "{{ item.id }}"],
            "requires": ["server"],
            "timeout": "2h",
            "idle_timeout": "15m",
            "env": {"MODE": "full"},
            "outcomes": [
                {"when": {"exit_code": 0}, "status": "ok"},
                {"when": {"exit_code": [3, 4]}, "status": "#001"},
                {
                    "when": {"stderr": "(?i)locked"},
                    "status": "locked",
                    "queue": "password-protected",
                },
            ],
        }
    },
    "policies": {
        "migration": {
            "max_retries": 5,
            "retry_on": ["#001", "timeout"],
            "backoff": {"initial": "1m", "factor": 2, "max": "1h"},
            "exhausted_queue": "awaiting-intervention",
        }
    },
    "tasks": {
        "nightly-replication": {
            "schedule": "weeknights",
            "definition": "replicate-folders",
            "group": "everyone",
            "policy": "migration",
            "concurrency": 4,
            "before": [
                {"run": ["./scripts/start-backup"], "timeout": "99:99:99", "on_failure": "error"}
            ],
            "after": [{"run": ["./scripts/notify", "{{ run.id }}"], "when": "always"}],
        }
    },
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(pipeline_json_schema())


def _error_paths(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return sorted(
        "/".join(str(part) for part in error.absolute_path)
        for error in validator.iter_errors(document)
    )


class TestCheckedInFiles:
    @pytest.mark.parametrize(
        ("relative", "render"),
        [(SCHEMA_PATH, render_schema_text), (REFERENCE_PATH, reference_markdown)],
        ids=["schema", "reference"],
    )
    def test_matches_the_models(self, relative: Path, render: Any) -> None:
        """The checked-in file is exactly what the models generate."""
        path = ROOT / relative
        assert path.is_file(), f"{relative} is missing; run `{REGENERATE}`"
        assert render() == path.read_text(encoding="utf-8"), (
            f"{relative} is out of date with the models; run `{REGENERATE}` and commit it"
        )


class TestSchema:
    def test_is_a_valid_draft_2020_12_schema(self) -> None:
        """The schema itself passes the draft 2020-12 metaschema."""
        jsonschema.Draft202012Validator.check_schema(pipeline_json_schema())

    def test_header(self) -> None:
        """The schema names its draft, id and title first."""
        schema = pipeline_json_schema()
        expected = ["$schema", "$id", "title", "description"]
        assert expected == list(schema)[:4]
        assert (
            "https://json-schema.org/draft/2020-12/schema",
            SCHEMA_ID,
            "Pipeline file",
        ) == (schema["$schema"], schema["$id"], schema["title"])

    def test_text_is_indented_json_with_a_final_newline(self) -> None:
        """The schema text is 2-space JSON ending in one newline."""
        text = render_schema_text()
        assert (True, False, pipeline_json_schema()) == (
            text.endswith("}\n"),
            text.endswith("\n\n"),
            json.loads(text),
        )
        assert text.splitlines()[1].startswith('  "$schema"')

    def test_accepts_the_spec_example(self, validator: jsonschema.Draft202012Validator) -> None:
        """A document the models accept is accepted by the schema too."""
        models.PipelineFile.model_validate(SPEC_EXAMPLE)
        assert [] == _error_paths(validator, SPEC_EXAMPLE)

    @pytest.mark.parametrize(
        ("document", "path"),
        [
            (
                {"version": 1, "tasks": {"t": {"definition": "d", "group": "g", "tiemout": 1}}},
                "tasks/t",
            ),
            ({"version": 1, "policies": {"bad name": {}}}, "policies"),
            ({"version": 2}, "version"),
            ({}, ""),
            ({"version": 1, "bogus": {}}, ""),
            (
                {"version": 1, "schedules": {"s": {"cron": "@daily", "window": "12 hours"}}},
                "schedules/s/window",
            ),
            (
                {
                    "version": 1,
                    "tasks": {
                        "t": {
                            "definition": "d",
                            "group": "g",
                            "before": [{"run": ["x"], "timeout": 362_440}],
                        }
                    },
                },
                "tasks/t/before/0/timeout",
            ),
            (
                {"version": 1, "definitions": {"d": {"command": ["x"], "env": {"1BAD": "x"}}}},
                "definitions/d/env",
            ),
            ({"version": 1, "definitions": {"d": {"command": []}}}, "definitions/d/command"),
            (
                {"version": 1, "policies": {"p": {"exhausted_queue": "trash"}}},
                "policies/p/exhausted_queue",
            ),
            (
                {"version": 1, "groups": {"g": {"members": [{"id": "a", "server": 2}]}}},
                "groups/g/members",
            ),
            ({"version": 1, "settings": {"concurrency": "8"}}, "settings"),
        ],
    )
    def test_rejects_what_the_models_reject(
        self, validator: jsonschema.Draft202012Validator, document: dict[str, Any], path: str
    ) -> None:
        """Unknown keys, bad names, durations, queues and types fail the schema as in the models."""
        assert [path] == sorted(set(_error_paths(validator, document)))[:1]

    def test_durations_share_one_definition(self) -> None:
        """Every duration string refers to the shared DurationText definition."""
        text = render_schema_text()
        assert ("#/$defs/DurationText" in text, text.count('"pattern": "^(?:[0-9]')) == (True, 1)

    def test_every_model_is_defined(self) -> None:
        """Each nested model has its own $defs entry."""
        expected = {
            "AfterStep",
            "Backoff",
            "Definition",
            "DurationText",
            "Group",
            "HaltOn",
            "LimitPer",
            "Member",
            "NotifyRule",
            "OutcomeRule",
            "OutcomeWhen",
            "OutputRule",
            "Policy",
            "Retention",
            "Schedule",
            "Settings",
            "Step",
            "Task",
        }
        assert expected == set(pipeline_json_schema()["$defs"])


class TestReference:
    def test_every_key_is_documented(self) -> None:
        """Every field of every model appears as a row of the reference."""
        text = reference_markdown()
        models_list = [
            value
            for value in vars(models).values()
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
        ]
        missing = [
            f"{model.__name__}.{name}"
            for model in models_list
            for name, info in model.model_fields.items()
            if f"| `{name}` |" not in text or (info.description or "")[:30] not in text
        ]
        assert [] == missing

    def test_defaults_are_shown_as_written(self) -> None:
        """Defaults read as an operator writes them."""
        text = reference_markdown()
        expected_rows = [
            "| `timeout` | duration, at most 99:99:99 (362439 s) | `10m` |",
            "| `grace` | duration | `5s` |",
            "| `concurrency` | integer >= 1 | `8` |",
            "| `mode` | `recurring` \\| `once` | `recurring` |",
            "| `definition` | string | **required** |",
            "| `backoff` | [Backoff](#backoff) | all defaults |",
        ]
        assert [] == [row for row in expected_rows if row not in text]

    def test_ends_with_one_newline(self) -> None:
        """The reference ends in exactly one newline."""
        text = reference_markdown()
        assert (True, False) == (text.endswith("\n"), text.endswith("\n\n"))


class TestCommandLine:
    def test_write_then_check(self, tmp_path: Path) -> None:
        """--write creates both files under --root; --check then passes."""
        assert 0 == main(["--write", "--root", str(tmp_path)])
        assert (render_schema_text(), reference_markdown()) == (
            (tmp_path / SCHEMA_PATH).read_text(encoding="utf-8"),
            (tmp_path / REFERENCE_PATH).read_text(encoding="utf-8"),
        )
        assert 0 == main(["--check", "--root", str(tmp_path)])

    def test_check_fails_on_a_stale_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--check exits 1 and names the stale file and the command to fix it."""
        main(["--write", "--root", str(tmp_path)])
        capsys.readouterr()
        (tmp_path / REFERENCE_PATH).write_text("old\n", encoding="utf-8")
        assert 1 == main(["--check", "--root", str(tmp_path)])
        assert f"reference.md is out of date; run `{REGENERATE}`" in capsys.readouterr().err

    def test_check_fails_on_a_missing_file(self, tmp_path: Path) -> None:
        """--check exits 1 when the files do not exist."""
        assert 1 == main(["--check", "--root", str(tmp_path)])

    def test_prints_the_schema_by_default(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without options the schema is printed to stdout."""
        assert 0 == main([])
        assert render_schema_text() == capsys.readouterr().out

    def test_schema_round_trips_through_yaml_loading(self) -> None:
        """The schema is plain JSON data (also loadable as YAML by editors)."""
        assert pipeline_json_schema() == yaml.safe_load(render_schema_text())
