"""What a new user installs works outside this checkout.

Builds the sdist and the wheel (offline: `python -m build --no-isolation` with the test extra's
build and setuptools), installs the wheel into a fresh virtual environment in a temporary
directory, and drives the installed `runner` there: init, validate, plan, run --now, and the
completion script of each shell. The fresh environment reaches the dependencies already
installed for this interpreter through a .pth line (nothing is downloaded) and `pip check`
confirms the wheel's requirements are met by them. The sdist must carry the tests, docs,
schema and examples, and its tests run from the unpacked sdist.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _require(module: str) -> None:
    """Fail without `module`: the test extra brings it, so its absence is breakage, not a skip."""
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed (pip install -e '.[test]')", pytrace=False)


def _run(argv: Sequence[str | Path], cwd: Path, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SOURCE_DATE_EPOCH"] = "1767225600"
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert 0 == result.returncode, f"{argv}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) built from this checkout; the wheel is built from the sdist."""
    _require("build")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO], cwd=out)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_the_wheel_carries_license_schema_examples_starter_and_console(
    dists: tuple[Path, Path],
) -> None:
    names = zipfile.ZipFile(dists[0]).namelist()
    for expected in (
        "runner/schemas/pipeline.schema.json",
        "runner/examples/00-settings.yaml",
        "runner/examples/scripts/echo-item",
        "runner/starter/10-example.yaml",
        "runner/starter/data/items.txt",
        "runner/web/templates/items.html",
        "runner/web/static/console.js",
        "runner/web/static/console.css",
    ):
        assert expected in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if "/.runner/" in n or n.startswith("tests/")]


def test_the_installed_runner_works_outside_the_checkout(
    dists: tuple[Path, Path], tmp_path: Path
) -> None:
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(home)
    bin_dir = home / "bin"
    python = bin_dir / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
        ).strip()
    )
    # the dependencies this interpreter already has (a path line: no .pth of theirs is run,
    # so the editable install of the checkout stays invisible)
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python]
    _run([*pip, "install", "--quiet", "--no-deps", "--no-index", dists[0]], tmp_path)
    _run([*pip, "check"], tmp_path)

    where = _run([python, "-c", "import runner; print(runner.__file__)"], tmp_path)
    assert where.startswith(str(home)), where

    runner = bin_dir / "runner"
    work = tmp_path / "ops"
    work.mkdir()
    _run([runner, "init"], work)
    assert "valid (2 files, 1 tasks" in _run([runner, "validate"], work)
    assert "task example" in _run([runner, "plan"], work)
    _run([runner, "run", "--now", "--log-format", "json"], work)
    assert "successful 3" in " ".join(_run([runner, "status"], work).split())
    for shell in ("bash", "zsh", "fish"):
        assert "runner" in _run([runner, "completion", shell], work)

    shipped = site / "runner"
    assert _run([runner, "schema"], work) == (shipped / "schemas/pipeline.schema.json").read_text()
    assert "valid (4 files" in _run([runner, "validate", shipped / "examples"], work)


def test_the_sdist_carries_tests_docs_schema_examples(dists: tuple[Path, Path]) -> None:
    with tarfile.open(dists[1]) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for expected in (
        "LICENSE",
        "setup.py",
        "MANIFEST.in",
        "docs/reference.md",
        "schemas/pipeline.schema.json",
        "pipelines/00-settings.yaml",
        "pipelines/scripts/echo-item",
        "tests/unit/test_schema.py",
        "tests/integration/test_packaging.py",
        "runner/starter/10-example.yaml",
        "contrib/systemd/runner-serve.service",
        ".pre-commit-hooks.yaml",
    ):
        assert expected in names


def test_tests_run_from_the_unpacked_sdist(dists: tuple[Path, Path], tmp_path: Path) -> None:
    with tarfile.open(dists[1]) as archive:
        archive.extractall(tmp_path, filter="data")
    (root,) = tmp_path.iterdir()
    out = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/test_schema.py",
            "tests/unit/test_scaffold.py",
            "tests/unit/test_example_scripts.py",
        ],
        root,
        timeout=300,
    )
    assert " passed" in out and "failed" not in out
