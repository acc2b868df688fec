"""Tests of runner.domain: queue names, dispatch, policy decisions and operator moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from runner import config as models
from runner.config.policies import Backoff, Policy
from runner.domain import queues
from runner.domain.dispatch import NOT_DISPATCHED_RANK, dispatch_rank, eligible
from runner.domain.policy import (
    Decision,
    Standing,
    after_attempt,
    after_rediscovery,
    at_attempt_end,
    at_run_start,
    backoff_delay,
    superseded,
)
from runner.domain.queues import check_move, check_reason
from runner.domain.statuses import BUILTIN_STATUSES, MODE_RECURRING, MODES

NOW = 1_700_000_000.0


def policy(
    max_retries: int = 5,
    retry_on: list[str] | None = None,
    initial: int = 60,
    factor: float = 2.0,
    maximum: int = 3600,
    exhausted_queue: str = "awaiting-intervention",
) -> Policy:
    """A policy with the SPEC defaults unless told otherwise."""
    return Policy(
        max_retries=max_retries,
        retry_on=retry_on,
        backoff=Backoff(initial=initial, factor=factor, max=maximum),
        exhausted_queue=exhausted_queue,
    )


class TestQueueNames:
    """The queue table of SPEC §3."""

    def test_all_queues_match_the_models(self) -> None:
        """The queue names here are exactly the ones the config models accept."""
        assert set(models.QUEUE_NAMES) == set(queues.ALL_QUEUES)

    def test_all_queues_in_spec_order(self) -> None:
        """ALL_QUEUES lists the queues in the order of the SPEC table."""
        expected = (
            "run-now", "rescheduled", "retry", "unattempted",
            "incomplete", "paused", "successful",
            "corrupt", "in-use", "inaccessible", "password-protected", "awaiting-intervention",
            "trash", "incorrect-format", "disabled",
        )  # fmt: skip
        assert expected == queues.ALL_QUEUES

    def test_every_queue_has_a_known_category(self) -> None:
        """Each queue belongs to one of the four categories, and the table is complete."""
        assert set(queues.ALL_QUEUES) == set(queues.CATEGORY)
        assert set(queues.CATEGORIES) == set(queues.CATEGORY.values())

    def test_categories_follow_the_queue_order(self) -> None:
        """Walking ALL_QUEUES visits the categories in CATEGORIES order."""
        seen: list[str] = []
        for queue in queues.ALL_QUEUES:
            if queues.CATEGORY[queue] not in seen:
                seen.append(queues.CATEGORY[queue])
        assert list(queues.CATEGORIES) == seen

    def test_other_queues_are_not_counted_in_totals(self) -> None:
        """trash, incorrect-format and disabled are left out of totals; every other queue counts."""
        expected = set(queues.ALL_QUEUES) - {"trash", "incorrect-format", "disabled"}
        assert expected == set(queues.COUNTED_IN_TOTALS)

    def test_error_queues(self) -> None:
        """The error category holds the five error queues."""
        expected = ("corrupt", "in-use", "inaccessible", "password-protected",
                    "awaiting-intervention")  # fmt: skip
        assert expected == queues.ERROR_QUEUES

    def test_dispatch_order(self) -> None:
        """run-now, then rescheduled, then retry, then unattempted."""
        expected = ("run-now", "rescheduled", "retry", "unattempted")
        assert expected == queues.DISPATCH_ORDER

    def test_never_dispatched(self) -> None:
        """paused, disabled, trash, incorrect-format and every error queue are never dispatched."""
        expected = {"paused", "disabled", "trash", "incorrect-format", *queues.ERROR_QUEUES}
        assert expected == set(queues.NEVER_DISPATCHED)
        assert not set(queues.NEVER_DISPATCHED) & set(queues.DISPATCH_ORDER)

    def test_not_rediscovered(self) -> None:
        """trash and incorrect-format items are not brought back by rediscovery."""
        assert frozenset({"trash", "incorrect-format"}) == queues.NOT_REDISCOVERED

    def test_operator_targets(self) -> None:
        """Operator moves go to run-now, rescheduled, paused, disabled, trash, unattempted,
        incorrect-format or (with a reason) successful."""
        expected = {
            "run-now",
            "rescheduled",
            "paused",
            "disabled",
            "trash",
            "unattempted",
            "incorrect-format",
            "successful",
        }
        assert expected == set(queues.OPERATOR_TARGETS)

    def test_builtin_statuses_match_the_models(self) -> None:
        """The built-in statuses here are the ones the config models know."""
        assert tuple(models.BUILTIN_STATUSES) == BUILTIN_STATUSES
        expected = ("ok", "failed", "timeout", "hung", "start-failed", "interrupted")
        assert expected == BUILTIN_STATUSES

    def test_task_modes_match_the_models(self) -> None:
        """The modes a task may name in YAML are exactly the domain's, the default recurring."""
        field = models.Task.model_fields["mode"]
        assert (MODES, MODE_RECURRING) == (get_args(field.annotation), field.default)


