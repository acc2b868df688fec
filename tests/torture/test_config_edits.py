"""Config edits across a crash: kill a run, reorder, add and remove items, change the command, resume.

The resumed run is keyed by item id: finished items stay finished whatever the order of
the group, removed items do not run, added items do, and each attempt records the
definition hash it ran, so the history shows which attempts ran the old command.
"""

from __future__ import annotations

import os
import signal
import textwrap

import pytest

from runner import exitcodes
from runner.config import load_pipeline
from runner.domain import queues as q
from runner.domain.statuses import INTERRUPTED, OK
from tests.support.sizes import record_figures, size
from tests.support.spawning import reaped, spawn_runner, traceback_free
from tests.support.tagging import runner_env, tagged
from tests.support.waiting import wait_until
from tests.support.workspace import Workspace, settings

ITEMS = size(40, 400)
DONE_BEFORE_KILL = size(8, 80)

WORK = """\
#!/bin/sh
# work.sh ITEM VERSION
echo "start $1 $2 $RUNNER_ATTEMPT" >> ledger.txt
sleep 0.15
echo "done $1 $2" >> ledger.txt
"""

PIPELINE = """
groups:
  g: {{file: items.txt}}
definitions:
  d: {{command: ["./work.sh", "{{{{ item.id }}}}", "{version}"]}}
policies:
  p: {{max_retries: 5, backoff: {{initial: 0s, factor: 1, max: 0s}}}}
tasks:
  t: {{definition: d, group: g, policy: p, mode: once}}
"""


def item_id(n: int) -> str:
    return f"item-{n:04d}"


def write_pipeline(ws: Workspace, version: str, items: list[str]) -> None:
    ws.write("items.txt", "".join(f"{i}\n" for i in items))
    ws.write("pipeline.yaml", settings(4) + PIPELINE.format(version=version))


def done_count(ws: Workspace) -> int:
    ledger = ws.root / "ledger.txt"
    if not ledger.exists():
        return 0
    return sum(1 for line in ledger.read_text().splitlines() if line.startswith("done "))


def ledger_starts(ws: Workspace) -> dict[str, list[tuple[str, int]]]:
    """Per item: (version, attempt) of every start the ledger saw."""
    starts: dict[str, list[tuple[str, int]]] = {}
    for line in (ws.root / "ledger.txt").read_text().splitlines():
        if line.startswith("start "):
            _, item, version, attempt = line.split()
            starts.setdefault(item, []).append((version, int(attempt)))
    return starts


@pytest.fixture
def killed_run(ws: Workspace, tag: str) -> dict[str, set[str]]:
    """A run of version v1 killed mid-way; what the state says each item reached."""
    ws.write("work.sh", textwrap.dedent(WORK)).chmod(0o755)
    write_pipeline(ws, "v1", [item_id(n) for n in range(ITEMS)])
    runner = spawn_runner(
        ws, "run", "pipeline.yaml", "--now", "--log-format", "json", env=runner_env(tag)
    )
    with reaped(runner):
        wait_until(lambda: done_count(ws) >= DONE_BEFORE_KILL, timeout=120)
        os.kill(runner.pid, signal.SIGKILL)
        runner.finish(timeout=60)
    with ws.store() as store:
        items = store.list_items("t")
        in_flight = {i.item_id for i in items if i.running_attempt is not None}
        return {
            "finished": {i.item_id for i in items if i.queue == q.SUCCESSFUL},
            "in_flight": in_flight,
            # launched for sure: its process wrote its start line (others may be recorded ahead)
            "ran": in_flight & set(ledger_starts(ws)),
            "untouched": {i.item_id for i in items if i.attempts == 0},
        }


class TestConfigEditsAcrossACrash:
    def test_resume_after_reorder_add_remove_and_new_command(
        self, ws: Workspace, tag: str, killed_run: dict[str, set[str]]
    ) -> None:
        """The resumed run keeps finished items, skips removed ones, runs added ones with the new hash."""
        finished, in_flight, ran, untouched = (
            killed_run["finished"],
            killed_run["in_flight"],
            killed_run["ran"],
            killed_run["untouched"],
        )
        assert finished and ran and len(untouched) > 5
        old_hash = load_pipeline(ws.root / "pipeline.yaml").definitions["d"].fingerprint()

        removed_untouched = set(sorted(untouched)[:5])
        removed_in_flight = {min(ran)}
        removed = removed_untouched | removed_in_flight
        added = {f"new-{n:03d}" for n in range(5)}
        kept = [item_id(n) for n in range(ITEMS) if item_id(n) not in removed]
        write_pipeline(ws, "v2", sorted(added) + list(reversed(kept)))
        new_hash = load_pipeline(ws.root / "pipeline.yaml").definitions["d"].fingerprint()
        assert old_hash != new_hash

        resumed = ws.runner("run", "pipeline.yaml", "--log-format", "json", env=runner_env(tag))
        assert exitcodes.OK == resumed.returncode, resumed.stderr[-3000:]
        assert traceback_free(resumed.stderr)
        assert '"event":"run.resumed"' in resumed.stderr.replace(" ", "")
        assert '"event":"run.definition_changed"' in resumed.stderr.replace(" ", "")

        starts = ledger_starts(ws)
        with ws.store() as store:
            assert "ok" == store.integrity_check()
            runs = store.connection.execute("SELECT count(*), min(status) FROM runs").fetchone()
            assert (1, "ok") == runs  # the one run was resumed, not restarted
            for item in finished:
                attempts = store.attempts_of("t", item)
                assert [(OK, old_hash)] == [(a.status, a.definition_hash) for a in attempts]
                assert [("v1", 1)] == starts[item]
            for item in removed_untouched:
                assert [] == store.attempts_of("t", item)
                assert item not in starts
            for item in removed_in_flight:
                row = store.item("t", item)
                assert row is not None and not row.in_group
                statuses = [(a.status, a.definition_hash) for a in store.attempts_of("t", item)]
                assert [(INTERRUPTED, old_hash)] == statuses
                assert all(version == "v1" for version, _ in starts.get(item, []))
            for item in added:
                attempts = store.attempts_of("t", item)
                assert [(OK, new_hash)] == [(a.status, a.definition_hash) for a in attempts]
                assert [("v2", 1)] == starts[item]
            withdrawn = 0
            for item in in_flight - removed_in_flight:
                attempts = store.attempts_of("t", item)
                statuses = [(a.status, a.definition_hash) for a in attempts]
                if item in ran or statuses != [(OK, new_hash)]:
                    assert [(INTERRUPTED, old_hash), (OK, new_hash)] == statuses
                    assert ("v2", 2) == starts[item][-1]
                else:  # recorded ahead of a free slot, never launched: withdrawn, never ran v1
                    withdrawn += 1
                    assert [("v2", 1)] == starts[item]
            for item in untouched - removed_untouched:
                attempts = store.attempts_of("t", item)
                assert [(OK, new_hash)] == [(a.status, a.definition_hash) for a in attempts]
            counts = store.queue_counts("t")
        assert {q.SUCCESSFUL: len(kept) + len(added)} == counts
        assert [] == tagged(tag, with_marker=True)
        record_figures(
            "config-edits",
            {
                "items": ITEMS,
                "finished_before_kill": len(finished),
                "in_flight_at_kill": len(in_flight),
                "withdrawn_at_resume": withdrawn,
                "removed": len(removed),
                "added": len(added),
            },
        )
