"""The pipeline models: keys, defaults, strict types and the checks each model makes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from runner import config as models
from runner.config.definitions import Definition, OutcomeRule, OutcomeWhen
from runner.config.fields import BUILTIN_STATUSES, ERROR_QUEUE_NAMES, QUEUE_NAMES
from runner.config.groups import Group, Member
from runner.config.pipeline import Pipeline, PipelineFile
from runner.config.policies import Backoff, Policy
from runner.config.schedules import Schedule
from runner.config.settings import Settings
from runner.config.tasks import AfterStep, Step, Task
from runner.errors import Location, UsageError

MINIMAL: dict[type[BaseModel], dict[str, Any]] = {
    Settings: {},
    Schedule: {"cron": "@daily"},
    Member: {"id": "a"},
    Group: {"members": "a"},
    OutcomeWhen: {"exit_code": 0},
    OutcomeRule: {"when": {"exit_code": 0}, "status": "ok"},
    Definition: {"command": ["true"]},
    Backoff: {},
    Policy: {},
    Step: {"run": ["true"]},
    AfterStep: {"run": ["true"]},
    Task: {"definition": "d", "group": "g"},
    PipelineFile: {"version": 1},
}
"""The smallest valid mapping of each model."""

CLOSED_MODELS = [model for model in MINIMAL if model is not Member]

SPEC_EXAMPLE = """
version: 1
settings:
  state: .runner/state.db
  logs: .runner/logs
  site: default
  concurrency: 8
  secrets: [SMTP_PASSWORD]
schedules:
  weeknights:
    cron: "0 18 * * 1-5"
    timezone: Europe/London
    window: 12h
groups:
  sales:    {members: "alice@example.com; bob@example.com"}
  finance:  {members: [carol@example.com, {id: dave@example.com, server: ex02}]}
  archives: {file: data/archives.csv}
  ad-group: {command: [./scripts/resolve-group, "CN=dlmmsgroup,CN=Users"], timeout: 2m}
  everyone: {include: [sales, finance, ad-group], exclude: [ceo@example.com]}
definitions:
  replicate-folders:
    command: [./scripts/replicate, --mailbox, "{{ item.id }}", --server, "{{ item.server }}"]
    requires: [server]
    timeout: 2h
    idle_timeout: 15m
    env: {MODE: full}
    cwd: .
    outcomes:
      - {when: {exit_code: 0}, status: ok}
      - {when: {exit_code: [3, 4]}, status: "#001"}
      - {when: {stderr: "(?i)password protected"}, status: locked, queue: password-protected}
      - {when: {exit_code: 9}, status: corrupt, queue: corrupt}
policies:
  migration:
    max_retries: 5
    retry_on: ["#001", "#002", timeout, hung, interrupted]
    backoff: {initial: 1m, factor: 2, max: 1h}
    exhausted_queue: awaiting-intervention
tasks:
  nightly-replication:
    site: default
    schedule: weeknights
    definition: replicate-folders
    group: everyone
    policy: migration
    mode: recurring
    concurrency: 4
    before:
      - run: [./scripts/start-backup]
        timeout: 10m
        wait: completion
        on_failure: error
    after:
      - {run: [./scripts/notify, "{{ run.id }}"], when: always}
"""


def errors_of(model: type[BaseModel], data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """The (location, message) pairs of validating `data`; [] if it is valid."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [(tuple(error["loc"]), error["msg"]) for error in exc.errors()]
    return []


def only_error(model: type[BaseModel], data: Any) -> tuple[tuple[Any, ...], str]:
    """The single error of validating `data`."""
    found = errors_of(model, data)
    assert 1 == len(found), found
    return found[0]


def all_models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    ]