class TestBackoffDelay:
    """backoff_delay: initial * factor ** (n - 1), capped at max."""

    def test_first_retry_waits_initial(self) -> None:
        """The first retry waits the initial delay."""
        expected = 60.0
        assert expected == backoff_delay(Backoff(initial=60, factor=2.0, max=3600), 1)

    def test_each_retry_multiplies_by_factor(self) -> None:
        """Retry n waits initial * factor ** (n - 1)."""
        backoff = Backoff(initial=60, factor=2.0, max=3600)
        expected = [60.0, 120.0, 240.0, 480.0]
        assert expected == [backoff_delay(backoff, n) for n in range(1, 5)]

    def test_capped_at_max(self) -> None:
        """No delay is longer than max."""
        expected = 3600.0
        assert expected == backoff_delay(Backoff(initial=60, factor=2.0, max=3600), 10)

    def test_huge_retry_number_is_capped_not_overflowing(self) -> None:
        """A retry number far past any float range still gives max."""
        expected = 3600.0
        assert expected == backoff_delay(Backoff(initial=60, factor=10.0, max=3600), 100_000)

    def test_zero_initial_never_waits(self) -> None:
        """An initial delay of 0 means retries are due at once."""
        expected = 0.0
        assert expected == backoff_delay(Backoff(initial=0, factor=2.0, max=3600), 50_000)

    def test_retry_number_below_one_counts_as_first(self) -> None:
        """A retry number of 0 or less is treated as the first retry."""
        expected = 60.0
        assert expected == backoff_delay(Backoff(initial=60, factor=2.0, max=3600), 0)

    @given(
        initial=st.integers(min_value=0, max_value=100_000),
        factor=st.floats(min_value=1.0, max_value=1000.0),
        maximum=st.integers(min_value=0, max_value=10_000_000),
        retry=st.integers(min_value=1, max_value=5_000),
    )
    def test_monotone_and_capped(
        self, initial: int, factor: float, maximum: int, retry: int
    ) -> None:
        """Delays never shrink from one retry to the next and never pass max."""
        backoff = Backoff(initial=initial, factor=factor, max=maximum)
        first, second = backoff_delay(backoff, retry), backoff_delay(backoff, retry + 1)
        assert first <= second <= maximum
        assert first >= 0.0


