"""The hooks of .pre-commit-hooks.yaml, run as pre-commit runs them: the entry split into words,
then the hook's args, then (with pass_filenames) the matching files; exit 0 passes the commit.

`pre-commit try-repo` itself would build a fresh environment from PyPI for the `python`
language, so this runs the declared entry with the installed `runner` on PATH instead.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import exitcodes
from runner.scaffold import init

REPO = Path(__file__).resolve().parents[2]


def _hook(hook_id: str) -> dict[str, Any]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == hook_id]
    assert "python" == hook["language"]
    return dict(hook)


def _run_hook(
    hook: dict[str, Any], repo: Path, changed: list[str]
) -> subprocess.CompletedProcess[str]:
    matching = [f for f in changed if re.search(hook.get("files", ""), f)]
    assert matching, "pre-commit would not run the hook for these files"
    argv = [*shlex.split(hook["entry"]), *hook.get("args", [])]
    if hook.get("pass_filenames", True):
        argv += matching
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "runner").exists():
        pytest.fail(f"no runner console script in {bin_dir}: pip install -e '.[test]'")
    env = dict(os.environ, PATH=os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]))
    return subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def test_validate_passes_a_good_pipeline_and_stops_a_bad_one(tmp_path: Path) -> None:
    hook = _hook("runner-validate")
    assert hook["pass_filenames"] is False
    init(tmp_path / "pipelines")
    good = _run_hook(hook, tmp_path, ["pipelines/10-example.yaml"])
    assert exitcodes.OK == good.returncode, good.stderr

    example = tmp_path / "pipelines" / "10-example.yaml"
    example.write_text(example.read_text().replace("definition: greet", "definition: gret"))
    bad = _run_hook(hook, tmp_path, ["pipelines/10-example.yaml"])
    assert exitcodes.BAD_CONFIG == bad.returncode
    assert "10-example.yaml" in bad.stderr and "gret" in bad.stderr


def test_schema_check_passes_the_current_schema_and_stops_a_stale_one(tmp_path: Path) -> None:
    hook = _hook("runner-schema-current")
    init(tmp_path / "pipelines")
    changed = ["pipelines/pipeline.schema.json"]
    current = _run_hook(hook, tmp_path, changed)
    assert (exitcodes.OK, "") == (current.returncode, current.stderr)

    schema = tmp_path / "pipelines" / "pipeline.schema.json"
    schema.write_text(schema.read_text().replace('"title"', '"old_title"', 1))
    stale = _run_hook(hook, tmp_path, changed)
    assert exitcodes.BAD_CONFIG == stale.returncode
    assert "pipelines/pipeline.schema.json is not the schema of runner" in stale.stderr
