"""The invalid-config corpus: every bad pipeline in tests/fixtures/invalid gives its messages.

Each `NN-name.yaml` (or directory `NN-name/`) is paired with `NN-name.expected`: lines that must
appear in the output of `runner validate NN-name.yaml` run from that directory, one per line,
`file:line:column` included. In an expected line, `...` stands for any text (used where the
list of keys allowed comes from the models and may grow).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.config.loader import load_pipeline
from runner.errors import ConfigError

INVALID = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"
REPO = Path(__file__).resolve().parents[2]


def corpus() -> list[str]:
    """The names of the corpus cases (each has an .expected file)."""
    return sorted(path.stem for path in INVALID.glob("*.expected"))


def target(name: str) -> str:
    """What to load for a case: its directory, else its YAML file (relative to INVALID)."""
    return name if (INVALID / name).is_dir() else f"{name}.yaml"


def expected_lines(name: str) -> list[str]:
    """The non-empty lines of a case's .expected file."""
    text = (INVALID / f"{name}.expected").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def line_matches(expected: str, line: str) -> bool:
    """Whether ``line`` holds ``expected``, where `...` in ``expected`` matches any text."""
    position = 0
    for part in expected.split("..."):
        found = line.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The expected lines that no line of ``output`` holds."""
    lines = output.splitlines()
    return [want for want in expected if not any(line_matches(want, line) for line in lines)]


class TestCorpusShape:
    """The corpus is complete and consistent."""

    def test_at_least_35_cases(self) -> None:
        """The corpus holds at least 35 bad pipelines."""
        assert 35 <= len(corpus())

    def test_every_case_has_its_pipeline(self) -> None:
        """Each .expected file has its .yaml file or directory."""
        assert [] == [name for name in corpus() if not (INVALID / target(name)).exists()]

    def test_every_pipeline_has_expected_lines(self) -> None:
        """Each bad pipeline has an .expected file with at least one line."""
        stems = {path.stem for path in INVALID.glob("*.yaml")}
        stems |= {path.name for path in INVALID.iterdir() if path.is_dir()}
        assert [] == sorted(stems - set(corpus()))
        assert [] == [name for name in corpus() if not expected_lines(name)]

    def test_expected_lines_name_their_place(self) -> None:
        """Every expected line starts with the file and a line and column."""
        unplaced = [
            line
            for name in corpus()
            for line in expected_lines(name)
            if not line.startswith(name) or ":" not in line.split(": ", 1)[0]
        ]
        assert [] == unplaced

    def test_matcher_wildcard(self) -> None:
        """`...` in an expected line matches any text, in order."""
        assert line_matches("a: one of: ...; did you", "a: one of: b, c; did you")
        assert not line_matches("did you ... a", "a did you")


class TestLoader:
    """load_pipeline raises a ConfigError with exactly the expected issues."""

    @pytest.mark.parametrize("name", corpus())
    def test_case(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """The case's expected lines are in the error text, one issue each."""
        monkeypatch.chdir(INVALID)
        with pytest.raises(ConfigError) as caught:
            load_pipeline(target(name))
        expected = expected_lines(name)
        assert [] == missing_lines(expected, str(caught.value))
        assert len(expected) == len(caught.value.issues)


@pytest.mark.slow
class TestCli:
    """`runner validate` prints the expected lines, exits 2, and never shows a traceback."""

    @pytest.mark.parametrize("name", corpus())
    def test_case(self, name: str) -> None:
        """The command exits 2 with every expected line on stderr."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        result = subprocess.run(
            [sys.executable, "-m", "runner", "validate", target(name)],
            cwd=INVALID,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr
        assert [] == missing_lines(expected_lines(name), result.stderr)
        assert 2 == result.returncode
