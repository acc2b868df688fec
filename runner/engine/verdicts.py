"""From a finished process to the record of its attempt: status, queue, retry time, error text.

Pure functions: outcome rules (runner.domain.outcomes) give the status, the policy
(runner.domain.policy.after_attempt) gives the next queue.
"""

from __future__ import annotations

from runner.config.definitions import Definition
from runner.config.policies import Policy
from runner.domain import outcomes
from runner.domain import queues as q
from runner.domain.policy import after_attempt
from runner.domain.statuses import OK
from runner.masking import Masker
from runner.process import Outcome, ProcessResult
from runner.state import AttemptEnd

LAST_ERROR_CHARS = 500
"""How much of the output tail an error text may quote."""


def settle(
    *,
    attempt_id: int,
    task: str,
    item_id: str,
    status: str,
    rule_queue: str | None,
    policy: Policy,
    retries_used: int,
    error: str | None,
    exit_code: int | None,
    signal: int | None,
    now: float,
    duration_s: float,
    launched_at: float | None = None,
) -> AttemptEnd:
    """The record of an attempt whose status is known: the policy decides where the item goes."""
    decision = after_attempt(
        status=status, rule_queue=rule_queue, policy=policy, retries_used=retries_used, now=now
    )
    return AttemptEnd(
        attempt_id=attempt_id,
        task=task,
        item_id=item_id,
        status=status,
        exit_code=exit_code,
        signal=signal,
        error=error,
        queue=decision.queue,
        retry_at=decision.retry_at,
        retries_used=retries_used + (1 if decision.queue == q.RETRY else 0),
        ended_at=now,
        duration_s=duration_s,
        launched_at=launched_at,
    )


def judge(
    result: ProcessResult,
    *,
    definition: Definition,
    policy: Policy,
    attempt_id: int,
    task: str,
    item_id: str,
    retries_used: int,
    masker: Masker,
    now: float,
) -> AttemptEnd:
    """The record of a finished process: outcome rules give its status, the policy its queue."""
    verdict = outcomes.classify(
        definition.outcomes,
        process_outcome=result.outcome,
        exit_code=result.exit_code,
        stdout=result.stdout_tail,
        stderr=result.stderr_tail,
    )
    errors = [] if verdict.status == OK else [error_text(result, verdict.status)]
    if result.output_error is not None:
        errors.append(result.output_error)
    error = masker.mask_text("; ".join(errors)) if errors else None
    return settle(
        attempt_id=attempt_id,
        task=task,
        item_id=item_id,
        status=verdict.status,
        rule_queue=verdict.queue,
        policy=policy,
        retries_used=retries_used,
        error=error,
        exit_code=result.exit_code,
        signal=result.signal,
        now=now,
        duration_s=result.duration_s,
        launched_at=result.started_at,
    )


def start_failed(message: str, now: float) -> ProcessResult:
    """The result of an attempt that could not be started (a template that would not render)."""
    return _not_run("start-failed", message, now)


def not_launched(now: float) -> ProcessResult:
    """The result of a step a stop request kept from launching (it runs again on resume)."""
    return _not_run("interrupted", None, now)


def _not_run(outcome: Outcome, error: str | None, now: float) -> ProcessResult:
    return ProcessResult(
        outcome=outcome,
        exit_code=None,
        signal=None,
        error=error,
        pid=None,
        started_at=now,
        duration_s=0.0,
        stdout_tail="",
        stderr_tail="",
        stdout_truncated=False,
        stderr_truncated=False,
    )


def error_text(result: ProcessResult, status: str) -> str:
    """One line saying why an attempt failed: the OS error, the timeout, or the last output line."""
    if result.outcome == "start-failed":
        return result.error or "the program could not be started"
    if result.outcome in ("timeout", "hung", "interrupted"):
        what = {
            "timeout": "timed out",
            "hung": "hung (no output and no event within idle_timeout)",
            "interrupted": "interrupted",
        }[result.outcome]
        return f"{what} after {result.duration_s:.1f}s"
    tail = result.stderr_tail.strip() or result.stdout_tail.strip()
    last = tail[-LAST_ERROR_CHARS:].splitlines()[-1] if tail else ""
    code = (
        f"exit code {result.exit_code}"
        if result.exit_code is not None
        else f"signal {result.signal}"
    )
    return f"{status}: {code}" + (f": {last}" if last else "")
