"""The store runs the domain's rules: dispatch order, run opening, attempt ends, moves.

Everything goes through the store's public methods, so these tests hold for any
backend: `open_fresh` is parametrised by backend (SQLite today). The property tests
hold the store's SQL (`eligible_items`, `begin_run`, `sync_members`) equal to the pure
functions in runner.domain over random populations.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.domain import queues as q
from runner.domain.dispatch import next_to_dispatch
from runner.domain.policy import Standing, after_rediscovery, at_run_start
from runner.domain.statuses import FAILED, MODE_ONCE, MODE_RECURRING, MODES, OK
from runner.state import AttemptEnd, AttemptStart, RunRow, StateStore, open_store

TASK = "t"
T0 = 1_700_000_000.0

OpenFresh = Callable[[], AbstractContextManager[StateStore]]


def _sqlite() -> AbstractContextManager[StateStore]:
    @contextmanager
    def opened() -> Iterator[StateStore]:
        with (
            tempfile.TemporaryDirectory() as directory,
            open_store(Path(directory) / "state.db") as store,
        ):
            yield store

    return opened()


BACKENDS: dict[str, OpenFresh] = {"sqlite": _sqlite}
"""How to open a fresh, empty store of each backend."""


@pytest.fixture(params=sorted(BACKENDS))
def open_fresh(request: pytest.FixtureRequest) -> OpenFresh:
    """Opens a fresh, empty store (a new one each call, for property tests)."""
    return BACKENDS[request.param]


@pytest.fixture
def store(open_fresh: OpenFresh) -> Iterator[StateStore]:
    """One fresh, empty store."""
    with open_fresh() as opened:
        yield opened


class Seed:
    """Puts items where a test wants them, through the store's public methods only."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.runs = 0
        store.upsert_task(TASK, site="s", config_hash="h", modified_by="test", now=T0)

    def members(
        self, ids: list[str], *, now: float = T0, missing: dict[str, str] | None = None
    ) -> None:
        gaps = missing or {}
        self.store.sync_members(TASK, [(i, "{}", gaps.get(i, "")) for i in ids], now=now)

    def run(self, *, now: float = T0, mode: str = MODE_ONCE) -> str:
        self.runs += 1
        run_id = f"{TASK}@run{self.runs}"
        row = RunRow(run_id, TASK, "s", "now", None, None, now, None, "items", "running", "h", "")
        self.store.begin_run(row, recurring=mode == MODE_RECURRING)
        return run_id

    def start(self, item_id: str, run_id: str, *, now: float = T0) -> int:
        item = self.store.item(TASK, item_id)
        assert item is not None
        start = AttemptStart(TASK, item_id, item.attempts + 1, run_id, "s", "h", now, "")
        return self.store.start_attempts([start])[0]

    def finish(
        self,
        attempt_id: int,
        item_id: str,
        queue: str,
        *,
        now: float = T0,
        retry_at: float | None = None,
        retries_used: int = 0,
        status: str = FAILED,
    ) -> str:
        end = AttemptEnd(
            attempt_id,
            TASK,
            item_id,
            status,
            1,
            None,
            None,
            queue,
            retry_at,
            retries_used,
            now,
            1.0,
        )
        return self.store.finish_attempts([end])[0][1]

    def place(
        self,
        item_id: str,
        queue: str,
        run_id: str,
        *,
        now: float,
        retry_at: float | None = None,
        retries_used: int = 0,
    ) -> Standing:
        """Put an item in `queue` as the runner would: an operator move or an attempt's end."""
        if queue in q.OPERATOR_TARGETS:
            self.store.move_item(TASK, item_id, to_queue=queue, by="op", reason="", now=now)
            return Standing(queue, 0, None)
        attempt = self.start(item_id, run_id, now=now - 0.5)
        self.finish(attempt, item_id, queue, now=now, retry_at=retry_at, retries_used=retries_used)
        return Standing(queue, retries_used, retry_at if queue == q.RETRY else None)

    def standing(self, item_id: str) -> Standing:
        item = self.store.item(TASK, item_id)
        assert item is not None
        return Standing(item.queue, item.retries_used, item.retry_at)


# --- scenarios ------------------------------------------------------------------------------


