"""Build step: put the checked-in JSON Schema and example pipelines into the built package.

schemas/pipeline.schema.json and pipelines/ stay at the top of the repository, where editors
(the examples' modeline) and the tutorial use them; the wheel gets a copy of each made at build
time, as runner/schemas/ and runner/examples/, so an installed runner has them (importlib.resources)
while the repository keeps one copy. Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {"schemas": ROOT / "schemas", "examples": ROOT / "pipelines"}
"""Directory in the built `runner` package -> the repository directory it copies."""

SKIPPED = shutil.ignore_patterns(".runner", "__pycache__", "*.pyc")


class BuildWithData(build_py):
    """build_py, then copy SHIPPED into the build tree (not for editable installs: they read
    the repository itself)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name, source in SHIPPED.items():
            target = Path(self.build_lib) / "runner" / name
            shutil.copytree(source, target, ignore=SKIPPED, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithData})
