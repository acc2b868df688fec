"""Creating the files and directories of attempts and steps (layout: runner.launch.protocol)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from runner.launch.protocol import processed_lines, step_outputs
from runner.system.fs import ensure_runner_dir, open_runner_file


def step_files(logs_dir: Path, task: str, run_id: str, phase: str, index: int) -> tuple[Path, Path]:
    """Output files (stdout, stderr) of one start or finish step of a run; creates their directory."""
    outputs = step_outputs(logs_dir, task, run_id, phase, index)
    ensure_runner_dir(outputs[0].parent)
    return outputs


def write_processed(path: Path | str, sub_ids: Iterable[str]) -> None:
    """Write a RUNNER_PROCESSED file (with the file mode): every sub-id already processed."""
    fd = open_runner_file(Path(path), os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(processed_lines(sub_ids))
