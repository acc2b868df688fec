"""The launch slots' rotation: a finished run leaves it, even when its last job is still running."""

from __future__ import annotations

from runner.engine.slots import Slots


def test_forget_drops_an_idle_run_at_once() -> None:
    slots: Slots[str] = Slots(2)
    slots.offer("r", 1, "job")
    assert slots.take() == ("r", "job")
    slots.done("r")
    slots.forget("r")
    assert len(slots) == 0


def test_forget_while_a_job_runs_drops_the_run_when_it_is_done() -> None:
    slots: Slots[str] = Slots(2)
    slots.offer("r", 1, "job")
    assert slots.take() == ("r", "job")
    slots.forget("r")
    assert len(slots) == 1
    slots.done("r")
    assert len(slots) == 0


def test_a_new_offer_keeps_a_forgotten_run() -> None:
    slots: Slots[str] = Slots(2)
    slots.offer("r", 1, "one")
    assert slots.take() == ("r", "one")
    slots.forget("r")
    slots.offer("r", 1, "two")
    slots.done("r")
    assert len(slots) == 1
    assert slots.take() == ("r", "two")
