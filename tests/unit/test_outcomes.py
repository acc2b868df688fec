"""Tests of runner.domain.outcomes: outcome-rule matching."""

from __future__ import annotations

from runner.config.definitions import OutcomeRule
from runner.domain import outcomes
from runner.domain.outcomes import Classification, classify


def rule(status: str, queue: str | None = None, **when: object) -> OutcomeRule:
    """An outcome rule from keyword conditions (exit_code, stdout, stderr)."""
    return OutcomeRule.model_validate({"when": when, "status": status, "queue": queue})


SPEC_RULES = [
    rule("ok", exit_code=0),
    rule("#001", exit_code=[3, 4]),
    rule("locked", "password-protected", stderr="(?i)password protected"),
    rule("corrupt", "corrupt", exit_code=9),
]


def exited(
    rules: list[OutcomeRule], exit_code: int | None, stdout: str = "", stderr: str = ""
) -> Classification:
    """Classify an attempt that exited by itself."""
    return classify(
        rules, process_outcome="exited", exit_code=exit_code, stdout=stdout, stderr=stderr
    )


class TestBuiltinOutcomes:
    """Attempts that did not exit by themselves."""

    def test_non_exits_get_their_builtin_status(self) -> None:
        """timeout, hung, start-failed and interrupted become that status, with no rule."""
        for outcome in ("timeout", "hung", "start-failed", "interrupted"):
            expected = Classification(outcome, None, None)
            assert expected == classify(
                SPEC_RULES, process_outcome=outcome, exit_code=None, stdout="", stderr=""
            )

    def test_rules_are_not_consulted_for_a_timeout(self) -> None:
        """A timed-out attempt is a timeout even if its output matches a rule."""
        actual = classify(
            SPEC_RULES,
            process_outcome="timeout",
            exit_code=None,
            stdout="",
            stderr="Password Protected",
        )
        assert Classification("timeout", None, None) == actual

    def test_unknown_outcome_is_failed(self) -> None:
        """An outcome this module does not know counts as failed."""
        actual = classify(SPEC_RULES, process_outcome="vanished", exit_code=0, stdout="", stderr="")
        assert Classification("failed", None, None) == actual


class TestDefaults:
    """No matching rule: exit 0 is ok, anything else failed."""

    def test_exit_zero_is_ok(self) -> None:
        """Exit code 0 with no rules is ok."""
        assert Classification("ok", None, None) == exited([], 0)

    def test_non_zero_exit_is_failed(self) -> None:
        """A non-zero exit with no rules is failed."""
        assert Classification("failed", None, None) == exited([], 1)

    def test_signal_death_is_failed(self) -> None:
        """A process killed by a signal (no exit code) is failed."""
        assert Classification("failed", None, None) == exited([], None)

    def test_unmatched_non_zero_exit_is_failed(self) -> None:
        """An exit code no rule names falls back to failed."""
        assert Classification("failed", None, None) == exited(SPEC_RULES, 7)


class TestRules:
    """First matching rule wins; every condition of a rule must hold."""

    def test_exit_code_rule(self) -> None:
        """A rule on one exit code matches that code."""
        assert Classification("corrupt", "corrupt", 3) == exited(SPEC_RULES, 9)

    def test_exit_code_list_rule(self) -> None:
        """A rule on a list of exit codes matches each of them."""
        actual = [exited(SPEC_RULES, code) for code in (3, 4)]
        expected = [Classification("#001", None, 1)] * 2
        assert expected == actual

    def test_stderr_regex_searches_anywhere(self) -> None:
        """A stderr regex matches anywhere in the text, with its own flags."""
        actual = exited(SPEC_RULES, 1, stderr="error: file is PASSWORD PROTECTED\nbye\n")
        assert Classification("locked", "password-protected", 2) == actual

    def test_first_matching_rule_wins(self) -> None:
        """Exit 0 matches the first rule even if stderr would match a later one."""
        actual = exited(SPEC_RULES, 0, stderr="password protected")
        assert Classification("ok", None, 0) == actual

    def test_every_condition_must_match(self) -> None:
        """A rule with an exit code and a stdout regex needs both."""
        rules = [rule("partial", "in-use", exit_code=2, stdout=r"^skipped \d+")]
        assert Classification("failed", None, None) == exited(rules, 2, stdout="done")
        assert Classification("failed", None, None) == exited(rules, 1, stdout="skipped 3")
        assert Classification("partial", "in-use", 0) == exited(rules, 2, stdout="skipped 3")

    def test_stdout_rule_without_exit_code_matches_signal_death(self) -> None:
        """A rule with only an output condition also applies when there is no exit code."""
        rules = [rule("oom", "awaiting-intervention", stderr="Killed")]
        expected = Classification("oom", "awaiting-intervention", 0)
        assert expected == exited(rules, None, stderr="Killed")

    def test_exit_code_rule_never_matches_signal_death(self) -> None:
        """A rule on an exit code does not match a process with no exit code."""
        rules = [rule("zero", exit_code=0)]
        assert Classification("failed", None, None) == exited(rules, None)

    def test_rule_can_turn_non_zero_exit_into_ok(self) -> None:
        """A rule may declare a non-zero exit a success."""
        rules = [rule("ok", exit_code=1, stdout="nothing to do")]
        assert Classification("ok", None, 0) == exited(rules, 1, stdout="nothing to do\n")

    def test_regexes_are_compiled_once(self) -> None:
        """Classifying many attempts compiles each pattern only once."""
        outcomes._compiled.cache_clear()
        for _ in range(50):
            exited(SPEC_RULES, 1, stderr="password protected")
        expected = 1
        assert expected == outcomes._compiled.cache_info().misses