class TestEveryModel:
    def test_minimal_mappings_are_valid(self) -> None:
        """The smallest mapping of each model validates."""
        assert {m.__name__: [] for m in MINIMAL} == {
            m.__name__: errors_of(m, data) for m, data in MINIMAL.items()
        }

    def test_all_models_are_covered(self) -> None:
        """Every model of the module is in the table these tests run over."""
        assert {m.__name__ for m in all_models()} == {m.__name__ for m in MINIMAL}

    @pytest.mark.parametrize("model", CLOSED_MODELS, ids=lambda m: m.__name__)
    def test_unknown_key_is_rejected(self, model: type[BaseModel]) -> None:
        """Every model except Member refuses a key it does not define."""
        loc, message = only_error(model, {**MINIMAL[model], "tiemout": "5s"})
        assert (("tiemout",), "Extra inputs are not permitted") == (loc, message)

    @pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
    def test_is_frozen_and_strict(self, model: type[BaseModel]) -> None:
        """Every model is frozen and strict."""
        assert (True, True) == (model.model_config.get("frozen"), model.model_config.get("strict"))

    @pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
    def test_every_field_and_model_is_described(self, model: type[BaseModel]) -> None:
        """Docs and schema are generated from descriptions, so none may be missing."""
        undescribed = [name for name, info in model.model_fields.items() if not info.description]
        assert ([], True) == (undescribed, bool(model.__doc__))

    def test_assignment_is_refused(self) -> None:
        """A validated model cannot be changed."""
        settings = Settings()
        with pytest.raises(ValidationError, match=r"frozen"):
            settings.concurrency = 2

    @pytest.mark.parametrize(
        ("model", "data", "loc"),
        [
            (Settings, {"concurrency": "8"}, ("concurrency",)),
            (Settings, {"concurrency": True}, ("concurrency",)),
            (Settings, {"concurrency": 8.0}, ("concurrency",)),
            (Settings, {"state": 1}, ("state",)),
            (Settings, {"site": True}, ("site",)),
            (Definition, {"command": ["a"], "shell": "yes"}, ("shell",)),
            (Definition, {"command": ["a"], "shell": 1}, ("shell",)),
            (Definition, {"command": ["a", 1]}, ("command", 1)),
            (Definition, {"command": "a b"}, ("command",)),
            (Definition, {"command": ["a"], "env": {"MODE": 1}}, ("env", "MODE")),
            (Task, {"definition": "d", "group": "g", "enabled": "false"}, ("enabled",)),
            (Policy, {"max_retries": "5"}, ("max_retries",)),
            (Backoff, {"factor": "2"}, ("factor",)),
            (OutcomeWhen, {"exit_code": "0"}, ("exit_code",)),
        ],
    )
    def test_no_coercion(
        self, model: type[BaseModel], data: dict[str, Any], loc: tuple[Any, ...]
    ) -> None:
        """Text is not turned into numbers or booleans, nor numbers or booleans into text."""
        assert {loc} == {error_loc[: len(loc)] for error_loc, _ in errors_of(model, data)}


class TestVocabulary:
    def test_queue_names_follow_the_spec_table(self) -> None:
        """QUEUE_NAMES holds the 15 queues of SPEC §3 in table order."""
        expected = [
            "run-now",
            "rescheduled",
            "retry",
            "unattempted",
            "incomplete",
            "paused",
            "successful",
            "corrupt",
            "in-use",
            "inaccessible",
            "password-protected",
            "awaiting-intervention",
            "trash",
            "incorrect-format",
            "disabled",
        ]
        assert tuple(expected) == QUEUE_NAMES

    def test_error_queues(self) -> None:
        """The error queues are the five of SPEC §3."""
        expected = (
            "corrupt",
            "in-use",
            "inaccessible",
            "password-protected",
            "awaiting-intervention",
        )
        assert expected == ERROR_QUEUE_NAMES

    def test_builtin_statuses(self) -> None:
        """The built-in statuses of SPEC §2."""
        assert (
            "ok",
            "failed",
            "timeout",
            "hung",
            "start-failed",
            "interrupted",
        ) == BUILTIN_STATUSES


