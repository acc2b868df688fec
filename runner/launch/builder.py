"""Turning a definition or a step plus an item into a concrete launch (a LaunchSpec).

Renders the argv templates, builds the child's environment (the runner's, the
definition's `env`, and the protocol variables of runner.launch.protocol), and
points the attempt at its files.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.config.definitions import Definition
from runner.config.outputrules import RULE_LINE_LIMIT
from runner.config.pipeline import Pipeline
from runner.config.tasks import Step
from runner.launch.outputevents import compile_rules, event_lines
from runner.launch.protocol import EVENTS_ENV, PROCESSED_ENV, AttemptFiles
from runner.process import LaunchSpec, LineRule, Match
from runner.templating import FixedView, ItemView, render_argv


def run_context(run_id: str, task: str, trigger: str, fire_time_iso: str) -> FixedView:
    """The `run` name available to templates (`{{ run }}` is its id)."""
    return FixedView(
        "run", {"id": run_id, "task": task, "trigger": trigger, "fire_time": fire_time_iso}
    )


def task_context(name: str, site: str, mode: str) -> FixedView:
    """The `task` name available to templates (`{{ task }}` is its name)."""
    return FixedView("task", {"name": name, "site": site, "mode": mode})


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
        self._rules: dict[int, tuple[Definition, tuple[LineRule, ...]]] = {}

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
        stop: threading.Event | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """Render a definition's command and env for one item (TemplateRenderError on failure;
        `stop` set interrupts rendering)."""
        context = {
            "item": ItemView(item_id, attributes),
            "task": task,
            "run": run,
            "attempt": attempt,
            "env": self.base_env,
        }
        argv = render_argv(definition.command, context, stop=stop)
        names = list(definition.env)
        values = (
            render_argv([definition.env[n] for n in names], context, stop=stop) if names else []
        )
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
        on_output_events: Callable[[list[bytes]], None] | None = None,
    ) -> LaunchSpec:
        """The launch of one attempt of an item; `on_events` gets the lines of its events file,
        `on_output_events` the events lines its output rules made of its output."""
        env = dict(self.base_env)
        env.update(extra_env)
        env.update(protocol)
        events = files.path("events.jsonl")
        env[EVENTS_ENV] = events
        env[PROCESSED_ENV] = str(processed)
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
            **self._output_rules(definition, on_output_events),
        )

    def _output_rules(
        self, definition: Definition, sink: Callable[[list[bytes]], None] | None
    ) -> dict[str, Any]:
        """The LaunchSpec fields that apply a definition's output rules (compiled once)."""
        rules = definition.output_events
        if not rules or sink is None:
            return {}
        compiled = self._rules.get(id(definition))
        if compiled is None or compiled[0] is not definition:
            compiled = self._rules[id(definition)] = (definition, compile_rules(rules))

        def on_line_matches(matches: list[Match]) -> None:
            sink(event_lines(rules, matches))

        return {
            "line_rules": compiled[1],
            "on_line_matches": on_line_matches,
            "line_limit": RULE_LINE_LIMIT,
        }

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
