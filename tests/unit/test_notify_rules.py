"""Which events make notifications (runner.notify.messages) and when a runner counts as gone
(runner.engine.watch): the pure rules behind settings.notify."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runner.config.settings import Settings
from runner.domain.workers import STALE_AFTER, WORKER_OFFLINE, WORKER_ONLINE, WORKER_RUNNING
from runner.engine.watch import OfflineWatch
from runner.notify import notifications
from runner.state import WorkerRow


def finished(status: str, errors: int, sample: int = 0) -> dict[str, object]:
    return {
        "event": "run.finished",
        "task": "t",
        "run_id": "t@1",
        "status": status,
        "message": "before step 0 failed",
        "error_items": errors,
        "error_sample": [
            {"id": f"i{n}", "queue": "corrupt", "status": "corrupt"} for n in range(sample)
        ],
    }


class TestMessages:
    def test_a_clean_run_makes_none(self) -> None:
        assert [] == notifications(finished("ok", 0))

    def test_a_failed_run(self) -> None:
        (note,) = notifications(finished("failed", 0))
        assert ("run-failed", "runner: run of t failed") == (note.kind, note.title)
        assert "before step 0 failed" in note.body

    def test_error_items_listed_and_counted(self) -> None:
        (note,) = notifications(finished("completed-with-errors", 3, sample=2))
        assert "error-items" == note.kind
        assert "- i0: corrupt (corrupt)\n- i1: corrupt (corrupt)\n... and 1 more" in note.body

    def test_a_failed_run_with_error_items_makes_both(self) -> None:
        kinds = [n.kind for n in notifications(finished("failed", 1, sample=1))]
        assert ["run-failed", "error-items"] == kinds

    def test_halted_and_offline(self) -> None:
        (halted,) = notifications({"event": "task.halted", "task": "t", "reason": "5 failures"})
        assert ("task-halted", "runner: task t halted") == (halted.kind, halted.title)
        assert "5 failures" in halted.body
        (gone,) = notifications({"event": "runner.offline", "offline_site": "b", "host": "h"})
        assert "runner-offline" == gone.kind and "site b" in gone.title

    def test_other_events_make_none(self) -> None:
        assert [] == notifications({"event": "item.finished", "status": "failed"})


def row(site: str, state: str, heartbeat: float, started: float = 1.0) -> WorkerRow:
    return WorkerRow(site, state, 42, "host", started, heartbeat, 0, 0.0)


class TestOfflineWatch:
    def test_own_site_left_up_is_reported_at_the_first_look_only(self) -> None:
        watch = OfflineWatch("a")
        (gone,) = watch.look([row("a", WORKER_RUNNING, 100.0)], 101.0)
        assert "a" == gone.worker.site
        assert [] == watch.look([row("a", WORKER_RUNNING, 100.0)], 500.0)

    def test_own_site_that_exited_cleanly_is_not(self) -> None:
        assert [] == OfflineWatch("a").look([row("a", WORKER_OFFLINE, 100.0)], 101.0)

    def test_another_site_seen_up_then_stale_is_reported_once(self) -> None:
        watch = OfflineWatch("a")
        assert [] == watch.look([row("b", WORKER_ONLINE, 100.0)], 101.0)
        late = 100.0 + STALE_AFTER + 1
        (gone,) = watch.look([row("b", WORKER_ONLINE, 100.0)], late)
        assert "b" == gone.worker.site and "no heartbeat" in gone.reason
        assert [] == watch.look([row("b", WORKER_ONLINE, 100.0)], late + 10)

    def test_another_site_never_seen_up_or_exited_cleanly_is_not(self) -> None:
        watch = OfflineWatch("a")
        assert [] == watch.look([row("b", WORKER_ONLINE, 0.0)], 1000.0)
        assert [] == watch.look([row("c", WORKER_ONLINE, 999.0)], 1000.0)
        assert [] == watch.look([row("c", WORKER_OFFLINE, 1000.0)], 1001.0)

    def test_a_restarted_runner_is_watched_afresh(self) -> None:
        watch = OfflineWatch("a")
        watch.look([row("b", WORKER_ONLINE, 100.0, started=1.0)], 101.0)
        assert watch.look([row("b", WORKER_ONLINE, 100.0, started=1.0)], 1000.0)
        watch.look([row("b", WORKER_ONLINE, 2000.0, started=1500.0)], 2001.0)
        assert watch.look([row("b", WORKER_RUNNING, 2000.0, started=1500.0)], 3000.0)


class TestNotifySettings:
    def test_urls_are_apprise_urls_and_env_templates(self) -> None:
        rule = Settings.model_validate({"notify": [{"urls": ["json://h/{{ env.TOKEN }}"]}]}).notify[
            0
        ]
        assert ["run-failed", "error-items", "task-halted", "runner-offline"] == rule.events
        with pytest.raises(ValidationError, match="not an Apprise URL"):
            Settings.model_validate({"notify": [{"urls": ["hooks.example.com"]}]})
        with pytest.raises(ValidationError, match="item"):
            Settings.model_validate({"notify": [{"urls": ["json://h/{{ item.id }}"]}]})
        with pytest.raises(ValidationError, match="run-failed"):
            Settings.model_validate({"notify": [{"urls": ["json://h"], "events": ["failed"]}]})