class TestSettings:
    def test_defaults(self) -> None:
        """Defaults are those of SPEC §2 plus the keys added here."""
        expected = {
            "state": ".runner/state.db",
            "logs": ".runner/logs",
            "file_mode": "private",
            "site": "default",
            "concurrency": 8,
            "secrets": [],
            "output_limit": 10 * 1024 * 1024,
            "grace": 5.0,
            "lease": 60.0,
            "min_free_disk": 100 * 1024 * 1024,
            "notify": [],
            "retention": {"attempt_output": None, "logs": None, "runs": None},
        }
        assert expected == Settings().model_dump()

    def test_file_mode_is_private_or_group(self) -> None:
        """file_mode takes `private` or `group` only."""
        assert "group" == Settings.model_validate({"file_mode": "group"}).file_mode
        with pytest.raises(ValidationError):
            Settings.model_validate({"file_mode": "world"})

    def test_grace_is_a_duration(self) -> None:
        """grace is written as a duration."""
        assert 90.0 == Settings.model_validate({"grace": "1m30s"}).grace

    @pytest.mark.parametrize(
        ("data", "fragment"),
        [
            ({"concurrency": 0}, "greater than or equal to 1"),
            ({"output_limit": 1023}, "greater than or equal to 1024"),
            ({"min_free_disk": -1}, "greater than or equal to 0"),
            ({"site": "two words"}, "the name 'two words' is not allowed"),
            ({"secrets": ["SMTP-PASSWORD"]}, "not an environment variable name"),
            ({"state": ""}, "at least 1 character"),
        ],
    )
    def test_bad_values(self, data: dict[str, Any], fragment: str) -> None:
        """Out-of-range values and bad names are refused with a message saying why."""
        assert fragment in only_error(Settings, data)[1]


class TestSchedule:
    @pytest.mark.parametrize(
        "cron", ["0 18 * * 1-5", "*/5 * * * *", "0 0 1 1 *", "@daily", "@hourly", "@annually"]
    )
    def test_accepts_five_fields_and_nicknames(self, cron: str) -> None:
        """5-field expressions and the @ nicknames are accepted."""
        assert cron == Schedule.model_validate({"cron": cron}).cron

    @pytest.mark.parametrize(("cron", "count"), [("0 0 18 * * 1-5", 6), ("0 0 18 * * 1-5 2030", 7)])
    def test_six_and_seven_fields_are_refused(self, cron: str, count: int) -> None:
        """Seconds and year fields are refused, saying how many fields were given."""
        message = only_error(Schedule, {"cron": cron})[1]
        assert f"has {count} fields" in message
        assert "seconds and years are not supported" in message

    @pytest.mark.parametrize(
        ("cron", "fragment"),
        [
            ("61 * * * *", "is not a valid cron expression"),
            ("* * *", "has 3 fields"),
            ("", "cannot be empty"),
            ("@reboot", "not a cron nickname"),
            ("@daily 5", "not a cron nickname"),
            ("0 0 31 2 *", "never fires"),
            ("H 0 * * *", "is not a valid cron expression"),
        ],
    )
    def test_bad_cron(self, cron: str, fragment: str) -> None:
        """Invalid expressions are refused with a reason."""
        loc, message = only_error(Schedule, {"cron": cron})
        assert (("cron",), True) == (loc, fragment in message)

    def test_timezone_default_is_utc(self) -> None:
        """An unset time zone is UTC."""
        assert "UTC" == Schedule.model_validate({"cron": "@daily"}).timezone

    def test_unknown_timezone_names_it_and_suggests(self) -> None:
        """A misspelt zone is refused, named, and the nearest zone suggested."""
        loc, message = only_error(Schedule, {"cron": "@daily", "timezone": "Europe/Londn"})
        assert ("timezone",) == loc
        assert "unknown time zone 'Europe/Londn'" in message
        assert "did you mean 'Europe/London'?" in message

    @pytest.mark.parametrize("zone", ["../../etc/passwd", "/etc/localtime", ""])
    def test_path_like_timezone_is_refused(self, zone: str) -> None:
        """Zone names that are paths are refused, not read."""
        assert (
            f"unknown time zone {zone!r}"
            in only_error(Schedule, {"cron": "@daily", "timezone": zone})[1]
        )

    def test_window(self) -> None:
        """window is an optional positive duration."""
        assert 43_200.0 == Schedule.model_validate({"cron": "@daily", "window": "12h"}).window
        assert "longer than zero" in only_error(Schedule, {"cron": "@daily", "window": 0})[1]


class TestMember:
    def test_attributes_are_extra_string_keys(self) -> None:
        """Keys other than id are the member's attributes."""
        member = Member.model_validate({"id": "dave", "server": "ex02", "site": "b"})
        assert ("dave", {"server": "ex02", "site": "b"}) == (member.id, member.attributes)

    @pytest.mark.parametrize("value", [2, True, None, ["x"]])
    def test_non_string_attribute_says_quote_it(self, value: object) -> None:
        """A non-string attribute value is refused with a hint to quote it."""
        assert (
            "attribute 'server' must be a string, quote it"
            in only_error(Member, {"id": "dave", "server": value})[1]
        )

    @pytest.mark.parametrize(
        ("item_id", "fragment"),
        [("", "cannot be empty"), ("a\nb", "line break"), ("a\rb", "line break"), ("a\x00", "NUL")],
    )
    def test_bad_ids(self, item_id: str, fragment: str) -> None:
        """Empty ids and ids with NUL or line breaks are refused."""
        assert fragment in only_error(Member, {"id": item_id})[1]

    def test_id_is_required(self) -> None:
        """A member without id is refused."""
        assert ("id",) == only_error(Member, {"server": "x"})[0]


