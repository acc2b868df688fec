"""Limits per attribute: at most N items of a task at once per value of an item attribute.

An item's value for a limit is its attribute's text; an item without the attribute counts
under the empty value (so all such items share one cap). Picking the next items to start
keeps the dispatch order (runner.domain.dispatch) and skips only the items a full limit holds
back, so an item with another value behind them is not starved.

What counts: a runner records attempts a little ahead of a free slot (the lookahead). Those
wait, recorded, until their value has room (`Room`): only launched attempts count as
running in the runner that recorded them. Other runners' open attempts, recorded or
launched, all count against the room (`Room.set_others`), so the sum over runners never exceeds a
limit. Recording ahead is itself bounded per value (`widen`): a value's share of the
lookahead, so that a value that is full does not take the whole of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `most` items at once per value of attribute `per`."""

    per: str
    most: int


class Attributed(Protocol):
    """What the rule reads of an item."""

    @property
    def attributes(self) -> Mapping[str, str]: ...


Item = TypeVar("Item", bound=Attributed)

Running = Mapping[tuple[str, str], int]
"""How many items run now per (attribute, value)."""


def value_of(attributes: Mapping[str, str], per: str) -> str:
    """The item's value for a limit on `per` ('' when it lacks the attribute)."""
    return attributes.get(per, "")


def count_running(
    items: Iterable[Mapping[str, str]], limits: Sequence[Limit]
) -> dict[tuple[str, str], int]:
    """Per (attribute, value), how many of these running items' attributes fall under it."""
    counts: dict[tuple[str, str], int] = {}
    for attributes in items:
        for limit in limits:
            key = (limit.per, value_of(attributes, limit.per))
            counts[key] = counts.get(key, 0) + 1
    return counts


def holding(
    attributes: Mapping[str, str], limits: Sequence[Limit], running: Running
) -> tuple[Limit, str, int] | None:
    """The first limit that holds this item back now, with its value and running count."""
    for limit in limits:
        value = value_of(attributes, limit.per)
        count = running.get((limit.per, value), 0)
        if count >= limit.most:
            return limit, value, count
    return None


def full_values(limits: Sequence[Limit], running: Running) -> dict[str, set[str]]:
    """Per attribute, the values whose limit is reached (no item with them may start)."""
    full: dict[str, set[str]] = {}
    by_per = {limit.per: limit.most for limit in limits}
    for (per, value), count in running.items():
        most = by_per.get(per)
        if most is not None and count >= most:
            full.setdefault(per, set()).add(value)
    return full


def admit(
    candidates: Iterable[Item], limits: Sequence[Limit], running: Running, free: int
) -> list[Item]:
    """The first `free` candidates (in their order) that no limit holds back, counting the
    ones admitted before them."""
    counts = dict(running)
    chosen: list[Item] = []
    for item in candidates:
        if len(chosen) >= free:
            break
        if holding(item.attributes, limits, counts) is not None:
            continue
        chosen.append(item)
        for limit in limits:
            key = (limit.per, value_of(item.attributes, limit.per))
            counts[key] = counts.get(key, 0) + 1
    return chosen


def describe(limit: Limit, value: str, count: int) -> str:
    """`limit server=imap1: 2 of 2 running`."""
    shown = value if value else "(none)"
    return f"limit {limit.per}={shown}: {count} of {limit.most} running"


def without(counts: Running, some: Running) -> dict[tuple[str, str], int]:
    """Per (attribute, value), `counts` less `some` (never below 0): e.g. the open attempts
    that are not this runner's own."""
    found: dict[tuple[str, str], int] = {}
    for key, count in counts.items():
        rest = count - some.get(key, 0)
        if rest > 0:
            found[key] = rest
    return found


def widen(limits: Sequence[Limit], ahead: int, cap: int) -> list[Limit]:
    """The limits as attempts are recorded ahead against them: each one's most plus its share of
    the lookahead (`ahead` attempts over `cap` slots: ahead x most / cap, at least 1, at most
    `ahead`). Recorded attempts launch only while their value has room (`Room`)."""
    return [
        Limit(limit.per, limit.most + max(1, min(ahead, -(-ahead * limit.most // max(cap, 1)))))
        for limit in limits
    ]


Key = tuple[str, str]
"""(attribute, value): what a limit counts under."""


class Room:
    """One runner's room per value for one run: how many of its attempts may run at once.

    A value's room is its limit less the other runners' open attempts (`set_others`, counted
    when attempts are recorded); `take` and `release` count this runner's launched attempts.
    Not thread-safe: its owner serialises the calls.
    """

    def __init__(self, limits: Sequence[Limit]) -> None:
        self.limits = list(limits)
        self._others: dict[Key, int] = {}
        self._running: dict[Key, int] = {}
        self._launched: dict[tuple[Key, ...], int] = {}
        """The launched attempts by their values (one key per limit)."""

    def set_others(self, counts: Running) -> bool:
        """What the other runners' open attempts take of each value's limit now; whether that
        changed."""
        if counts == self._others:
            return False
        self._others = dict(counts)
        return True

    def fits(self, attributes: Mapping[str, str]) -> bool:
        """Whether an attempt with these attributes may launch now."""
        return not self._full(self._keys(attributes))

    def take(self, attributes: Mapping[str, str]) -> None:
        """An attempt with these attributes launches."""
        keys = self._keys(attributes)
        for key in keys:
            self._running[key] = self._running.get(key, 0) + 1
        self._launched[keys] = self._launched.get(keys, 0) + 1

    def release(self, attributes: Mapping[str, str]) -> None:
        """An attempt with these attributes ended."""
        keys = self._keys(attributes)
        for key in keys:
            _drop_one(self._running, key)
        _drop_one(self._launched, keys)

    def keeps_busy(self, queued: Iterable[Mapping[str, str]]) -> bool:
        """Whether these queued attempts keep the slots busy without more being recorded: one
        may launch now, or for each set of values launched now, one waits that may launch once
        an item with those values ends."""
        single: set[Key] = set()
        several: set[frozenset[Key]] = set()
        for attributes in queued:
            full = self._full(self._keys(attributes))
            if not full:
                return True
            if len(full) == 1:
                single.add(full[0])
            else:
                several.add(frozenset(full))
        if not self._launched or not (single or several):
            return False
        return all(
            any(key in single for key in keys) or any(needs <= set(keys) for needs in several)
            for keys in self._launched
        )

    def _keys(self, attributes: Mapping[str, str]) -> tuple[Key, ...]:
        return tuple((limit.per, value_of(attributes, limit.per)) for limit in self.limits)

    def _full(self, keys: tuple[Key, ...]) -> list[Key]:
        """Those of these keys whose limit has no room now."""
        return [
            key
            for key, limit in zip(keys, self.limits, strict=True)
            if self._running.get(key, 0) + self._others.get(key, 0) >= limit.most
        ]


def _drop_one(counts: dict[Any, int], key: Any) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
