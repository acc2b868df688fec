"""`runner completion SHELL`: scripts generated from the parser; task names from the pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner import exitcodes
from runner.cli import build_parser, main
from runner.completion import SHELLS, script
from runner.scaffold import init
from tests.support.system import require_system

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shell", SHELLS)
def test_every_verb_is_in_every_script(shell: str) -> None:
    text = script(build_parser(), shell)
    for verb in ("validate", "plan", "run", "items", "move", "init", "completion"):
        assert verb in text
    assert "runner completion --tasks" in text
    assert "awaiting-intervention" in text


def test_completion_without_a_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert exitcodes.BAD_CONFIG == main(["completion"])
    assert "bash,zsh,fish" in capsys.readouterr().err


def test_tasks_lists_the_pipeline_task_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(tmp_path)
    assert exitcodes.OK == main(["completion", "--tasks", str(tmp_path)])
    assert "example\n" == capsys.readouterr().out


def _bash_complete(cwd: Path, words: list[str]) -> list[str]:
    """COMPREPLY of the generated bash script for the command line `words` (last word partial)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    program = (
        "source <(runner completion bash)\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_shtab_runner\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        ["bash", "-c", program], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert 0 == result.returncode, result.stderr
    return result.stdout.split()


def test_bash_completes_verbs_queues_and_task_names(tmp_path: Path) -> None:
    """bash, given the script, completes verbs, task names read from the pipeline and queues."""
    if shutil.which("bash") is None:
        require_system("bash", "the completion test runs the script in bash")
    # The console script is part of the project's install: its absence is breakage.
    assert (Path(sys.executable).parent / "runner").exists()
    init(tmp_path / "pipelines")
    assert ["validate"] == _bash_complete(tmp_path, ["runner", "vali"])
    assert ["example"] == _bash_complete(tmp_path, ["runner", "items", "--task", ""])
    assert ["awaiting-intervention"] == _bash_complete(tmp_path, ["runner", "move", "--to", "aw"])