class TestGroup:
    @pytest.mark.parametrize(
        "data",
        [
            {"members": "alice; bob"},
            {"members": ["carol", {"id": "dave", "server": "ex02"}]},
            {"members": []},
            {"file": "data/archives.csv"},
            {"file": "ids.TXT"},
            {"file": "/srv/ids.jsonl"},
            {"command": ["./resolve", "CN=x"], "timeout": "2m"},
            {"include": ["sales"], "exclude": ["ceo@example.com"]},
        ],
    )
    def test_sources(self, data: dict[str, Any]) -> None:
        """Each kind of source is accepted."""
        assert [] == errors_of(Group, data)

    def test_members_list_holds_members(self) -> None:
        """Mapping entries become Member objects; plain entries stay ids."""
        group = Group.model_validate({"members": ["carol", {"id": "dave", "server": "ex02"}]})
        assert ["carol", Member(id="dave", server="ex02")] == group.members

    def test_needs_a_source(self) -> None:
        """A group without members, file, command or include is refused."""
        assert "at least one source" in only_error(Group, {"exclude": ["x"]})[1]

    def test_file_suffix(self) -> None:
        """A member file must be .csv, .txt or .jsonl."""
        loc, message = only_error(Group, {"file": "members.xlsx"})
        assert (("file",), True) == (loc, "must end in .csv, .txt or .jsonl" in message)

    def test_empty_command_is_refused(self) -> None:
        """A resolver command needs at least the program."""
        assert ("command",) == only_error(Group, {"command": []})[0]

    def test_timeout_only_with_command(self) -> None:
        """timeout without a resolver command is refused."""
        assert (
            "applies only to a resolver command"
            in only_error(Group, {"members": "a", "timeout": "1m"})[1]
        )

    def test_default_timeout(self) -> None:
        """A resolver command has 2 minutes by default."""
        assert 120.0 == Group.model_validate({"command": ["x"]}).timeout

    @pytest.mark.parametrize(
        "members", ["a; b; a", ["a", "b", "a"], ["a", {"id": "a", "server": "x"}]]
    )
    def test_duplicate_members_are_refused(self, members: Any) -> None:
        """An id listed twice inline is refused, naming it."""
        assert "the member 'a' is listed twice" in only_error(Group, {"members": members})[1]

    @pytest.mark.parametrize("members", ["a;b\x00c", ["a\nb"], ["a", ""]])
    def test_bad_member_ids(self, members: Any) -> None:
        """Inline ids with NUL, line breaks, or empty ids are refused."""
        assert ("members",) == only_error(Group, {"members": members})[0]

    def test_bad_exclude_id(self) -> None:
        """exclude entries are ids too."""
        assert ("exclude", 0) == only_error(Group, {"members": "a", "exclude": [""]})[0]

    def test_bad_include_name(self) -> None:
        """include entries are group names."""
        assert ("include", 0) == only_error(Group, {"include": ["no good"]})[0]