class TestAfterAttempt:
    """after_attempt: the next queue of an item after one attempt."""

    def test_ok_goes_to_successful(self) -> None:
        """Status ok with no rule queue means successful."""
        expected = Decision("successful", None, "succeeded with status ok")
        assert expected == after_attempt(
            status="ok", rule_queue=None, policy=policy(), retries_used=0, now=NOW
        )

    def test_rule_naming_successful_wins_for_any_status(self) -> None:
        """A custom status whose rule names successful is a success."""
        decision = after_attempt(
            status="#000", rule_queue="successful", policy=policy(), retries_used=0, now=NOW
        )
        expected = ("successful", None)
        assert expected == (decision.queue, decision.retry_at)

    def test_first_failure_is_retried_after_initial_backoff(self) -> None:
        """A failure with retries left goes to retry, due after the initial backoff."""
        expected = Decision("retry", NOW + 60, "retry 1 of 5 in 1m")
        assert expected == after_attempt(
            status="failed", rule_queue=None, policy=policy(), retries_used=0, now=NOW
        )

    def test_second_retry_waits_longer(self) -> None:
        """The second retry waits initial * factor."""
        expected = Decision("retry", NOW + 120, "retry 2 of 5 in 2m")
        assert expected == after_attempt(
            status="timeout", rule_queue=None, policy=policy(), retries_used=1, now=NOW
        )

    def test_exhausted_retries_go_to_exhausted_queue(self) -> None:
        """With every retry used, a failure goes to the policy's exhausted queue."""
        decision = after_attempt(
            status="failed", rule_queue=None, policy=policy(), retries_used=5, now=NOW
        )
        expected = ("awaiting-intervention", None)
        assert expected == (decision.queue, decision.retry_at)
        assert decision.reason.startswith("retries exhausted (5 of 5)")

    def test_exhausted_retries_go_to_rule_queue_when_named(self) -> None:
        """With every retry used, the outcome rule's queue wins over exhausted_queue."""
        decision = after_attempt(
            status="corrupt", rule_queue="corrupt", policy=policy(), retries_used=5, now=NOW
        )
        expected = "corrupt"
        assert expected == decision.queue

    def test_a_single_retry_allowed_is_taken_once(self) -> None:
        """max_retries 1: the first failure is retried, the second goes to the exhausted queue."""
        first = after_attempt(
            status="failed", rule_queue=None, policy=policy(max_retries=1), retries_used=0, now=NOW
        )
        second = after_attempt(
            status="failed", rule_queue=None, policy=policy(max_retries=1), retries_used=1, now=NOW
        )
        assert Decision("retry", NOW + 60, "retry 1 of 1 in 1m") == first
        assert ("awaiting-intervention", None) == (second.queue, second.retry_at)

    def test_ok_routed_elsewhere_says_where(self) -> None:
        """Status ok that a rule routes to another queue is never retried; the reason says why."""
        expected = Decision("corrupt", None, "status ok routes to corrupt")
        assert expected == after_attempt(
            status="ok", rule_queue="corrupt", policy=policy(), retries_used=0, now=NOW
        )

    def test_status_not_in_retry_on_routes_to_rule_queue(self) -> None:
        """A status the policy does not retry goes straight to its rule's queue."""
        decision = after_attempt(
            status="locked",
            rule_queue="password-protected",
            policy=policy(retry_on=["#001", "timeout"]),
            retries_used=0,
            now=NOW,
        )
        expected = ("password-protected", None)
        assert expected == (decision.queue, decision.retry_at)
        assert "status locked routes to password-protected" in decision.reason

    def test_status_in_retry_on_is_retried(self) -> None:
        """A custom status listed in retry_on is retried."""
        decision = after_attempt(
            status="#001",
            rule_queue=None,
            policy=policy(retry_on=["#001"]),
            retries_used=0,
            now=NOW,
        )
        expected = "retry"
        assert expected == decision.queue

    def test_default_retry_on_retries_interrupted(self) -> None:
        """With retry_on unset, every failure status (interrupted too) is retried."""
        decision = after_attempt(
            status="interrupted", rule_queue=None, policy=policy(), retries_used=0, now=NOW
        )
        expected = "retry"
        assert expected == decision.queue

    def test_zero_max_retries_disables_retries(self) -> None:
        """max_retries 0 sends a failure straight to the exhausted queue."""
        decision = after_attempt(
            status="failed",
            rule_queue=None,
            policy=policy(max_retries=0, exhausted_queue="paused"),
            retries_used=0,
            now=NOW,
        )
        expected = ("paused", None)
        assert expected == (decision.queue, decision.retry_at)
        assert decision.reason.startswith("retries disabled")

    def test_negative_max_retries_disables_retries(self) -> None:
        """A negative max_retries also disables retries."""
        decision = after_attempt(
            status="failed", rule_queue=None, policy=policy(max_retries=-1), retries_used=0, now=NOW
        )
        expected = "awaiting-intervention"
        assert expected == decision.queue

    def test_ok_routed_elsewhere_is_not_retried(self) -> None:
        """Status ok that a rule routes to an error queue goes there at once: ok is no failure."""
        decision = after_attempt(
            status="ok", rule_queue="in-use", policy=policy(), retries_used=0, now=NOW
        )
        expected = ("in-use", None)
        assert expected == (decision.queue, decision.retry_at)

    @given(
        status=st.sampled_from(["failed", "timeout", "hung", "start-failed", "interrupted", "#1"]),
        rule_queue=st.sampled_from([None, "corrupt", "in-use", "paused", "incorrect-format"]),
        max_retries=st.integers(min_value=-3, max_value=20),
        retries_used=st.integers(min_value=0, max_value=25),
        initial=st.integers(min_value=0, max_value=7200),
    )
    def test_a_retry_always_goes_to_the_retry_queue(
        self,
        status: str,
        rule_queue: str | None,
        max_retries: int,
        retries_used: int,
        initial: int,
    ) -> None:
        """A retry decision is never a never-dispatched queue and is never due before now."""
        decision = after_attempt(
            status=status,
            rule_queue=rule_queue,
            policy=policy(max_retries=max_retries, initial=initial),
            retries_used=retries_used,
            now=NOW,
        )
        retried = decision.retry_at is not None
        assert retried == (decision.queue == "retry")
        if retried:
            assert decision.queue not in queues.NEVER_DISPATCHED
            assert decision.retry_at is not None and decision.retry_at >= NOW

    @given(
        status=st.sampled_from(["failed", "timeout", "hung", "interrupted", "#1"]),
        max_retries=st.integers(min_value=-3, max_value=30),
        retry_on=st.one_of(st.none(), st.lists(st.sampled_from(["failed", "hung", "#1"]))),
    )
    def test_retries_never_exceed_max_retries(
        self, status: str, max_retries: int, retry_on: list[str] | None
    ) -> None:
        """Failing again and again is retried at most max_retries times, then leaves retry."""
        rules = policy(max_retries=max_retries, retry_on=retry_on)
        retries_used = 0
        while True:
            decision = after_attempt(
                status=status, rule_queue=None, policy=rules, retries_used=retries_used, now=NOW
            )
            if decision.queue != "retry":
                break
            retries_used += 1
            assert retries_used <= max_retries
        expected = "awaiting-intervention"
        assert expected == decision.queue

    @given(
        status=st.sampled_from(["failed", "timeout", "hung", "start-failed", "interrupted"]),
        max_retries=st.integers(min_value=-100, max_value=0),
        retries_used=st.integers(min_value=0, max_value=10),
    )
    def test_non_positive_max_retries_never_retry(
        self, status: str, max_retries: int, retries_used: int
    ) -> None:
        """max_retries of 0 or less never produces a retry."""
        decision = after_attempt(
            status=status,
            rule_queue=None,
            policy=policy(max_retries=max_retries),
            retries_used=retries_used,
            now=NOW,
        )
        expected = "retry"
        assert expected != decision.queue


