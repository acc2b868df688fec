"""Shared helpers of the benchmark scripts: run a command, report wall time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_WRAPPER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "wb") as err:
    code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=err).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "rss_kb": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime, "code": code}))
"""


Row = tuple[str, str, str]
"""(measure, value, target) — one line of the benchmark table."""


@dataclass(frozen=True)
class Measurement:
    """Wall time (s), peak RSS (MiB) of the command's process tree, its exit code, and the CPU
    time (user + system, s) of the tree's processes that were waited for."""

    wall: float
    rss_mib: float
    code: int
    cpu_s: float = 0.0


def bench_env() -> dict[str, str]:
    """This environment without PYTHONDONTWRITEBYTECODE: the runner's modules load from their
    cached bytecode, as an installed package's do (compiling them on every start costs a few
    tenths of a second that no operator pays)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(
    argv: Sequence[str], *, cwd: Path, stderr_to: Path, env: Mapping[str, str] | None = None
) -> Measurement:
    """Run `argv` in a fresh wrapper process so that peak RSS covers only this command
    (`env` default: bench_env())."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(stderr_to), *argv],
        cwd=cwd,
        env=dict(env) if env is not None else bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    return Measurement(
        wall=data["wall"], rss_mib=data["rss_kb"] / 1024, code=data["code"], cpu_s=data["cpu"]
    )


def runner_argv(*args: str) -> list[str]:
    """The runner CLI as this interpreter runs it."""
    return [sys.executable, "-m", "runner", *args]


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_progress(part: list[Row]) -> None:
    """Show a benchmark's rows on stderr as they come (its table is printed at the end)."""
    for row in part:
        print(" | ".join(row), file=sys.stderr, flush=True)