class TestOutcomes:
    @pytest.mark.parametrize("exit_code", [0, 255, [3, 4]])
    def test_exit_code_forms(self, exit_code: Any) -> None:
        """exit_code is one code or a list of codes."""
        assert exit_code == OutcomeWhen.model_validate({"exit_code": exit_code}).exit_code

    @pytest.mark.parametrize("exit_code", [-1, 256, [], [1, 300]])
    def test_exit_code_range(self, exit_code: Any) -> None:
        """Codes outside 0-255 and empty lists are refused."""
        assert errors_of(OutcomeWhen, {"exit_code": exit_code})

    def test_regex_is_compiled_at_validation(self) -> None:
        """A bad regular expression is refused with the compiler's reason."""
        loc, message = only_error(OutcomeWhen, {"stderr": "(?i)password (protected"})
        assert ("stderr",) == loc
        assert "is not a valid regular expression: missing )" in message

    def test_needs_a_condition(self) -> None:
        """A rule with no condition is refused."""
        assert "at least one condition" in only_error(OutcomeWhen, {})[1]

    @pytest.mark.parametrize("status", ["ok", "#001", "locked", "start-failed"])
    def test_statuses(self, status: str) -> None:
        """Built-in and custom statuses are accepted."""
        rule = OutcomeRule.model_validate({"when": {"exit_code": 0}, "status": status})
        assert status == rule.status

    @pytest.mark.parametrize("status", ["", "two words", "tab\there"])
    def test_bad_statuses(self, status: str) -> None:
        """Empty statuses and statuses with spaces are refused."""
        loc, message = only_error(OutcomeRule, {"when": {"exit_code": 0}, "status": status})
        assert (("status",), True) == (loc, "without spaces" in message)

    @pytest.mark.parametrize(
        "queue", ["password-protected", "corrupt", "successful", "paused", "trash"]
    )
    def test_legal_queues(self, queue: str) -> None:
        """An outcome rule may route to any queue but run-now and retry."""
        rule = OutcomeRule.model_validate({"when": {"exit_code": 9}, "status": "x", "queue": queue})
        assert queue == rule.queue

    @pytest.mark.parametrize("queue", ["run-now", "retry"])
    def test_run_now_and_retry_are_not_targets(self, queue: str) -> None:
        """run-now and retry are refused as outcome targets."""
        data = {"when": {"exit_code": 9}, "status": "x", "queue": queue}
        assert f"cannot be {queue!r}" in only_error(OutcomeRule, data)[1]

    def test_unknown_queue_is_suggested(self) -> None:
        """A misspelt queue is refused with the nearest queue."""
        data = {"when": {"exit_code": 9}, "status": "x", "queue": "corupt"}
        assert "did you mean 'corrupt'?" in only_error(OutcomeRule, data)[1]


class TestDefinition:
    def test_defaults(self) -> None:
        """Unset keys take their documented defaults."""
        definition = Definition.model_validate({"command": ["x"]})
        expected = {
            "command": ["x"],
            "shell": False,
            "requires": [],
            "timeout": None,
            "idle_timeout": None,
            "env": {},
            "cwd": ".",
            "outcomes": [],
            "output_events": [],
        }
        assert expected == definition.model_dump()

    def test_durations(self) -> None:
        """timeout and idle_timeout are durations in seconds."""
        definition = Definition.model_validate(
            {"command": ["x"], "timeout": "2h", "idle_timeout": "15m"}
        )
        assert (7200.0, 900.0) == (definition.timeout, definition.idle_timeout)

    def test_command_template_error_points_at_the_element(self) -> None:
        """An unknown template name is refused at the element, listing the available names."""
        loc, message = only_error(Definition, {"command": ["x", "{{ itme.id }}"]})
        assert ("command", 1) == loc
        assert "unknown name 'itme'; available: item, task, run, attempt, env" in message

    def test_template_syntax_error(self) -> None:
        """A template syntax error is refused at validation."""
        loc, message = only_error(Definition, {"command": ["{% if %}"]})
        assert (("command", 0), True) == (loc, "syntax error" in message)

    def test_env_values_are_templates(self) -> None:
        """env values are compiled like command elements."""
        assert ("env", "MODE") == only_error(
            Definition, {"command": ["x"], "env": {"MODE": "{{ x }}"}}
        )[0]

    @pytest.mark.parametrize(
        ("name", "fragment"), [("RUNNER_ITEM", "reserved"), ("1X", "not an environment")]
    )
    def test_env_names(self, name: str, fragment: str) -> None:
        """env names must be variable names and must not be the runner's own."""
        assert fragment in only_error(Definition, {"command": ["x"], "env": {name: "v"}})[1]

    def test_empty_command_is_refused(self) -> None:
        """A definition needs a command."""
        assert ("command",) == only_error(Definition, {"command": []})[0]

    def test_shell_needs_exactly_one_element(self) -> None:
        """With shell: true, the command is one script."""
        assert (
            "exactly one element"
            in only_error(Definition, {"command": ["echo", "hi"], "shell": True})[1]
        )
        assert [] == errors_of(
            Definition, {"command": ["echo {{ item.id | shquote }}"], "shell": True}
        )

    def test_zero_timeout_is_refused(self) -> None:
        """A timeout of zero would kill every attempt at once and is refused."""
        assert ("timeout",) == only_error(Definition, {"command": ["x"], "timeout": 0})[0]

    def test_outcome_errors_are_located(self) -> None:
        """Errors inside outcome rules carry their index and key."""
        data = {
            "command": ["x"],
            "outcomes": [
                {"when": {"exit_code": 0}, "status": "ok"},
                {"when": {"stdout": "("}, "status": "x"},
            ],
        }
        assert ("outcomes", 1, "when", "stdout") == only_error(Definition, data)[0]


