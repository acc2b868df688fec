"""`runner init`: a starter pipeline that validates at once, and never overwrites a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import exitcodes
from runner.cli import main
from runner.config import load_pipeline
from runner.config.schema import render_schema_text
from runner.scaffold import SCHEMA_FILE, init


def test_init_writes_a_pipeline_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "new" / "pipelines"
    written = init(target)
    names = sorted(str(p.relative_to(target)) for p in written)
    assert [
        ".gitignore",
        "00-settings.yaml",
        "10-example.yaml",
        "data/items.txt",
        SCHEMA_FILE,
    ] == names
    pipeline = load_pipeline(target)
    assert ["example"] == list(pipeline.tasks)
    task = pipeline.tasks["example"]
    assert task.schedule == "nightly" and task.before and task.after
    assert pipeline.definitions[task.definition].outcomes
    assert 3 == len((target / "data" / "items.txt").read_text().split("\n")[1:-1])


def test_the_modeline_names_the_schema_written_beside_it(tmp_path: Path) -> None:
    init(tmp_path)
    assert render_schema_text() == (tmp_path / SCHEMA_FILE).read_text()
    for name in ("00-settings.yaml", "10-example.yaml"):
        first = (tmp_path / name).read_text().splitlines()[0]
        assert f"# yaml-language-server: $schema={SCHEMA_FILE}" == first


def test_the_gitignore_covers_state_and_logs(tmp_path: Path) -> None:
    init(tmp_path)
    settings = load_pipeline(tmp_path).settings
    ignored = [
        line for line in (tmp_path / ".gitignore").read_text().splitlines() if line[:1] not in "#"
    ]
    for path in (settings.state, settings.logs):
        assert any(path.startswith(entry) for entry in ignored), path


def test_init_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "10-example.yaml").write_text("mine\n")
    assert exitcodes.BAD_CONFIG == main(["init", str(tmp_path)])
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "10-example.yaml" in err
    assert ["10-example.yaml"] == [p.name for p in tmp_path.iterdir()]
    assert "mine\n" == (tmp_path / "10-example.yaml").read_text()


def test_init_verb_prints_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert exitcodes.OK == main(["init", str(tmp_path / "p")])
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'p' / '00-settings.yaml'}" in out
    assert exitcodes.OK == main(["validate", str(tmp_path / "p")])
