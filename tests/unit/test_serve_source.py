"""The serve run source reports a reloaded configuration instead of applying it."""

from __future__ import annotations

from pathlib import Path

from runner.config import load_pipeline
from runner.serve import ConfigWatcher, ScheduleSource, ServeControl
from runner.state import open_store
from runner.testing import LogCapture

PIPELINE = """\
version: 1
settings: {{state: state.db, logs: logs}}
groups: {{g: {{members: "a"}}}}
definitions: {{d: {{command: ["{command}"]}}}}
tasks: {{t: {{definition: d, group: g}}}}
"""


def test_a_reload_is_reported_once_and_not_applied_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(command="old"))
    pipeline = load_pipeline(path)
    control = ServeControl()
    log = LogCapture()
    with open_store(tmp_path / "state.db") as store:
        source = ScheduleSource(
            path=path,
            pipeline=pipeline,
            store=store,
            site="default",
            site_fixed=False,
            log=log,
            control=control,
            watcher=ConfigWatcher(path),
        )
        source.poll(0.0, frozenset())
        assert source.take_reloaded() is None
        path.write_text(PIPELINE.format(command="new"))
        control.reload()
        source.poll(1.0, frozenset())
        reloaded = source.take_reloaded()
        assert reloaded is not None
        assert reloaded.definitions["d"].command == ["new"]
        assert source.take_reloaded() is None
    assert [e["reason"] for e in log.named("config.reloaded")] == ["signal"]


def test_an_invalid_configuration_is_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(command="old"))
    control = ServeControl()
    log = LogCapture()
    with open_store(tmp_path / "state.db") as store:
        source = ScheduleSource(
            path=path,
            pipeline=load_pipeline(path),
            store=store,
            site="default",
            site_fixed=False,
            log=log,
            control=control,
            watcher=ConfigWatcher(path),
        )
        path.write_text("version: 1\nnonsense: [\n")
        control.reload()
        source.poll(1.0, frozenset())
        assert source.take_reloaded() is None
    assert len(log.named("config.invalid")) == 1