class TestFingerprint:
    def test_is_sixteen_hex_characters(self) -> None:
        """The fingerprint is the first 16 hex digits of a sha256."""
        assert re.fullmatch(
            r"[0-9a-f]{16}", Definition.model_validate({"command": ["x"]}).fingerprint()
        )

    def test_is_stable(self) -> None:
        """The same definition always gives the same fingerprint (it is stored in the state)."""
        definition = Definition.model_validate(
            {
                "command": ["./replicate", "{{ item.id }}"],
                "timeout": "2h",
                "env": {"B": "2", "A": "1"},
            }
        )
        assert "eb5932d364cc5dd9" == definition.fingerprint()

    def test_is_the_hash_of_the_canonical_json(self) -> None:
        """The fingerprint is sha256 of the sorted-keys JSON dump, first 16 hex digits; an
        empty `output_events` (a key added later) is left out so that older hashes hold."""
        definition = Definition.model_validate({"command": ["x"], "requires": ["server"]})
        dumped = definition.model_dump(mode="json")
        del dumped["output_events"]
        canonical = json.dumps(dumped, sort_keys=True)
        expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
        assert expected == definition.fingerprint()

    def test_equal_definitions_written_differently_match(self) -> None:
        """Key order and duration spelling do not change the fingerprint."""
        first = Definition.model_validate(
            {"command": ["x"], "timeout": "1h30m", "env": {"A": "1", "B": "2"}}
        )
        second = Definition.model_validate(
            {"env": {"B": "2", "A": "1"}, "timeout": "01:30:00", "command": ["x"]}
        )
        assert first.fingerprint() == second.fingerprint()

    def test_changes_with_the_command(self) -> None:
        """A different command gives a different fingerprint."""
        first = Definition.model_validate({"command": ["x", "--full"]})
        second = Definition.model_validate({"command": ["x", "--quick"]})
        assert first.fingerprint() != second.fingerprint()


class TestPolicy:
    def test_defaults(self) -> None:
        """The default policy is that of SPEC §2."""
        expected = {
            "max_retries": 5,
            "retry_on": None,
            "backoff": {"initial": 60.0, "factor": 2.0, "max": 3600.0},
            "exhausted_queue": "awaiting-intervention",
        }
        assert expected == Policy().model_dump()

    def test_negative_max_retries_is_allowed(self) -> None:
        """0 or negative disables retries; both are valid."""
        assert -1 == Policy.model_validate({"max_retries": -1}).max_retries

    def test_backoff_written_as_durations(self) -> None:
        """Backoff durations and factor are read; an int factor is a number."""
        backoff = Backoff.model_validate({"initial": "30s", "factor": 3, "max": "2h"})
        assert (30.0, 3.0, 7200.0) == (backoff.initial, backoff.factor, backoff.max)

    @pytest.mark.parametrize("factor", [0.5, float("inf"), float("nan")])
    def test_bad_factor(self, factor: float) -> None:
        """A factor below 1 or not finite is refused."""
        assert ("factor",) == only_error(Backoff, {"factor": factor})[0]

    @pytest.mark.parametrize("queue", ["paused", "corrupt", "awaiting-intervention"])
    def test_exhausted_queue_targets(self, queue: str) -> None:
        """exhausted_queue may be an error queue or paused."""
        assert queue == Policy.model_validate({"exhausted_queue": queue}).exhausted_queue

    @pytest.mark.parametrize(
        ("queue", "fragment"), [("trash", "cannot be 'trash'"), ("awaiting", "not a queue")]
    )
    def test_bad_exhausted_queue(self, queue: str, fragment: str) -> None:
        """Other queues and unknown names are refused."""
        assert fragment in only_error(Policy, {"exhausted_queue": queue})[1]

    def test_ok_is_not_retried(self) -> None:
        """retry_on lists failure statuses; ok is refused."""
        assert ("retry_on", 0) == only_error(Policy, {"retry_on": ["ok"]})[0]