class TestDispatch:
    """dispatch_rank and eligible."""

    def test_rank_follows_dispatch_order(self) -> None:
        """run-now ranks before rescheduled, retry and unattempted."""
        ranks = [dispatch_rank(q) for q in queues.DISPATCH_ORDER]
        expected = [0, 1, 2, 3]
        assert expected == ranks

    def test_undispatched_queues_rank_last(self) -> None:
        """Every other queue ranks after all dispatched ones."""
        others = [q for q in queues.ALL_QUEUES if q not in queues.DISPATCH_ORDER]
        assert {NOT_DISPATCHED_RANK} == {dispatch_rank(q) for q in others}

    def test_run_now_ignores_schedule(self) -> None:
        """A run-now item may start out of schedule."""
        assert eligible("run-now", None, NOW, in_schedule=False)

    def test_unattempted_and_rescheduled_need_schedule(self) -> None:
        """unattempted and rescheduled items start only in schedule."""
        actual = [
            eligible(q, None, NOW, in_schedule=s)
            for q in ("unattempted", "rescheduled")
            for s in (True, False)
        ]
        expected = [True, False, True, False]
        assert expected == actual

    def test_retry_waits_for_backoff(self) -> None:
        """A retry item is eligible only once retry_at has passed."""
        assert not eligible("retry", NOW + 1, NOW, in_schedule=True)
        assert eligible("retry", NOW, NOW, in_schedule=True)
        assert eligible("retry", None, NOW, in_schedule=True)

    def test_retry_needs_schedule(self) -> None:
        """A due retry still needs the task to be in schedule."""
        assert not eligible("retry", NOW - 1, NOW, in_schedule=False)

    def test_other_queues_never_eligible(self) -> None:
        """Items outside the dispatch queues never start."""
        others = [q for q in queues.ALL_QUEUES if q not in queues.DISPATCH_ORDER]
        expected: list[str] = []
        assert expected == [q for q in others if eligible(q, None, NOW, in_schedule=True)]


