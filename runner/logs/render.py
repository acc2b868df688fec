"""Readable one-line rendering of a log event, shared by the live console output and `runner logs`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from runner.logs.levels import LEVELS

_RESERVED: Final = ("ts", "level", "event")
"""Keys every event starts with; they head the line rather than appear as key=value pairs."""

_RESET: Final = "\x1b[0m"
_BOLD: Final = "\x1b[1m"
_DIM: Final = "\x1b[2m"
_KEY_COLOR: Final = "\x1b[36m"
_LEVEL_COLORS: Final[Mapping[str, str]] = {
    "debug": "\x1b[34m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_TS_PATTERN: Final = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})")
# Shown as they are: no whitespace, quotes, '=', backslash or control characters
# (C0, DEL and C1: a terminal must never receive an escape sequence from a log).
_BARE: Final = re.compile(r"[^\s\"'=\\\x00-\x1f\x7f-\x9f\ud800-\udfff]+")
_UNSAFE_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# What json.dumps leaves alone but a terminal must not get: DEL, C1, lone surrogates.
_C1_OR_DEL: Final = re.compile(r"[\x7f-\x9f\ud800-\udfff]")


def _escape_char(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def _quote(text: str) -> str:
    """JSON-quote `text`, escaping every control character (C1 and DEL included)."""
    return _C1_OR_DEL.sub(_escape_char, json.dumps(text, ensure_ascii=False))


def _word(text: str) -> str:
    """Show a key or name bare when it is safe to, else quoted."""
    return text if _BARE.fullmatch(text) else _quote(text)


def safe_word(text: str) -> str:
    """`text` as it may be shown on a terminal: bare when safe, else JSON-quoted."""
    return _word(text)


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return _word(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and abs(value) >= 0.001:
            return repr(round(value, 3))
        return repr(value)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return _C1_OR_DEL.sub(_escape_char, text)


def format_event(event: Mapping[str, Any], *, color: bool, date: bool = False) -> str:
    """Render one event as a readable line.

    Shape: ``09:00:00 info  item.finished  task=nightly item=alice@example.com
    status=ok duration_s=0.31`` (time of day in UTC; with ``date=True`` the
    date comes first). Strings with spaces, quotes or control characters are
    shown JSON-quoted, so no value can break the line or send escape sequences
    to a terminal. A traceback under ``exception`` follows on its own lines.
    ``color`` adds ANSI colours (level by severity, event name in bold).
    """
    ts = event.get("ts")
    found = _TS_PATTERN.match(ts) if isinstance(ts, str) else None
    if found is None:
        when = "---------- --:--:--" if date else "--:--:--"
    else:
        when = f"{found.group(1)} {found.group(2)}" if date else found.group(2)
    raw_level = event.get("level", "")
    level = raw_level if isinstance(raw_level, str) and raw_level in LEVELS else None
    level_text = level if level is not None else _format_value(raw_level)
    raw_name = event.get("event", "")
    name = _word(raw_name) if isinstance(raw_name, str) else _format_value(raw_name)
    exception = event.get("exception")
    pairs: list[tuple[str, str]] = [
        (_word(str(key)), _format_value(value))
        for key, value in event.items()
        if key not in _RESERVED and not (key == "exception" and isinstance(value, str))
    ]
    if color:
        level_color = _LEVEL_COLORS.get(level or "", "")
        head = f"{_DIM}{when}{_RESET} {level_color}{level_text:<5}{_RESET} {_BOLD}{name}{_RESET}"
        body = " ".join(f"{_KEY_COLOR}{key}{_RESET}={value}" for key, value in pairs)
    else:
        head = f"{when} {level_text:<5} {name}"
        body = " ".join(f"{key}={value}" for key, value in pairs)
    line = f"{head}  {body}" if body else head
    if isinstance(exception, str) and exception:
        trace = _UNSAFE_CONTROL.sub(_escape_char, exception.rstrip("\n"))
        line += "\n" + "\n".join("    " + part for part in trace.split("\n"))
    return line
