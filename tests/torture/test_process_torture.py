"""Process torture through the real runner: killed trees, many short items, floods of output.

- timeouts of trees whose grandchildren ignore SIGTERM or escape with `setsid` (CI: 20,
  full: 100): no process of theirs is left;
- one-line items by the thousand (CI: 2,000, full: 10,000), each exiting with a code chosen
  by its id and leaving an orphan behind: every exit status recorded right, no zombie of the
  runner outlives its reaping;
- a child writing hundreds of megabytes interleaved on both streams (CI: 300 MB, full:
  10 GB) and a 50 MB line without a newline: no deadlock, output files capped, the runner's
  memory bounded (its peak RSS is sampled and reported).
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.statuses import FAILED, OK, TIMEOUT
from tests.support.programs import PROGRAMS
from tests.support.sampling import Sampler
from tests.support.sizes import record_figures, size
from tests.support.spawning import reaped, spawn_runner, traceback_free
from tests.support.tagging import runner_env, tagged
from tests.support.workspace import Workspace, settings

MiB = 1024 * 1024

TREES = size(20, 100)
SHORT_ITEMS = size(2000, 10_000)
FLOOD_BYTES = size(300 * MiB, 10 * 1024 * MiB)
LONG_LINE = 50 * MiB
OUTPUT_LIMIT = MiB
RSS_BOUND = 200 * MiB
EXIT_CODES = (0, 1, 2, 3, 7, 42, 255)


def expected_code(n: int) -> int:
    return EXIT_CODES[n % len(EXIT_CODES)]


def run_sampled(ws: Workspace, tag: str) -> tuple[int, str, Sampler]:
    """Run `runner run --now` while sampling its RSS and zombie children."""
    runner = spawn_runner(
        ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
    )
    sampler = Sampler(runner.pid)
    with reaped(runner):
        sampler.follow(runner.proc)
        code, err = runner.finish(timeout=1800)
    return code, err, sampler


def attempt_files(ws: Workspace) -> list[Path]:
    return sorted(p for p in (ws.root / ".runner" / "logs" / "attempts").rglob("*.std*"))


class TestTreeTimeouts:
    def test_timed_out_trees_leave_no_process(self, ws: Workspace, tag: str) -> None:
        """Every tree (TERM-ignoring child, setsid grandchild) is gone once its attempt timed out."""
        ws.write(
            "pipeline.yaml",
            settings(10, "  grace: 1s\n")
            + textwrap.dedent(
                f"""
                groups:
                  g: {{members: [{", ".join(f"tree-{n:03d}" for n in range(TREES))}]}}
                definitions:
                  d:
                    command: ["{sys.executable}", "{PROGRAMS / "tree.py"}", "top"]
                    timeout: 3s
                policies:
                  p: {{max_retries: 0}}
                tasks:
                  t: {{definition: d, group: g, policy: p}}
                """
            ),
        )
        started = time.monotonic()
        code, err, sampler = run_sampled(ws, tag)
        duration = time.monotonic() - started
        assert exitcodes.ITEMS_IN_ERROR == code, err[-3000:]
        assert traceback_free(err)
        left = tagged(tag)
        assert [] == [(p.pid, p.info.get("status")) for p in left]
        with ws.store() as store:
            statuses = {
                a.status for n in range(TREES) for a in store.attempts_of("t", f"tree-{n:03d}")
            }
            assert {TIMEOUT} == statuses
            assert {q.AWAITING_INTERVENTION: TREES} == store.queue_counts("t")
        outputs = b"".join(p.read_bytes() for p in attempt_files(ws) if p.suffix == ".stdout")
        complete_trees = outputs.count(b"escapee ")
        assert set() == sampler.stale_zombies
        record_figures(
            "process-trees",
            {
                "timeouts": TREES,
                "trees_with_escapee_started": complete_trees,
                "stubborn_started": outputs.count(b"stubborn "),
                "processes_left": len(left),
                "max_zombies_seen": sampler.max_zombies,
                "duration_s": round(duration, 1),
            },
        )


class TestManyShortItems:
    def test_every_exit_status_is_recorded_and_no_zombie_stays(
        self, ws: Workspace, tag: str
    ) -> None:
        """Thousands of one-line items: each exit code lands on its attempt; orphans are reaped."""
        ws.write(
            "items.csv",
            "id,code\n" + "".join(f"i{n:05d},{expected_code(n)}\n" for n in range(SHORT_ITEMS)),
        )
        ws.write(
            "pipeline.yaml",
            settings(8)
            + textwrap.dedent(
                """
                groups:
                  g: {file: items.csv}
                definitions:
                  d:
                    command: ["/bin/sh", "-c", 'echo "$0"; (true &); exit "$1"', "{{ item.id }}", "{{ item.code }}"]
                policies:
                  p: {max_retries: 0}
                tasks:
                  t: {definition: d, group: g, policy: p}
                """
            ),
        )
        started = time.monotonic()
        code, err, sampler = run_sampled(ws, tag)
        duration = time.monotonic() - started
        assert exitcodes.ITEMS_IN_ERROR == code, err[-3000:]
        assert traceback_free(err)
        wrong: list[tuple[str, object, object]] = []
        with ws.store() as store:
            rows = store.connection.execute(
                "SELECT item_id, number, status, exit_code FROM attempts ORDER BY item_id"
            ).fetchall()
        assert SHORT_ITEMS == len(rows)
        for item, number, status, exit_code in rows:
            want = expected_code(int(item[1:]))
            if (1, want, OK if want == 0 else FAILED) != (number, exit_code, status):
                wrong.append((item, (number, exit_code, status), want))
        assert [] == wrong[:10]
        assert set() == sampler.stale_zombies
        assert [] == tagged(tag)
        record_figures(
            "process-short-items",
            {
                "items": SHORT_ITEMS,
                "wrong_exit_status": len(wrong),
                "max_zombies_seen": sampler.max_zombies,
                "stale_zombies": len(sampler.stale_zombies),
                "max_rss_mib": round(sampler.max_rss / MiB, 1),
                "items_per_s": round(SHORT_ITEMS / duration, 1),
                "duration_s": round(duration, 1),
            },
        )


class TestOutputFloods:
    def test_floods_and_a_long_line_keep_memory_and_files_bounded(
        self, ws: Workspace, tag: str
    ) -> None:
        """Hundreds of MB on both streams and a 50 MB line: no deadlock, capped files, bounded RSS."""
        half = FLOOD_BYTES // 2
        spew = PROGRAMS / "spew.py"
        members = [
            {"id": "flood", "out": str(half), "err": str(half), "flag": "--lines"},
            {"id": "line", "out": str(LONG_LINE), "err": "0", "flag": "--no-newline"},
        ]
        argv = [sys.executable, str(spew)] + [f"{{{{ item.{k} }}}}" for k in ("out", "err", "flag")]
        ws.write(
            "pipeline.yaml",
            settings(2, f"  output_limit: {OUTPUT_LIMIT}\n")
            + "groups:\n"
            + f"  g: {{members: {json.dumps(members)}}}\n"
            + "definitions:\n"
            + f"  d: {{command: {json.dumps(argv)}}}\n"
            + "tasks:\n"
            + "  t: {definition: d, group: g}\n",
        )
        started = time.monotonic()
        code, err, sampler = run_sampled(ws, tag)
        duration = time.monotonic() - started
        assert exitcodes.OK == code, err[-3000:]
        assert traceback_free(err)
        files = attempt_files(ws)
        sizes = {p.name.split("-")[0] + p.suffix: p.stat().st_size for p in files}
        marker_room = 64
        big = {k: v for k, v in sizes.items() if k != "line.stderr"}
        assert 13 == sizes["line.stderr"]  # only its END-OF-STDERR
        assert all(OUTPUT_LIMIT < s <= OUTPUT_LIMIT + marker_room for s in big.values()), sizes
        tails = {p.name.split("-")[0] + p.suffix: p.read_bytes()[-13:] for p in files}
        assert {
            "flood.stdout": b"END-OF-STDOUT",
            "flood.stderr": b"END-OF-STDERR",
            "line.stdout": b"END-OF-STDOUT",
            "line.stderr": b"END-OF-STDERR",
        } == tails
        assert sampler.max_rss < RSS_BOUND, sampler.max_rss
        record_figures(
            "process-floods",
            {
                "flood_bytes": FLOOD_BYTES,
                "long_line_bytes": LONG_LINE,
                "max_rss_mib": round(sampler.max_rss / MiB, 1),
                "file_sizes": sizes,
                "duration_s": round(duration, 1),
            },
        )
