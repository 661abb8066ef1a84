"""Finding a run: exact ids, unique prefixes, and errors that say what to do next."""

from __future__ import annotations

import pytest
from store_helpers import run_info

from atomiton.errors import RunNotFoundError
from atomiton.store import SqlStore


@pytest.fixture
def filled(store: SqlStore) -> SqlStore:
    for i, run_id in enumerate(["abc123", "abd456", "x_y%z", "x0y"]):
        store.begin_run(run_info(run_id, started_at=1000.0 + i))
    return store


def test_exact_id(filled: SqlStore) -> None:
    assert filled.get_run("abc123").run_id == "abc123"


def test_unique_prefix(filled: SqlStore) -> None:
    assert filled.get_run("abc").run_id == "abc123"
    assert filled.get_run("abd").run_id == "abd456"


def test_like_wildcards_in_a_prefix_are_literal(filled: SqlStore) -> None:
    assert filled.get_run("x_").run_id == "x_y%z"  # '_' would match 'x0y' too as a wildcard
    assert filled.get_run("x_y%").run_id == "x_y%z"


def test_ambiguous_prefix_lists_the_matches(filled: SqlStore) -> None:
    with pytest.raises(RunNotFoundError) as info:
        filled.get_run("ab")
    message = str(info.value)
    assert "run id prefix 'ab' is ambiguous: it matches" in message
    assert "abc123" in message
    assert "abd456" in message
    assert info.value.hint == "give more characters of the id"
    assert info.value.run_id == "ab"


def test_unknown_id_hints_recent_runs(filled: SqlStore) -> None:
    with pytest.raises(RunNotFoundError) as info:
        filled.get_run("nope")
    error = info.value
    assert error.message.startswith("no run 'nope' in the history at ")
    assert error.message.endswith("history.db")
    assert error.hint == "recent runs: x0y, x_y%z, abd456, abc123; `atomiton runs` lists them all"
    assert error.to_dict()["run_id"] == "nope"


def test_empty_id_is_not_a_prefix_of_everything(filled: SqlStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run ''"):
        filled.get_run("")


def test_empty_history_says_so(store: SqlStore) -> None:
    with pytest.raises(RunNotFoundError) as info:
        store.get_run("r")
    assert info.value.hint is not None
    assert info.value.hint.startswith("the history is empty")


def test_events_of_an_unknown_run_raise(filled: SqlStore) -> None:
    with pytest.raises(RunNotFoundError, match="no run 'missing'"):
        filled.events("missing")


def test_events_of_a_run_without_events_are_empty(filled: SqlStore) -> None:
    assert filled.events("abc123") == []