class TestDispatchOrder:
    """eligible_items: run-now, rescheduled, retry (due), unattempted; FIFO inside each."""

    def test_order_across_every_queue(self, store: StateStore) -> None:
        """With one item in each of the 15 queues, entered newest-first by rank, only the four
        dispatch queues come out, in SPEC order, whatever their entry times."""
        seed = Seed(store)
        ids = [f"in-{queue}" for queue in q.ALL_QUEUES]
        seed.members(ids)
        run_id = seed.run()
        for position, queue in enumerate(q.ALL_QUEUES):
            later_for_higher_rank = T0 + 100 - position
            seed.place(f"in-{queue}", queue, run_id, now=later_for_higher_rank, retry_at=T0)
        eligible = store.eligible_items(TASK, now=T0 + 200, in_schedule=True, limit=100)
        expected = ["in-run-now", "in-rescheduled", "in-retry", "in-unattempted"]
        assert expected == [i.item_id for i in eligible]

    def test_first_in_first_out_inside_each_queue(self, store: StateStore) -> None:
        """Two items per dispatch queue come out by queue rank, then by entry time."""
        seed = Seed(store)
        ids = [f"{queue}-{n}" for queue in q.DISPATCH_ORDER for n in (2, 1)]
        seed.members(ids)
        run_id = seed.run()
        for item_id in ids:
            queue, n = item_id.rsplit("-", 1)
            seed.place(item_id, queue, run_id, now=T0 + int(n), retry_at=T0)
        eligible = store.eligible_items(TASK, now=T0 + 10, in_schedule=True, limit=100)
        expected = [f"{queue}-{n}" for queue in q.DISPATCH_ORDER for n in (1, 2)]
        assert expected == [i.item_id for i in eligible]

    def test_out_of_schedule_only_run_now(self, store: StateStore) -> None:
        """Out of schedule only run-now items start."""
        seed = Seed(store)
        seed.members(["a", "b", "c"])
        run_id = seed.run()
        seed.place("a", q.RESCHEDULED, run_id, now=T0 + 1)
        seed.place("b", q.RUN_NOW, run_id, now=T0 + 2)
        eligible = store.eligible_items(TASK, now=T0 + 10, in_schedule=False, limit=100)
        assert ["b"] == [i.item_id for i in eligible]

    def test_retry_is_due_at_its_retry_at(self, store: StateStore) -> None:
        """A retry item is dispatched at the very instant of its retry_at."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        seed.place("a", q.RETRY, run_id, now=T0 + 1, retry_at=T0 + 60)
        eligible = store.eligible_items(TASK, now=T0 + 60, in_schedule=True, limit=100)
        assert ["a"] == [i.item_id for i in eligible]

    def test_retry_waits_for_its_backoff(self, store: StateStore) -> None:
        """A retry item is not dispatched before its retry_at."""
        seed = Seed(store)
        seed.members(["a", "b"])
        run_id = seed.run()
        seed.place("a", q.RETRY, run_id, now=T0 + 1, retry_at=T0 + 60)
        seed.place("b", q.RETRY, run_id, now=T0 + 2, retry_at=T0 + 5)
        eligible = store.eligible_items(TASK, now=T0 + 10, in_schedule=True, limit=100)
        assert ["b"] == [i.item_id for i in eligible]


class TestRunOpening:
    """begin_run: a recurring run starts every dispatchable item over, counters reset."""

    def test_new_recurring_run_resets_retry_counters(self, store: StateStore) -> None:
        """A retry item stays in retry, due at once, with no retries used; a successful item
        is unattempted again with no retries used."""
        seed = Seed(store)
        seed.members(["failing", "done"])
        run_id = seed.run(mode=MODE_RECURRING)
        seed.place("failing", q.RETRY, run_id, now=T0 + 1, retry_at=T0 + 3600, retries_used=2)
        attempt = seed.start("done", run_id, now=T0 + 2)
        seed.finish(attempt, "done", q.SUCCESSFUL, now=T0 + 3, retries_used=1, status=OK)
        seed.run(now=T0 + 10, mode=MODE_RECURRING)
        actual = [seed.standing("failing"), seed.standing("done")]
        expected = [Standing(q.RETRY, 0, None), Standing(q.UNATTEMPTED, 0, None)]
        assert expected == actual

    def test_new_once_run_carries_counters_over(self, store: StateStore) -> None:
        """In mode once the next run keeps the retry count, its backoff and successful items."""
        seed = Seed(store)
        seed.members(["failing", "done"])
        run_id = seed.run()
        seed.place("failing", q.RETRY, run_id, now=T0 + 1, retry_at=T0 + 3600, retries_used=2)
        seed.place("done", q.SUCCESSFUL, run_id, now=T0 + 2)
        seed.run(now=T0 + 10, mode=MODE_ONCE)
        actual = [seed.standing("failing"), seed.standing("done")]
        expected = [Standing(q.RETRY, 2, T0 + 3600), Standing(q.SUCCESSFUL, 0, None)]
        assert expected == actual


class TestAttemptEnd:
    """finish_attempts and cancel_attempts under an operator's pending move."""

    def test_move_made_while_running_resets_the_retry_count(self, store: StateStore) -> None:
        """The policy said retry (3 used); the operator's move to rescheduled wins when the
        attempt ends, with the retry count and backoff reset."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        attempt = seed.start("a", run_id, now=T0)
        store.move_item(TASK, "a", to_queue=q.RESCHEDULED, by="op", reason="", now=T0 + 1)
        entered = seed.finish(attempt, "a", q.RETRY, now=T0 + 2, retry_at=T0 + 60, retries_used=3)
        actual = (entered, seed.standing("a"), store.moves_of(TASK, "a")[0].applied_at)
        assert (q.RESCHEDULED, Standing(q.RESCHEDULED, 0, None), T0 + 2) == actual

    def test_no_move_keeps_the_policy_decision(self, store: StateStore) -> None:
        """Without a pending move the item goes where the policy said, with its counters."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        attempt = seed.start("a", run_id, now=T0)
        entered = seed.finish(attempt, "a", q.RETRY, now=T0 + 2, retry_at=T0 + 60, retries_used=3)
        assert (q.RETRY, Standing(q.RETRY, 3, T0 + 60)) == (entered, seed.standing("a"))

    def test_backoff_kept_only_in_retry(self, store: StateStore) -> None:
        """A retry_at given with another queue is not recorded."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        attempt = seed.start("a", run_id, now=T0)
        seed.finish(attempt, "a", q.CORRUPT, now=T0 + 2, retry_at=T0 + 60, retries_used=5)
        assert Standing(q.CORRUPT, 5, None) == seed.standing("a")

    def test_cancelled_attempt_applies_the_pending_move(self, store: StateStore) -> None:
        """An attempt recorded but never launched is undone; a move made meanwhile applies."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        attempt = seed.start("a", run_id, now=T0)
        store.move_item(TASK, "a", to_queue=q.PAUSED, by="op", reason="", now=T0 + 1)
        store.cancel_attempts([attempt])
        item = store.item(TASK, "a")
        assert item is not None
        assert (q.PAUSED, 0, None) == (item.queue, item.attempts, item.running_attempt)


