"""The launch slots: a finished run leaves the rotation, even when its last job is still running;
a run's limits per attribute hold back queued jobs whose value has no room."""

from __future__ import annotations

from runner.domain.limits import Limit
from runner.engine.slots import Slots


def test_forget_drops_an_idle_run_at_once() -> None:
    slots: Slots[str] = Slots(2)
    slots.offer("r", 1, "job")
    assert slots.take() == ("r", "job")
    slots.done("r", "job")
    slots.forget("r")
    assert len(slots) == 0


def test_forget_while_a_job_runs_drops_the_run_when_it_is_done() -> None:
    slots: Slots[str] = Slots(2)
    slots.offer("r", 1, "job")
    assert slots.take() == ("r", "job")
    slots.forget("r")
    assert len(slots) == 1
    slots.done("r", "job")
    assert len(slots) == 0


def test_a_new_offer_keeps_a_forgotten_run() -> None:
    slots: Slots[str] = Slots(2)
    slots.offer("r", 1, "one")
    assert slots.take() == ("r", "one")
    slots.forget("r")
    slots.offer("r", 1, "two")
    slots.done("r", "one")
    assert len(slots) == 1
    assert slots.take() == ("r", "two")


def test_a_job_whose_value_is_full_waits_and_the_next_value_goes_first() -> None:
    """With a limit of 1 per server: a1 runs, a2 waits queued (not counted as running), b1
    behind it is taken; a2 is taken once a1 is done."""
    slots: Slots[str] = Slots(3)
    slots.limit("r", [Limit("server", 1)], {})
    for job in ("a1", "a2", "b1"):
        slots.offer("r", 3, job, {"server": job[0]})
    assert slots.take() == ("r", "a1")
    assert slots.ready("r")
    assert slots.take() == ("r", "b1")
    assert slots.waiting("r") == 1
    assert not slots.ready("r")  # a2 queued, its server full, nothing waits for b
    slots.offer("r", 3, "b2", {"server": "b"})
    assert slots.ready("r")  # a2 and b2 each start once the item of their server ends
    slots.done("r", "a1")
    assert slots.ready("r")
    assert slots.take() == ("r", "a2")
    assert not slots.ready("r")  # b2 waits for b, nothing for a


def test_other_runners_open_attempts_take_room() -> None:
    """A value whose limit other runners' open attempts fill launches nothing here until they
    are counted gone; a step (no attributes) is never held."""
    slots: Slots[str] = Slots(2)
    slots.limit("r", [Limit("server", 2)], {("server", "a"): 2})
    slots.offer("r", 2, "a1", {"server": "a"})
    slots.offer("r", 2, "step")
    assert slots.take() == ("r", "step")
    assert not slots.ready("r")
    slots.limit("r", [Limit("server", 2)], {("server", "a"): 1})
    assert slots.take() == ("r", "a1")
