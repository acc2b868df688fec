"""Hostile items: ids and attributes built to break out of argv, templates and paths.

Nothing is executed (canary files never appear), nothing is rendered twice (`{{7*7}}` stays
text), no file is written outside the logs directory (the tree is compared before and after:
ids never become paths), and ids the groups refuse (newline, NUL) give a clear group error.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from runner import exitcodes
from runner.domain import queues as q
from runner.domain.statuses import START_FAILED
from tests.support.sizes import record_figures
from tests.support.snapshots import tree_snapshot
from tests.support.spawning import traceback_free
from tests.support.workspace import Workspace, settings

CANARIES = ("CANARY1", "CANARY2", "CANARY3", "CANARY4", "CANARY5")

HOSTILE = [
    "a; touch CANARY1",
    "$(touch CANARY2)",
    "`touch CANARY3`",
    "x && touch CANARY4 || touch CANARY4",
    "'; touch CANARY5; echo '",
    "double \"quoted\" 'single'",
    "-rf",
    "--help",
    "-",
    "{{7*7}}",
    "{% for x in range(3) %}loop{% endfor %}",
    "{{ item.__class__ }}",
    "../x",
    "../../../../../../tmp/escaped",
    "/etc/passwd",
    "./.runner/state.db",
    "..",
    ".",
    "${HOME}",
    "%2e%2e%2fx",
    "tab\there",
    "back\\slash",
    "\u00fcn\u00efc\u00f6d\u00e9 \u2603",
    "\u202eRTL-override",
    "\x1b[31mred",
    "*",
    "x" * 100_000,
]

RECORD = """\
import json, os, sys
with open("ledger.jsonl", "a", encoding="utf-8") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "item": os.environ["RUNNER_ITEM"]}) + "\\n")
print(sys.argv[1][:200])
print(os.environ["NOTE"][:200], file=sys.stderr)
"""


def member(n: int, item: str) -> dict[str, str]:
    return {"id": item, "note": HOSTILE[-1 - n], "n": str(n)}


@pytest.fixture
def hostile_ws(ws: Workspace) -> Workspace:
    """A pipeline whose group holds every hostile id, each with a hostile attribute."""
    ws.script("record.py", RECORD)
    ws.write("items.jsonl", "".join(json.dumps(member(n, i)) + "\n" for n, i in enumerate(HOSTILE)))
    ws.write(
        "pipeline.yaml",
        settings(4)
        + textwrap.dedent(
            """
            groups:
              g: {file: items.jsonl}
            definitions:
              d:
                command: ["./record.py", "{{ item.id }}", "{{ item.note }}", "--n={{ item.n }}"]
                env: {NOTE: "{{ item.note }}"}
            tasks:
              t: {definition: d, group: g}
            """
        ),
    )
    return ws


class TestHostileIds:
    def test_nothing_runs_nothing_renders_twice_nothing_lands_outside_logs(
        self, hostile_ws: Workspace
    ) -> None:
        """Every hostile id reaches its process as exactly the bytes written, and only logs appear."""
        ws = hostile_ws
        outside = ws.root.parent / "escaped"
        before = tree_snapshot(ws.root)
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert exitcodes.OK == result.returncode, result.stderr[-3000:]
        assert traceback_free(result.stdout, result.stderr)

        records = [json.loads(line) for line in (ws.root / "ledger.jsonl").read_text().splitlines()]
        seen = {r["item"]: r["argv"] for r in records}
        expected = {i: [i, member(n, i)["note"], f"--n={n}"] for n, i in enumerate(HOSTILE)}
        assert expected == seen
        assert len(HOSTILE) == len(records)  # each ran once

        found = [
            p for p in ws.root.rglob("CANARY*")
        ]  # this workspace: other tests make CANARYs on purpose
        assert [] == found
        assert [] == [c for c in CANARIES if (Path.cwd() / c).exists()]
        assert not outside.exists()

        after = tree_snapshot(ws.root, skip=(".runner/logs",))
        state_files = {k for k in after if k.startswith(".runner/state.db")}
        new = set(after) - set(before) - state_files - {".runner", "ledger.jsonl"}
        assert set() == new
        attempts = ws.root / ".runner" / "logs" / "attempts"
        bad_paths = [
            p
            for p in attempts.rglob("*")
            if p.is_file()
            and p.name != "nothing-processed"
            and (len(p.relative_to(attempts).parts) != 3 or len(p.name.encode()) > 80)
        ]
        assert [] == bad_paths
        assert 2 * len(HOSTILE) == sum(1 for p in attempts.rglob("*.std*"))
        with ws.store() as store:
            assert {q.SUCCESSFUL: len(HOSTILE)} == store.queue_counts("t")
            assert all(store.item("t", i) is not None for i in HOSTILE)
        record_figures(
            "hostile-items",
            {
                "hostile_ids": len(HOSTILE),
                "canaries_found": len(found),
                "files_outside_logs": len(new),
                "tracebacks": 0,
            },
        )


# case: (group source, exit code, text the message must hold). Inline members are checked when
# the config is validated (exit 2, file:line); files and commands when the group is resolved.
REFUSED = {
    "newline-inline": ('members: ["a\\nb"]', exitcodes.BAD_CONFIG, "pipeline.yaml:8:"),
    "carriage-return-inline": ('members: ["a\\rb"]', exitcodes.BAD_CONFIG, "pipeline.yaml:8:"),
    "nul-inline": ('members: ["a\\0b"]', exitcodes.BAD_CONFIG, "pipeline.yaml:8:"),
    "nul-in-file": ("file: items.jsonl", exitcodes.RUN_FAILED, "contains a NUL, CR or LF"),
    "newline-from-command": (
        "command: [./resolve.py]",
        exitcodes.RUN_FAILED,
        "contains a NUL, CR or LF",
    ),
}


class TestRefusedIds:
    @pytest.mark.parametrize("case", sorted(REFUSED))
    def test_group_refuses_the_id_with_a_clear_error(self, ws: Workspace, case: str) -> None:
        """An id with a NUL, CR or LF is refused with a message naming the place; never a crash."""
        source, code, text = REFUSED[case]
        ws.write("items.jsonl", json.dumps({"id": "a\u0000b"}) + "\n")
        ws.script("resolve.py", 'print(\'{"id": "a\\\\nb"}\')\n')
        ws.write(
            "pipeline.yaml",
            settings(2)
            + textwrap.dedent(
                f"""
                groups:
                  g: {{{source}}}
                definitions:
                  d: {{command: [echo, "{{{{ item.id }}}}"]}}
                tasks:
                  t: {{definition: d, group: g}}
                """
            ),
        )
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert code == result.returncode, result.stderr[-2000:]
        assert text in result.stderr
        if code == exitcodes.RUN_FAILED:
            assert '"event":"group.failed"' in result.stderr


BREAKOUTS = {
    "dunder-class": "{{ item.__class__ }}",
    "attr-filter": "{{ item|attr('__class__') }}",
    "mro-walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ (item|attr('__init__'))|attr('__globals__') }}",
    "subscript": "{{ item['__class__'] }}",
}


# What no static check can see: the sandbox refuses these when the item is rendered.
RENDER_TIME_BREAKOUTS = {
    "built-key": "{% set k = '__cla' ~ 'ss__' %}{{ item[k] }}",
    "built-init": "{% set k = '__in' ~ 'it__' %}{{ task[k] }}",
}


def breakout_pipeline(ws: Workspace, template: str) -> None:
    ws.write("canary-target", "")
    ws.write(
        "pipeline.yaml",
        settings(2)
        + "groups:\n  g: {members: [one]}\n"
        + "definitions:\n"
        + f"  d: {{command: [echo, {json.dumps(template)}]}}\n"
        + "policies:\n  p: {max_retries: 0}\n"
        + "tasks:\n  t: {definition: d, group: g, policy: p}\n",
    )


class TestTemplateBreakouts:
    @pytest.mark.parametrize("case", sorted(RENDER_TIME_BREAKOUTS))
    def test_sandbox_refuses_at_run_time(self, ws: Workspace, case: str) -> None:
        """A private name assembled at render time fails its item (start-failed), never runs it."""
        breakout_pipeline(ws, RENDER_TIME_BREAKOUTS[case])
        result = ws.runner("run", "pipeline.yaml", "--now", "--log-format", "json")
        assert traceback_free(result.stdout, result.stderr)
        assert exitcodes.ITEMS_IN_ERROR == result.returncode, result.stderr[-2000:]
        assert "cannot render template" in result.stderr
        with ws.store() as store:
            statuses = [a.status for a in store.attempts_of("t", "one")]
        assert [START_FAILED] == statuses

    @pytest.mark.parametrize("case", sorted(BREAKOUTS))
    def test_validate_refuses_private_attribute_access(self, ws: Workspace, case: str) -> None:
        """`runner validate` rejects a template that reaches for `__class__` or uses `|attr` (exit 2)."""
        breakout_pipeline(ws, BREAKOUTS[case])
        result = ws.runner("validate", "pipeline.yaml")
        assert traceback_free(result.stdout, result.stderr)
        assert exitcodes.BAD_CONFIG == result.returncode
        assert "pipeline.yaml:9:23: definitions.d.command[1]" in result.stderr
