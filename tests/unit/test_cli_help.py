"""The help texts and the misspelt-verb message of the `runner` command."""

from __future__ import annotations

import pytest

from runner import exitcodes
from runner.cli import build_parser, main
from runner.cli.manpage import render


def _help(capsys: pytest.CaptureFixture[str], *verb: str) -> str:
    with pytest.raises(SystemExit):
        main([*verb, "--help"])
    return capsys.readouterr().out


def test_a_misspelt_verb_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["valdiate", "pipelines"])
    assert exitcodes.BAD_CONFIG == stop.value.code
    assert "unknown verb 'valdiate'; did you mean 'validate'?" in capsys.readouterr().err


def test_an_unknown_verb_lists_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["xyzzy"])
    assert "verbs: validate, plan, run" in capsys.readouterr().err


def test_the_exit_code_table_is_in_runner_help_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert "75  another runner holds the lock" in _help(capsys)
    for verb in ("validate", "run", "schema", "status", "history"):
        text = _help(capsys, verb)
        assert "75" not in text
        assert "exit codes: see `runner --help`" in text


def test_schema_help_does_not_mention_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert "PATH" not in _help(capsys, "schema")


@pytest.mark.parametrize("verb", ["history", "explain"])
def test_one_item_verbs_show_one_item(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    usage = _help(capsys, verb).splitlines()[0]
    assert f"usage: runner {verb} [-h] --task T [--json] [PATH] ITEM" == usage


def test_status_help_names_every_task_status(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_help(capsys, "status").split())
    assert "new, scheduled, idle, running, interrupted, failed, disabled" in text
    assert "older than 60 s" in text


def test_the_man_page_has_every_verb() -> None:
    page = render()
    assert page.startswith(".TH RUNNER")
    for verb in build_parser()._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
        assert verb in page