class TestCheckMove:
    """check_move: what an operator may do with `runner move`."""

    def test_allowed_move(self) -> None:
        """Moving an error-queue item to run-now is allowed."""
        assert check_move("awaiting-intervention", "run-now") is None

    def test_every_operator_target_is_reachable_from_an_error_queue(self) -> None:
        """Each operator target accepts an item from an error queue."""
        refused = [q for q in queues.OPERATOR_TARGETS if check_move("corrupt", q) is not None]
        expected: list[str] = []
        assert expected == refused

    def test_successful_needs_a_reason(self) -> None:
        """A move to successful declares work done by hand: only with a reason."""
        assert check_move("paused", "successful") is None
        message = check_reason("successful", "  ")
        assert message is not None and message.startswith("a move to 'successful' marks the item")
        assert "--reason TEXT" in message
        assert check_reason("successful", "copied by hand") is None
        assert [None] * 3 == [check_reason(t, "") for t in ("run-now", "trash", "incorrect-format")]

    def test_non_targets_are_refused_with_a_way_out(self) -> None:
        """Moving to retry, incomplete or error queues are refused, with a fix."""
        for target in ("retry", "incomplete", *queues.ERROR_QUEUES):
            message = check_move("paused", target)
            assert message is not None
            assert f"'{target}'" in message
            assert "move it to" in message

    def test_same_queue_is_refused(self) -> None:
        """Moving an item to the queue it is in is refused."""
        expected = "already in 'paused'"
        assert expected == check_move("paused", "paused")

    def test_unknown_target_gets_a_suggestion(self) -> None:
        """A misspelt queue name is refused with the nearest valid name."""
        message = check_move("paused", "run-nwo")
        assert message is not None
        assert "unknown target queue 'run-nwo'; did you mean 'run-now'?" in message

    def test_unknown_source_is_refused(self) -> None:
        """An unknown source queue is refused too."""
        message = check_move("pasued", "run-now")
        assert message is not None
        assert "did you mean 'paused'?" in message

    def test_unknown_queue_far_from_every_name_lists_the_queues(self) -> None:
        """A name close to no queue gets no guess: the message lists every queue, in order."""
        message = check_move("paused", "zzzz")
        assert message is not None
        head, _, listed = message.partition("queues are: ")
        assert "unknown target queue 'zzzz'; " == head
        assert list(queues.ALL_QUEUES) == listed.split(", ")

    def test_unknown_source_is_named_as_the_source(self) -> None:
        """The refusal says it is the source queue (`--from-queue`) that is unknown."""
        message = check_move("pasued", "run-now")
        assert message is not None
        assert message.startswith("unknown source queue 'pasued'; ")

    def test_error_queue_refusal_says_how_to_hold_the_item(self) -> None:
        """Moving into an error queue is refused with the way out: paused or disabled."""
        message = check_move("paused", "corrupt")
        assert message is not None
        assert message.endswith("; move it to paused or disabled to hold it")

    def test_missing_attributes_limit_the_targets(self) -> None:
        """An item lacking required attributes may not be queued to run."""
        message = check_move("incomplete", "run-now", missing_attributes=["server", "db"])
        assert message is not None
        assert message.startswith("lacks attributes server, db; fix the group")

    def test_missing_attributes_may_still_be_parked(self) -> None:
        """An item lacking attributes may go to paused, disabled, trash or incorrect-format,
        not to successful."""
        actual = [
            check_move("incomplete", q, missing_attributes=["server"])
            for q in ("paused", "disabled", "trash", "incorrect-format")
        ]
        expected = [None, None, None, None]
        assert check_move("incomplete", "successful", missing_attributes=["server"]) is not None
        assert expected == actual