class TestMoves:
    """move_item on a waiting item: takes effect at once, counters reset."""

    def test_move_resets_retry_count_and_backoff(self, store: StateStore) -> None:
        """An item in retry with 3 retries used, moved to rescheduled, starts over."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        seed.place("a", q.RETRY, run_id, now=T0 + 1, retry_at=T0 + 60, retries_used=3)
        move = store.move_item(TASK, "a", to_queue=q.RESCHEDULED, by="op", reason="", now=T0 + 5)
        item = store.item(TASK, "a")
        assert item is not None
        actual = (seed.standing("a"), item.entered_at, move.applied_at, move.from_queue)
        assert (Standing(q.RESCHEDULED, 0, None), T0 + 5, T0 + 5, q.RETRY) == actual

    def test_move_of_running_item_waits(self, store: StateStore) -> None:
        """A running item's move is recorded pending; its queue and counters stay until the end."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        seed.place("a", q.RETRY, run_id, now=T0 + 1, retry_at=T0 + 2, retries_used=1)
        seed.start("a", run_id, now=T0 + 3)
        move = store.move_item(TASK, "a", to_queue=q.PAUSED, by="op", reason="", now=T0 + 4)
        item = store.item(TASK, "a")
        assert item is not None
        actual = (seed.standing("a"), item.pending_queue, move.applied_at)
        assert (Standing(q.RETRY, 1, T0 + 2), q.PAUSED, None) == actual

    def test_only_the_last_pending_move_is_applied(self, store: StateStore) -> None:
        """Two moves while the item runs: the second replaces the first, which stays unapplied."""
        seed = Seed(store)
        seed.members(["a"])
        run_id = seed.run()
        attempt = seed.start("a", run_id, now=T0)
        store.move_item(TASK, "a", to_queue=q.PAUSED, by="op", reason="", now=T0 + 1)
        store.move_item(TASK, "a", to_queue=q.TRASH, by="op", reason="", now=T0 + 2)
        seed.finish(attempt, "a", q.SUCCESSFUL, now=T0 + 3, status=OK)
        applied = [(m.to_queue, m.applied_at) for m in store.moves_of(TASK, "a")]
        assert [(q.PAUSED, None), (q.TRASH, T0 + 3)] == applied
        assert q.TRASH == seed.standing("a").queue


# --- the store's SQL equals the pure rules ----------------------------------------------------

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


NOW = T0 + 10
"""The instant the property tests dispatch at (entry times are before it)."""


@dataclass(frozen=True)
class Spec:
    """One item of a random population, and where the model says it is."""

    item_id: str
    queue: str
    entered_at: float
    retry_at: float | None
    retries_used: int
    in_group: bool
    running: bool