class TestSteps:
    def test_defaults(self) -> None:
        """Step defaults: 10m timeout, wait for completion, warn on failure."""
        step = Step.model_validate({"run": ["./start"]})
        expected = {
            "run": ["./start"],
            "shell": False,
            "timeout": 600.0,
            "wait": "completion",
            "on_failure": "warn",
            "env": {},
            "cwd": ".",
        }
        assert expected == step.model_dump()

    def test_after_step_default_when(self) -> None:
        """After steps run always by default."""
        assert "always" == AfterStep.model_validate({"run": ["x"]}).when

    def test_timeout_ceiling(self) -> None:
        """99:99:99 is accepted; one second more is refused with the ceiling named."""
        assert 362_439.0 == Step.model_validate({"run": ["x"], "timeout": "99:99:99"}).timeout
        assert (
            "at most 99:99:99 (362439 s)" in only_error(Step, {"run": ["x"], "timeout": 362_440})[1]
        )

    def test_step_templates_have_no_item(self) -> None:
        """A step template naming item is refused."""
        assert "unknown name 'item'" in only_error(Step, {"run": ["x", "{{ item.id }}"]})[1]

    @pytest.mark.parametrize(("key", "value"), [("wait", "forever"), ("on_failure", "ignore")])
    def test_literals(self, key: str, value: str) -> None:
        """wait and on_failure take only their documented words."""
        assert (key,) == only_error(Step, {"run": ["x"], key: value})[0]

    def test_after_when_literal(self) -> None:
        """An after step's when is always, success or failure."""
        assert ("when",) == only_error(AfterStep, {"run": ["x"], "when": "sometimes"})[0]

    def test_before_step_has_no_when(self) -> None:
        """`when` belongs to after steps only."""
        assert ("when",) == only_error(Step, {"run": ["x"], "when": "always"})[0]

    def test_shell_takes_one_script(self) -> None:
        """shell: true needs exactly one run element."""
        assert "exactly one element" in only_error(Step, {"run": ["a", "b"], "shell": True})[1]


class TestTask:
    def test_defaults(self) -> None:
        """Task defaults: recurring, enabled, no own site, policy or concurrency."""
        task = Task.model_validate({"definition": "d", "group": "g"})
        expected: tuple[object, ...] = ("recurring", True, None, None, None, None, [], [])
        assert expected == (
            task.mode,
            task.enabled,
            task.site,
            task.policy,
            task.concurrency,
            task.schedule,
            task.before,
            task.after,
        )

    @pytest.mark.parametrize("missing", ["definition", "group"])
    def test_required_keys(self, missing: str) -> None:
        """definition and group are required."""
        data = {"definition": "d", "group": "g"}
        del data[missing]
        assert (missing,) == only_error(Task, data)[0]

    def test_steps_are_parsed(self) -> None:
        """before and after hold steps."""
        task = Task.model_validate(
            {
                "definition": "d",
                "group": "g",
                "before": [{"run": ["a"]}],
                "after": [{"run": ["b"], "when": "failure"}],
            }
        )
        assert (["a"], "failure") == (task.before[0].run, task.after[0].when)

    @pytest.mark.parametrize(
        ("key", "value"), [("mode", "twice"), ("concurrency", 0), ("site", "a b")]
    )
    def test_bad_values(self, key: str, value: object) -> None:
        """mode, concurrency and site are checked."""
        assert (key,) == only_error(Task, {"definition": "d", "group": "g", key: value})[0]


