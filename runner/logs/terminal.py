"""What `runner run` shows on a terminal: a line per item that did not end `ok`, no more.

On a terminal a run of 100,000 items would scroll 200,000 lines past (`item.started`,
`item.finished`) and hide what matters. There, `item.started` and every `item.finished`
with status `ok` are not shown (the live status line counts them), and an `item.finished`
with another status is one short line: time, task, item, status, the queue it went to,
and why. Every other event is shown as a readable line as before. The log files get
every event unchanged; so does stderr when it is not a terminal or carries JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from runner.logs.render import format_event, safe_word

HIDDEN: Final = frozenset({"item.started"})
"""Events a terminal does not show in compact mode (always, not only when ok)."""

REASON_WIDTH: Final = 100
"""Longest reason shown on an item's line; the log files keep the whole of it."""

_YELLOW: Final = "\x1b[33m"
_RED: Final = "\x1b[31m"
_BOLD: Final = "\x1b[1m"
_RESET: Final = "\x1b[0m"


def compact_line(event: Mapping[str, Any], *, color: bool) -> str | None:
    """The terminal's line for `event` in compact mode; None when it is not shown."""
    name = event.get("event")
    if name in HIDDEN:
        return None
    if name == "item.finished":
        if event.get("status") == "ok":
            return None
        return item_line(event, color=color)
    return format_event(event, color=color)


def item_line(event: Mapping[str, Any], *, color: bool) -> str:
    """`09:00:01 t exit-3  #001 -> retry  attempt 1, exit 3: it went wrong`."""
    ts = event.get("ts")
    when = ts[11:19] if isinstance(ts, str) and len(ts) >= 19 else "--:--:--"
    task = safe_word(str(event.get("task", "")))
    item = safe_word(str(event.get("item", "")))
    status = safe_word(str(event.get("status", "")))
    queue = safe_word(str(event.get("queue", "")))
    facts = [f"attempt {event.get('attempt')}"]
    if event.get("exit_code") is not None:
        facts.append(f"exit {event.get('exit_code')}")
    if event.get("retry_at"):
        facts.append(f"retry at {str(event.get('retry_at'))[11:19]}")
    reason = ", ".join(facts)
    error = event.get("error")
    if isinstance(error, str) and error:
        text = " ".join(error.split())
        if len(text) > REASON_WIDTH:
            text = text[: REASON_WIDTH - 1] + "…"
        reason += ": " + safe_word(text)
    if color:
        tint = _YELLOW if event.get("queue") == "retry" else _RED
        return f"{when} {task} {_BOLD}{item}{_RESET}  {tint}{status} -> {queue}{_RESET}  {reason}"
    return f"{when} {task} {item}  {status} -> {queue}  {reason}"
