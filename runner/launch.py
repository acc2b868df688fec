"""Turning a definition or a step plus an item into a concrete launch.

Renders the argv templates, builds the child's environment (the runner's,
the definition's `env`, and the RUNNER_* protocol variables), and chooses
where the attempt's files live. Item ids never become paths: they are encoded
by `fsutil.safe_name`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.config.definitions import Definition
from runner.config.pipeline import Pipeline
from runner.config.tasks import Step
from runner.process import LaunchSpec
from runner.system.fs import ensure_private_dir, open_private_file, safe_name
from runner.templating import ItemView, render_argv


@dataclass(frozen=True, slots=True)
class AttemptFiles:
    """Where one attempt's output, events and processed list are written.

    `prefix` is the item's path stem (recorded in the state); files are `<prefix>.<n>.<kind>`.
    `path(kind)` gives a plain string for the per-item hot path, where pathlib would cost more
    than everything else; the properties give `Path`s for readers.
    """

    prefix: str | Path
    number: int

    def path(self, kind: str) -> str:
        """`<prefix>.<n>.<kind>` as a string (kind: stdout, stderr, events.jsonl, processed)."""
        return f"{self.prefix}.{self.number}.{kind}"

    @property
    def directory(self) -> str:
        return os.path.dirname(self.prefix)

    @property
    def stdout(self) -> Path:
        return Path(self.path("stdout"))

    @property
    def stderr(self) -> Path:
        return Path(self.path("stderr"))

    @property
    def events(self) -> Path:
        return Path(self.path("events.jsonl"))

    @property
    def processed(self) -> Path:
        return Path(self.path("processed"))

    def discard_protocol_files(self) -> None:
        """Remove the events and processed files once the outcome (and their content) is recorded.

        The child writes its events file itself, so it may hold secret values; the state keeps
        a masked copy of every event.
        """
        for kind in ("events.jsonl", "processed"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(kind))


@functools.lru_cache(maxsize=64)
def _task_attempts_dir(logs_dir: Path, task: str) -> str:
    return str(logs_dir / "attempts" / safe_name(task))


def item_prefix(logs_dir: Path, task: str, item_id: str) -> str:
    """The path stem of every attempt file of one item (its id encoded, never trusted).

    Items are spread over 256 shard directories per task so that no directory grows huge
    and no directory is created per item.
    """
    name = safe_name(item_id)
    return f"{_task_attempts_dir(logs_dir, task)}/{name[-2:]}/{name}"


def step_files(logs_dir: Path, task: str, run_id: str, phase: str, index: int) -> tuple[Path, Path]:
    """Output files (stdout, stderr) of one start or finish step of a run."""
    directory = ensure_private_dir(logs_dir / "steps" / safe_name(task) / safe_name(run_id))
    return directory / f"{phase}-{index}.stdout", directory / f"{phase}-{index}.stderr"


def run_context(run_id: str, task: str, trigger: str, fire_time_iso: str) -> dict[str, object]:
    """The `run` name available to templates."""
    return {"id": run_id, "task": task, "trigger": trigger, "fire_time": fire_time_iso}


def task_context(name: str, site: str, mode: str) -> dict[str, object]:
    """The `task` name available to templates."""
    return {"name": name, "site": site, "mode": mode}


def display_command(argv: Sequence[str]) -> str:
    """A copy-pasteable one-line rendering of an argv list."""
    return shlex.join(argv)


class LaunchBuilder:
    """Builds LaunchSpecs for one pipeline: shared environment, secrets and limits."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        base_env: Mapping[str, str],
        secrets: Sequence[str],
        logs_dir: Path,
    ) -> None:
        self.pipeline = pipeline
        self.base_env = dict(base_env)
        self.secrets = tuple(secrets)
        self.logs_dir = logs_dir
        settings = pipeline.settings
        self.output_limit = settings.output_limit
        self.grace = settings.grace
        self._cwds: dict[str, Path] = {}

    def _cwd(self, relative: str) -> Path:
        cwd = self._cwds.get(relative)
        if cwd is None:
            cwd = self._cwds[relative] = self.pipeline.resolve_path(relative)
        return cwd

    def render_item_argv(
        self,
        definition: Definition,
        *,
        item_id: str,
        attributes: Mapping[str, str],
        task: Mapping[str, object],
        run: Mapping[str, object],
        attempt: int,
    ) -> tuple[list[str], dict[str, str]]:
        """Render a definition's command and env for one item (TemplateRenderError on failure)."""
        context = {
            "item": ItemView(item_id, attributes),
            "task": task,
            "run": run,
            "attempt": attempt,
            "env": self.base_env,
        }
        argv = render_argv(definition.command, context)
        names = list(definition.env)
        values = render_argv([definition.env[n] for n in names], context) if names else []
        return argv, dict(zip(names, values, strict=True))

    def item_launch(
        self,
        definition: Definition,
        *,
        argv: Sequence[str],
        extra_env: Mapping[str, str],
        files: AttemptFiles,
        processed: Path | str,
        protocol: Mapping[str, str],
        marker: str,
        on_events: Callable[[list[bytes]], None] | None = None,
    ) -> LaunchSpec:
        """The launch of one attempt of an item; `on_events` gets the lines of its events file."""
        env = dict(self.base_env)
        env.update(extra_env)
        env.update(protocol)
        events = files.path("events.jsonl")
        env["RUNNER_EVENTS"] = events
        env["RUNNER_PROCESSED"] = str(processed)
        return LaunchSpec(
            argv=list(argv),
            cwd=self._cwd(definition.cwd),
            env=env,
            shell=definition.shell,
            timeout=definition.timeout,
            idle_timeout=definition.idle_timeout,
            stdout_path=files.path("stdout"),
            stderr_path=files.path("stderr"),
            output_limit=self.output_limit,
            events_path=events,
            on_events=on_events,
            secrets=self.secrets,
            grace=self.grace,
            marker=marker,
        )

    def step_launch(
        self,
        step: Step,
        *,
        task: Mapping[str, object],
        run: Mapping[str, object],
        outputs: tuple[Path, Path],
        protocol: Mapping[str, str],
        marker: str,
    ) -> LaunchSpec:
        """The launch of one start or finish step (TemplateRenderError on a bad template)."""
        context = {"task": task, "run": run, "env": self.base_env}
        argv = render_argv(step.run, context)
        names = list(step.env)
        values = render_argv([step.env[n] for n in names], context) if names else []
        env = dict(self.base_env)
        env.update(zip(names, values, strict=True))
        env.update(protocol)
        return LaunchSpec(
            argv=argv,
            cwd=self.pipeline.resolve_path(step.cwd),
            env=env,
            shell=step.shell,
            timeout=step.timeout,
            stdout_path=outputs[0],
            stderr_path=outputs[1],
            output_limit=self.output_limit,
            secrets=self.secrets,
            wait_full_timeout=step.wait == "timeout",
            grace=self.grace,
            marker=marker,
        )


def write_processed(path: Path | str, sub_ids: Iterable[str]) -> None:
    """Write the RUNNER_PROCESSED file: every sub-id already processed, one a line (0600)."""
    fd = open_private_file(Path(path), os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        for sub_id in sub_ids:
            handle.write(f"{sub_id}\n")