@st.composite
def populations(draw: st.DrawFn) -> list[Spec]:
    size = draw(st.integers(min_value=0, max_value=12))
    return [
        Spec(
            item_id=f"i{n}",
            # dispatch queues most often, so that several compete in most examples
            queue=draw(st.one_of(st.sampled_from(q.DISPATCH_ORDER), st.sampled_from(q.ALL_QUEUES))),
            # few distinct entry times, so ties (broken by insertion order) are common
            entered_at=T0 + draw(st.integers(min_value=1, max_value=4)),
            # before, at and after NOW: the boundary of a backoff comes up often
            retry_at=draw(st.sampled_from([None, NOW - 5.0, NOW, NOW + 5.0])),
            retries_used=draw(st.integers(min_value=0, max_value=6)),
            in_group=draw(st.sampled_from([True, True, True, False])),
            running=draw(st.sampled_from([False, False, False, True])),
        )
        for n in range(size)
    ]


def seeded(store: StateStore, population: list[Spec]) -> tuple[Seed, str, dict[str, Standing]]:
    """A store holding `population`: members synced in order, placed, some running."""
    seed = Seed(store)
    seed.members([s.item_id for s in population])
    seed.members([s.item_id for s in population if s.in_group], now=T0 + 0.5)
    run_id = seed.run(now=T0 + 0.5)
    standing = {
        s.item_id: seed.place(
            s.item_id,
            s.queue,
            run_id,
            now=s.entered_at,
            retry_at=s.retry_at,
            retries_used=s.retries_used,
        )
        for s in population
    }
    for s in population:
        if s.running:
            seed.start(s.item_id, run_id, now=T0 + 5)
    return seed, run_id, standing


@dataclass(frozen=True)
class Waiting:
    queue: str
    retry_at: float | None
    entered_at: float
    item_id: str


class TestStoreEqualsRules:
    """Random populations: the store's bulk SQL does what runner.domain says."""

    @PROPERTY
    @given(
        population=populations(),
        in_schedule=st.booleans(),
        limit=st.integers(min_value=0, max_value=14),
    )
    def test_eligible_items_is_the_dispatch_rule(
        self,
        open_fresh: OpenFresh,
        population: list[Spec],
        in_schedule: bool,
        limit: int,
    ) -> None:
        """eligible_items == next_to_dispatch over the in-group, not running items."""
        with open_fresh() as store:
            _seed, _run, standing = seeded(store, population)
            waiting = [
                Waiting(
                    standing[s.item_id].queue, standing[s.item_id].retry_at, s.entered_at, s.item_id
                )
                for s in population
                if s.in_group and not s.running
            ]
            expected = next_to_dispatch(waiting, now=NOW, in_schedule=in_schedule, limit=limit)
            actual = store.eligible_items(TASK, now=NOW, in_schedule=in_schedule, limit=limit)
            assert [w.item_id for w in expected] == [i.item_id for i in actual]

    @PROPERTY
    @given(population=populations(), mode=st.sampled_from(MODES))
    def test_begin_run_is_the_run_start_rule(
        self, open_fresh: OpenFresh, population: list[Spec], mode: str
    ) -> None:
        """After begin_run every item stands where at_run_start says."""
        with open_fresh() as store:
            seed, _run, standing = seeded(store, [s for s in population if not s.running])
            seed.run(now=T0 + 50, mode=mode)
            expected = {i: at_run_start(s, mode) for i, s in standing.items()}
            actual = {i: seed.standing(i) for i in standing}
            assert expected == actual

    @PROPERTY
    @given(
        population=populations(),
        missing=st.lists(st.booleans(), min_size=14, max_size=14),
        newcomers=st.integers(min_value=0, max_value=2),
    )
    def test_sync_members_is_the_rediscovery_rule(
        self, open_fresh: OpenFresh, population: list[Spec], missing: list[bool], newcomers: int
    ) -> None:
        """After the group is resolved again every item is where after_rediscovery says."""
        with open_fresh() as store:
            seed, _run, standing = seeded(store, population)
            running = {s.item_id for s in population if s.running}
            ids = [s.item_id for s in population] + [f"new{n}" for n in range(newcomers)]
            gaps = {i: "x" for i, gap in zip(ids, missing, strict=False) if gap}
            seed.members(ids, now=T0 + 50, missing=gaps)
            expected = {
                i: after_rediscovery(
                    standing[i].queue if i in standing else None,
                    missing_attributes=i in gaps,
                    running=i in running,
                )
                for i in ids
            }
            actual = {i: seed.standing(i).queue for i in ids}
            assert expected == actual
