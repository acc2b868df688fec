"""Fuzzing the loader: whatever is in a pipeline file, the only error is a ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config.loader import load_pipeline
from runner.config.yamlread import read_yaml_file
from runner.errors import ConfigError

REAL_KEYS = [
    "version", "settings", "schedules", "groups", "definitions", "policies", "tasks",
    "state", "logs", "site", "concurrency", "secrets", "cron", "timezone", "window",
    "members", "file", "command", "timeout", "include", "exclude", "id", "server",
    "shell", "requires", "idle_timeout", "env", "cwd", "outcomes", "when", "exit_code",
    "stdout", "stderr", "status", "queue", "max_retries", "retry_on", "backoff", "initial",
    "factor", "max", "exhausted_queue", "schedule", "definition", "group", "policy", "mode",
    "before", "after", "run", "wait", "on_failure", "enabled", "<<",
]  # fmt: skip
TRAPS = [
    "NO", "no", "yes", "on", "Off", "y", "n", "012", "0x1F", "0o17", "0b11", "1_000",
    "12:30", "190:20:30", "99:99:99", "100:00:00", "2024-01-01", "2024-01-01 10:00:00",
    "~", "null", "true", "False", ".inf", "-.5", "1e3", "@daily", "0 18 * * 1-5",
    "{{ item.id }}", "{{ itme.id }}", "{{", "{% if %}", "../outside.csv", "/etc/hostname",
    "data.csv", "x; rm -rf /", "(?i)password", "((", "#001", "once", "recurring", "error",
]  # fmt: skip

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

keys = st.one_of(st.sampled_from(REAL_KEYS), st.text(max_size=12))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(TRAPS),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(keys, inner, max_size=6),
    ),
    max_leaves=40,
)
sections = st.dictionaries(
    st.sampled_from(["schedules", "groups", "definitions", "policies", "tasks", "settings"]),
    st.dictionaries(st.one_of(st.sampled_from(["a", "b", "hosts"]), st.text(max_size=8)), values),
    max_size=6,
)
documents = st.one_of(
    sections.map(lambda body: {"version": 1, **body}),
    st.dictionaries(keys, values, max_size=8),
    values,
)


def plain_line(depth: int, key: str, value: str) -> str:
    """One `key: value` line of hand-written YAML, unquoted (so traps stay traps)."""
    return "  " * depth + f"{key}: {value}"


raw_texts = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4),
        st.sampled_from(REAL_KEYS),
        st.sampled_from([*TRAPS, "", "[", "]", "{", "&a x", "*a", "- x"]),
    ),
    max_size=25,
).map(lambda lines: "\n".join(plain_line(*line) for line in lines) + "\n")

deep_texts = st.integers(min_value=1, max_value=3000).flatmap(
    lambda depth: st.sampled_from(
        [
            "version: 1\nx: " + "[" * depth + "]" * depth + "\n",
            "version: 1\n" + "".join("  " * i + "k:\n" for i in range(min(depth, 300))),
            "version: 1\nx: " + "{a: " * depth + "1" + "}" * depth + "\n",
        ]
    )
)


VALID = Path(__file__).resolve().parent.parent / "fixtures" / "valid" / "full.yaml"


def paths_of(data: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every key path inside ``data``."""
    found: list[tuple[object, ...]] = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(paths_of(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(paths_of(value, (*prefix, index)))
    return found


def replaced(data: object, path: tuple[object, ...], value: object) -> object:
    """A copy of ``data`` with the value at ``path`` replaced (or deleted when value is ...)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        copy = dict(data)
        if rest or value is not Ellipsis:
            copy[head] = replaced(copy[head], rest, value)
        else:
            del copy[head]
        return copy
    assert isinstance(data, list) and isinstance(head, int)
    items = list(data)
    if rest or value is not Ellipsis:
        items[head] = replaced(items[head], rest, value)
    else:
        del items[head]
    return items


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file the examples are written to in turn, next to the group file full.yaml uses."""
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "data").mkdir()
    (directory / "data" / "archives.csv").write_text("id\nx1\n", encoding="utf-8")
    return directory / "pipeline.yaml"


def load_only_config_errors(path: Path) -> None:
    """Load ``path``: succeeding or a ConfigError are both fine; anything else fails."""
    try:
        load_pipeline(path)
    except ConfigError as error:
        assert error.issues
        assert all(str(issue) for issue in error.issues)


class TestFuzz:
    """Random pipeline files never crash the loader."""

    @SETTINGS
    @given(document=documents)
    def test_random_documents(self, pipeline_file: Path, document: object) -> None:
        """Random nested data dumped as YAML gives a Pipeline or a ConfigError."""
        pipeline_file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        load_only_config_errors(pipeline_file)

    @SETTINGS
    @given(data=st.data())
    def test_mutated_valid_pipeline(self, pipeline_file: Path, data: st.DataObject) -> None:
        """A valid pipeline with one value replaced or removed gives a Pipeline or a ConfigError."""
        original = read_yaml_file(VALID).data
        path = data.draw(st.sampled_from(paths_of(original)[1:]))
        value = data.draw(st.one_of(st.just(Ellipsis), values))
        document = replaced(original, path, value)
        pipeline_file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        load_only_config_errors(pipeline_file)

    @SETTINGS
    @given(text=raw_texts)
    def test_hand_written_yaml_with_traps(self, pipeline_file: Path, text: str) -> None:
        """Unquoted trap values, anchors and broken syntax give a ConfigError at most."""
        pipeline_file.write_text(text, encoding="utf-8")
        load_only_config_errors(pipeline_file)

    @settings(max_examples=30, deadline=None)
    @given(text=deep_texts)
    def test_deep_nesting(self, pipeline_file: Path, text: str) -> None:
        """Deeply nested data is refused without a crash."""
        pipeline_file.write_text(text, encoding="utf-8")
        load_only_config_errors(pipeline_file)

    @settings(max_examples=70, deadline=None)
    @given(data=st.binary(max_size=400))
    def test_random_bytes(self, pipeline_file: Path, data: bytes) -> None:
        """Arbitrary bytes give a ConfigError at most."""
        pipeline_file.write_bytes(data)
        load_only_config_errors(pipeline_file)
