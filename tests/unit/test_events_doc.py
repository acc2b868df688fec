"""docs/events.md lists every event name the code emits."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENT_NAME = re.compile(
    r'"((?:runner|run|item|step|group|disk|attempt|config|log|state)\.[a-z_]+)"'
)


def _emitted() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "runner").rglob("*.py"):
        names.update(EVENT_NAME.findall(path.read_text()))
    return names


class TestEventsDoc:
    def test_every_emitted_event_is_documented(self) -> None:
        """An event name in the code without a row in docs/events.md fails the suite."""
        documented = set(
            re.findall(
                r"^\| `([a-z]+\.[a-z_]+)` \|", (ROOT / "docs" / "events.md").read_text(), re.M
            )
        )
        assert set() == _emitted() - documented

    def test_the_scan_finds_the_core_events(self) -> None:
        """The scan itself works: the engine's main events are found in the code."""
        assert {"run.started", "item.started", "item.finished", "step.finished"} <= _emitted()
