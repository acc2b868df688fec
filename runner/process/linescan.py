"""Searching each complete line a child writes with a few compiled patterns (output rules).

A stream's bytes (already masked) are cut into lines at a newline or a carriage return (tools
redraw progress with `\\r`); each complete line is decoded (UTF-8, bad bytes replaced) and
searched by every pattern that reads this stream, over at most `limit` characters. The work is
one decode and one split per chunk read plus one search per line and pattern, all in C; only a
match costs Python work, in the callback. An unterminated last line is searched when the stream
ends. A line longer than `limit` is kept only up to a bounded head while it is incomplete.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Match = tuple[int, "re.Match[str]"]
"""(the rule's position in the spec's list, its match)."""


@dataclass(frozen=True, slots=True)
class LineRule:
    """A compiled pattern and the streams (`stdout`, `stderr`) whose lines it searches."""

    pattern: re.Pattern[str]
    streams: frozenset[str]


class LineScanner:
    """Follows one stream: complete lines are searched, the matches handed to `on_match`."""

    def __init__(
        self,
        stream: str,
        rules: Sequence[LineRule],
        on_match: Callable[[list[Match]], None],
        limit: int,
    ) -> None:
        self._searches = [
            (index, rule.pattern.search)
            for index, rule in enumerate(rules)
            if stream in rule.streams
        ]
        self._on_match = on_match
        self._limit = limit
        self._keep = 4 * limit  # a UTF-8 character takes at most 4 bytes
        self._partial = b""
        self._overflow = False

    def __bool__(self) -> bool:
        return bool(self._searches)

    def feed(self, data: bytes) -> None:
        """Take the next (masked) bytes of the stream."""
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < 0:
            self._hold(data)
            return
        if self._overflow:
            first = min(i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0)
            complete = self._partial + data[first : end + 1]
        else:
            complete = self._partial + data[: end + 1]
        self._partial = b""
        self._overflow = False
        self._hold(data[end + 1 :])
        self._scan(complete)

    def finish(self) -> None:
        """The stream ended: search its unterminated last line."""
        if self._partial:
            rest, self._partial = self._partial, b""
            self._scan(rest)

    def _hold(self, data: bytes) -> None:
        if not data or self._overflow:
            return
        self._partial += data
        if len(self._partial) > self._keep:
            self._partial = self._partial[: self._keep]
            self._overflow = True

    def _scan(self, data: bytes) -> None:
        lines = data.decode("utf-8", errors="replace").splitlines()
        if not lines:
            return
        limit = self._limit
        if max(map(len, lines)) > limit:
            lines = [line[:limit] for line in lines]
        if len(self._searches) == 1:
            ((index, search),) = self._searches
            found = [(index, match) for match in map(search, lines) if match is not None]
        else:  # several rules: their matches in line order, then rule order
            hits = [
                (line, index, match)
                for index, search in self._searches
                for line, match in enumerate(map(search, lines))
                if match is not None
            ]
            hits.sort(key=lambda hit: hit[:2])
            found = [(index, match) for _, index, match in hits]
        if found:
            self._on_match(found)
