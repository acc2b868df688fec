"""Curated mutations of the store, engine, process and CLI code, each with the tests that must catch it.

The bugs a mutation tool cannot make (SQL text, a kill layer, an import) are listed here by
hand: each is a file, an exact text that must occur once in it, its replacement, and the
tests expected to fail with it. For each one the script checks the tests pass on the clean
tree, applies the replacement, runs the tests, restores the file and reports `killed` (a
test failed) or `SURVIVED`. Not part of the normal test run; see docs/mutation-testing.md.

    .venv/bin/python tools/curated_mutations.py            # every mutation
    .venv/bin/python tools/curated_mutations.py --list     # names only
    .venv/bin/python tools/curated_mutations.py NAME ...   # some of them

Exit status: 0 when every mutation was killed, 1 when one survived, 2 when one could not be
applied (its text is gone: the code moved, so the entry must follow it) or its tests fail
on the clean tree.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


STORE_TESTS = (
    "tests/unit/test_store_rules.py",
    "tests/unit/test_operations.py",
    "tests/unit/test_scheduler.py",
    "tests/torture/test_concurrency.py::TestStoreMachine",
)
"""The fast tests that exercise the store's rules: the store-level rule tests first."""

MUTATIONS = (
    Mutation(
        "dispatch: rescheduled ranked before run-now",
        "runner/state/sqlite/items.py",
        "for rank, queue in enumerate(q.DISPATCH_ORDER):",
        "for rank, queue in enumerate(sorted(q.DISPATCH_ORDER, key=lambda n: n != q.RESCHEDULED)):",
        STORE_TESTS,
    ),
    Mutation(
        "run opening: a recurring run keeps the retry counters",
        "runner/state/sqlite/runs.py",
        '"UPDATE items SET retries_used = 0, retry_at = NULL WHERE task = ? AND queue = ?",',
        '"UPDATE items SET retry_at = retry_at WHERE task = ? AND queue = ?",',
        STORE_TESTS,
    ),
    Mutation(
        "attempt finishing: a move made while running keeps the retry count",
        "runner/domain/policy.py",
        "        return Standing(pending_queue, 0, None)",
        "        return Standing(pending_queue, decided.retries_used, None)",
        STORE_TESTS,
    ),
    Mutation(
        "move: --by not masked",
        "runner/operations/_move.py",
        "who = masker.mask_text(by if by else os_user())",
        "who = by if by else os_user()",
        (
            "tests/unit/test_operations.py::TestMove::test_a_secret_in_by_is_masked",
            "tests/integration/test_operator_cli.py::TestMove::test_secret_in_by_is_masked",
        ),
    ),
    Mutation(
        "process: no descendant collection",
        "runner/process/kill.py",
        "for child in psutil.Process(pid).children(recursive=True):",
        "for child in psutil.Process(pid).children(recursive=True)[:0]:",
        ("tests/integration/test_process.py::TestEachKillLayer",),
    ),
    Mutation(
        "process: no final group SIGKILL (the one kill sequence: timeouts and kill_tree)",
        "runner/process/kill.py",
        "        signal_group(self._pgid, signal.SIGKILL)\n",
        "",
        ("tests/integration/test_process.py::TestEachKillLayer",),
    ),
    Mutation(
        "process: the marker finds nobody",
        "runner/process/kill.py",
        "if proc.pid != me and environ and environ.get(MARKER_ENV) == marker:",
        "if False:",
        ("tests/integration/test_process.py::TestEachKillLayer",),
    ),
    Mutation(
        "scheduler: a fire at its window's end still starts",
        "runner/schedule/due.py",
        "return self.window_end is None or now < self.window_end",
        "return self.window_end is None or now <= self.window_end",
        ("tests/unit/test_scheduler.py::TestRequests::test_the_window_closes_at_its_end",),
    ),
    Mutation(
        "checkpoints: crash recovery re-reads the last persisted line",
        "runner/launch/merge.py",
        "if seen > skip_lines:",
        "if seen >= skip_lines:",
        ("tests/unit/test_checkpoints.py",),
    ),
    Mutation(
        "checkpoints: crash recovery loses the first unpersisted line",
        "runner/launch/merge.py",
        "if seen > skip_lines:",
        "if seen > skip_lines + 1:",
        ("tests/unit/test_checkpoints.py",),
    ),
    Mutation(
        "cli: a broken import",
        "runner/cli/__init__.py",
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nimport runner.no_such_module  # noqa: F401\n",
        ("tests/unit/test_entry_point.py", "tests/unit/test_invalid_corpus.py"),
    ),
)


def run_tests(tests: tuple[str, ...]) -> tuple[int, float]:
    """Run pytest on `tests`, stopping at the first failure: its exit status and duration."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=TEST_TIMEOUT_S,
        check=False,
    )
    return done.returncode, time.monotonic() - started


def check(mutation: Mutation) -> str:
    """Apply one mutation, run its tests, restore the file; `killed`, `SURVIVED` or an error."""
    path = ROOT / mutation.path
    if not path.is_file():
        return f"ERROR: {mutation.path} does not exist"
    original = path.read_text(encoding="utf-8")
    if original.count(mutation.old) != 1:
        return f"ERROR: the text occurs {original.count(mutation.old)} times in {mutation.path}"
    clean, _ = run_tests(mutation.tests)
    if clean != 0:
        return f"ERROR: the tests fail on the clean tree (pytest exit {clean})"
    try:
        path.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
        status, seconds = run_tests(mutation.tests)
    finally:
        path.write_text(original, encoding="utf-8")
    if status == 1:
        return f"killed ({seconds:.0f} s)"
    if status == 0:
        return f"SURVIVED ({seconds:.0f} s)"
    return f"killed: pytest exit {status}, collection or usage ({seconds:.0f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these mutations (by name)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args(argv)
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name}\t{mutation.path}\t{' '.join(mutation.tests)}")
        return 0
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutations: {sorted(unknown)}")
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    worst = 0
    for mutation in chosen:
        verdict = check(mutation)
        print(f"{verdict:<40} {mutation.name}", flush=True)
        if verdict.startswith("SURVIVED"):
            worst = max(worst, 1)
        elif verdict.startswith("ERROR"):
            worst = 2
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
