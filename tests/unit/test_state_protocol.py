"""The SQLite store implements every operation of the store protocol, with the same signature."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from runner.state import SQLiteStore, StateStore, open_store

_PROTOCOL_DUNDERS = {"__enter__", "__exit__"}


def _protocol_members() -> dict[str, object]:
    return {
        name: value
        for name, value in vars(StateStore).items()
        if (not name.startswith("_") or name in _PROTOCOL_DUNDERS)
        and (inspect.isfunction(value) or isinstance(value, property))
    }


def test_the_protocol_lists_the_operations_callers_use() -> None:
    members = _protocol_members()
    for name in ("batch", "begin_run", "finish_attempts", "move_item", "change_counter", "path"):
        assert name in members
    assert "connection" not in members  # a backend's handle is not the callers' business


@pytest.mark.parametrize(
    "name", sorted(n for n, v in _protocol_members().items() if inspect.isfunction(v))
)
def test_every_protocol_method_exists_with_a_matching_signature(name: str) -> None:
    wanted = inspect.signature(getattr(StateStore, name))
    implementation = getattr(SQLiteStore, name, None)
    assert callable(implementation), f"SQLiteStore has no {name}()"
    found = inspect.signature(implementation)
    assert list(wanted.parameters.values()) == list(found.parameters.values())
    if wanted.return_annotation == "AbstractContextManager[None]":
        # a @contextmanager generator: annotated with what it yields
        assert hasattr(implementation, "__wrapped__")
        assert "Iterator[None]" == found.return_annotation
    else:
        assert wanted.return_annotation == found.return_annotation


def test_protocol_properties_are_readable_on_an_open_store(tmp_path: Path) -> None:
    properties = [n for n, v in _protocol_members().items() if isinstance(v, property)]
    assert properties
    with open_store(tmp_path / "state.db") as store:
        assert isinstance(store, SQLiteStore)
        for name in properties:
            assert getattr(store, name) is not None
        assert tmp_path / "state.db" == store.path