class TestRediscovery:
    """after_rediscovery and at_run_start."""

    def test_new_member_is_unattempted(self) -> None:
        """A new member with every required attribute enters unattempted."""
        expected = "unattempted"
        assert expected == after_rediscovery(None, missing_attributes=False)

    def test_new_member_without_attributes_is_incomplete(self) -> None:
        """A new member lacking required attributes enters incomplete."""
        expected = "incomplete"
        assert expected == after_rediscovery(None, missing_attributes=True)

    def test_incomplete_leaves_once_attributes_arrive(self) -> None:
        """An incomplete item whose attributes are now supplied becomes unattempted."""
        expected = "unattempted"
        assert expected == after_rediscovery("incomplete", missing_attributes=False)

    def test_waiting_item_that_lost_attributes_becomes_incomplete(self) -> None:
        """A waiting item that lost required attributes goes to incomplete."""
        expected = "incomplete"
        assert expected == after_rediscovery("retry", missing_attributes=True)

    def test_trash_and_incorrect_format_stay(self) -> None:
        """Rediscovery never brings items back from trash or incorrect-format."""
        actual = [
            after_rediscovery(q, missing_attributes=m)
            for q in sorted(queues.NOT_REDISCOVERED)
            for m in (False, True)
        ]
        expected = ["incorrect-format", "incorrect-format", "trash", "trash"]
        assert expected == actual

    def test_recurring_run_starts_successful_items_again(self) -> None:
        """In recurring mode successful items become unattempted and retry items stay due in
        retry, both with their retry count and backoff reset (docs/behaviour.md)."""
        actual = [
            at_run_start(Standing(q, 3, NOW + 60), "recurring") for q in ("successful", "retry")
        ]
        expected = [Standing("unattempted", 0, None), Standing("retry", 0, None)]
        assert expected == actual

    def test_recurring_run_keeps_operator_and_error_queues(self) -> None:
        """A new recurring run keeps paused, run-now and error-queue items where they are."""
        kept = ("paused", "run-now", "rescheduled", "corrupt", "trash", "incomplete")
        assert list(kept) == [at_run_start(Standing(q), "recurring").queue for q in kept]

    def test_once_mode_carries_state_over(self) -> None:
        """In once mode every queue carries over to the next run."""
        actual = [at_run_start(Standing(q, 2, NOW), "once").queue for q in queues.ALL_QUEUES]
        assert list(queues.ALL_QUEUES) == actual


@dataclass(frozen=True)
class _Move:
    at: float
    applied_at: float | None


class TestPendingMoves:
    """at_attempt_end and superseded: an operator's move of a running item."""

    def test_pending_move_wins_with_counters_reset(self) -> None:
        """The operator's queue replaces the policy's, with no retries used and no backoff."""
        decided = Standing("retry", 3, NOW + 60)
        assert Standing("paused", 0, None) == at_attempt_end(decided, "paused")

    def test_without_a_move_the_decision_stands(self) -> None:
        """No pending move: the policy's queue and counters; a backoff only in retry."""
        actual = [
            at_attempt_end(Standing("retry", 3, NOW + 60), None),
            at_attempt_end(Standing("corrupt", 5, NOW + 60), None),
        ]
        assert [Standing("retry", 3, NOW + 60), Standing("corrupt", 5, None)] == actual

    def test_unapplied_move_followed_by_another_is_superseded(self) -> None:
        """Of two moves made while the item ran, the first never took effect."""
        moves = [_Move(NOW, None), _Move(NOW + 1, NOW + 5)]
        assert [True, False] == superseded(moves)

    def test_still_pending_move_is_not_superseded(self) -> None:
        """The last move, still waiting for the attempt to end, is pending, not superseded."""
        moves = [_Move(NOW, NOW), _Move(NOW + 1, None)]
        assert [False, False] == superseded(moves)

    def test_older_state_marking_both_applied(self) -> None:
        """A state file that marked both applied: the one a later move preceded is superseded."""
        moves = [_Move(NOW, NOW + 5), _Move(NOW + 1, NOW + 5), _Move(NOW + 9, NOW + 9)]
        assert [True, False, False] == superseded(moves)

    def test_move_at_the_same_instant_after_application_is_not_superseding(self) -> None:
        """A waiting item's move applies at once; a later move at the same instant replaces
        nothing."""
        moves = [_Move(NOW, NOW), _Move(NOW, NOW)]
        assert [False, False] == superseded(moves)