class TestPipelineFile:
    def test_spec_example_validates(self) -> None:
        """The example of SPEC §2 is a valid file."""
        document = PipelineFile.model_validate(yaml.safe_load(SPEC_EXAMPLE))
        task = document.tasks["nightly-replication"]
        assert ("weeknights", 600.0, 43_200.0) == (
            task.schedule,
            task.before[0].timeout,
            document.schedules["weeknights"].window,
        )

    @pytest.mark.parametrize("version", [2, "1", True, None])
    def test_version_must_be_one(self, version: object) -> None:
        """Only the number 1 is a version."""
        assert ("version",) == only_error(PipelineFile, {"version": version})[0][:1]

    def test_version_is_required(self) -> None:
        """A file without version is refused."""
        assert (("version",), "Field required") == only_error(PipelineFile, {})

    @pytest.mark.parametrize("name", ["nightly", "a.b-c_d", "9lives"])
    def test_good_names(self, name: str) -> None:
        """Names start with a letter or digit, then letters, digits, '_', '.', '-'."""
        assert [] == errors_of(PipelineFile, {"version": 1, "policies": {name: {}}})

    @pytest.mark.parametrize("name", ["-x", "a b", "", "a/b", ".hidden", "é"])
    def test_bad_names(self, name: str) -> None:
        """Other names are refused at the key."""
        loc, message = only_error(PipelineFile, {"version": 1, "policies": {name: {}}})
        assert (("policies", name, "[key]"), True) == (loc, "is not allowed" in message)

    def test_sections_default_to_empty(self) -> None:
        """Unset sections are empty mappings; settings is unset."""
        document = PipelineFile.model_validate({"version": 1})
        assert (None, {}, {}, {}, {}, {}) == (
            document.settings,
            document.schedules,
            document.groups,
            document.definitions,
            document.policies,
            document.tasks,
        )

    def test_collects_errors_from_every_section(self) -> None:
        """All errors of a file are reported together."""
        data = {"version": 1, "schedules": {"s": {"cron": "bad"}}, "tasks": {"t": {"group": "g"}}}
        assert {("schedules", "s", "cron"), ("tasks", "t", "definition")} == {
            loc for loc, _ in errors_of(PipelineFile, data)
        }


def _pipeline(root: Path, **overrides: Any) -> Pipeline:
    values: dict[str, Any] = {
        "root": root,
        "files": (root / "a.yaml",),
        "settings": Settings(site="north"),
        "schedules": {},
        "groups": {},
        "definitions": {},
        "policies": MappingProxyType({"careful": Policy(max_retries=1)}),
        "tasks": MappingProxyType(
            {
                "plain": Task(definition="d", group="g"),
                "southern": Task(definition="d", group="g", site="south", policy="careful"),
            }
        ),
        "origins": {("tasks", "plain"): Location(root / "a.yaml", 3, 3, "tasks.plain")},
    }
    values.update(overrides)
    return Pipeline(**values)


class TestPipeline:
    def test_origin_of_a_known_name(self) -> None:
        """origin returns where the name was defined."""
        expected = Location(Path("/p/a.yaml"), 3, 3, "tasks.plain")
        assert expected == _pipeline(Path("/p")).origin("tasks", "plain")

    def test_origin_of_an_unknown_name(self) -> None:
        """origin of an unknown name is a location without a file."""
        assert Location(key_path="tasks.nope") == _pipeline(Path("/p")).origin("tasks", "nope")

    def test_resolve_path(self, tmp_path: Path) -> None:
        """Relative paths are under the root; absolute ones are kept."""
        pipeline = _pipeline(tmp_path)
        assert (tmp_path / "data" / "x.csv", Path("/srv/x.csv")) == (
            pipeline.resolve_path("data/x.csv"),
            pipeline.resolve_path("/srv/x.csv"),
        )

    def test_task_site(self) -> None:
        """A task's own site wins over settings.site."""
        pipeline = _pipeline(Path("/p"))
        assert ("north", "south") == (pipeline.task_site("plain"), pipeline.task_site("southern"))

    def test_policy_for(self) -> None:
        """A task gets its named policy, or the defaults."""
        pipeline = _pipeline(Path("/p"))
        assert (Policy(), 1) == (
            pipeline.policy_for("plain"),
            pipeline.policy_for("southern").max_retries,
        )

    def test_unknown_task_is_a_usage_error_with_a_suggestion(self) -> None:
        """Asking for a task that does not exist names the nearest one."""
        with pytest.raises(UsageError, match=r"no task 'plian'.*did you mean 'plain'\?"):
            _pipeline(Path("/p")).task_site("plian")

    def test_is_frozen(self) -> None:
        """A Pipeline cannot be changed after it is built."""
        pipeline = _pipeline(Path("/p"))
        with pytest.raises(AttributeError):
            pipeline.root = Path("/q")  # type: ignore[misc]
