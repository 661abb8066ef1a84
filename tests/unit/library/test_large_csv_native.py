"""``large-csv-processor`` on its native backend gives polars' answers, or hands the file to polars.

Every query here runs twice, ``backend="polars"`` and the default ``auto`` (native when it can),
and the records must be equal: nulls from empty fields, booleans in any case, integer keys
written two ways, integers past 2^53, CRLF lines, and a file that crosses the native pass's
4 MiB blocks. Files the native pass cannot read as polars does (quotes, short or blank lines, a
value that does not fit its column) must come back from polars under ``auto`` and fail under
``native``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from atomiton.errors import NodeError
from atomiton.library.large_csv import NATIVE_MAX_GROUPS, large_csv_processor

pytestmark = pytest.mark.toolchain("native")

TRICKY = (
    "key,flag,n,x,text\n"
    "007,TRUE,9007199254740993,1.25,a\n"
    "7,true,1,-0.5,\n"
    ",False,-2,,b\n"
    "8,false,,3.0,a\n"
    "8,True,5,2.5,c\n"
)


def both(path: Path | str, **query: Any) -> dict[str, Any]:
    """Run ``query`` on polars and on auto; assert equal records; return auto's result."""
    by_polars = large_csv_processor(str(path), backend="polars", **query)
    by_auto = large_csv_processor(str(path), **query)
    assert by_auto["records"] == by_polars["records"]
    assert by_auto["columns"] == by_polars["columns"]
    return dict(by_auto)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize(
    "query",
    [
        {"groupBy": ["key"]},
        {"groupBy": ["flag", "key"], "aggregations": [{"column": "n", "fn": "sum"}]},
        {"groupBy": ["text"], "aggregations": [{"column": "x", "fn": f} for f in ("min", "mean")]},
        {
            "filter": [{"column": "text", "op": "!=", "value": "b"}],
            "aggregations": [{"column": "n", "fn": "max"}, {"column": "text", "fn": "count"}],
        },
        {
            "filter": [
                {"column": "flag", "op": "==", "value": True},
                {"column": "n", "op": ">", "value": 1},
            ],
            "groupBy": ["key"],
            "aggregations": [{"column": "n", "fn": "sum"}, {"fn": "count", "as": "rows"}],
        },
        {
            "filter": [{"column": "x", "op": "<=", "value": 2.5}],
            "groupBy": ["text"],
            "aggregations": [{"column": "x", "fn": "sum"}, {"column": "key", "fn": "count"}],
        },
    ],
)
def test_tricky_values_give_polars_answers(
    tmp_path: Path, newline: str, query: dict[str, Any]
) -> None:
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY.replace("\n", newline).encode())
    sort = [{"column": c} for c in query.get("groupBy", [])]
    assert both(path, sort=sort, **query)["backend"] == "native"


def test_integers_past_two_to_the_53_sum_exactly(tmp_path: Path) -> None:
    path = tmp_path / "tricky.csv"
    path.write_text(TRICKY)
    query: dict[str, Any] = {"groupBy": ["key"], "sort": [{"column": "key"}]}
    result = both(path, aggregations=[{"column": "n", "fn": "sum"}], **query)
    assert {r["key"]: r["n_sum"] for r in result["records"]}[7] == 9007199254740994


def test_a_file_across_many_blocks(tmp_path: Path) -> None:
    """About 10 MB: three blocks of the native pass, so rows straddle block ends."""
    n = 400_000
    path = tmp_path / "big.csv"
    pl.DataFrame(
        {
            "id": range(n),
            "category": [f"c{i * 7919 % 13}" for i in range(n)],
            "price": [(i * 104729 % 100_000) / 100 for i in range(n)],
            "qty": [i * 31 % 50 for i in range(n)],
            "flag": [i % 3 == 0 for i in range(n)],
        }
    ).write_csv(path)
    assert path.stat().st_size > 8 * 2**20
    query: dict[str, Any] = {
        "filter": [
            {"column": "flag", "op": "==", "value": False},
            {"column": "qty", "op": ">=", "value": 10},
        ],
        "groupBy": ["category"],
        "aggregations": [
            {"column": "qty", "fn": "sum"},
            {"column": "price", "fn": "max"},
            {"fn": "count", "as": "n"},
        ],
        "sort": [{"column": "category"}],
    }
    by_polars = large_csv_processor(str(path), backend="polars", **query)["records"]
    by_auto = large_csv_processor(str(path), **query)
    assert by_auto["backend"] == "native"
    assert by_auto["records"] == by_polars
    summed: dict[str, Any] = {
        "aggregations": [{"column": "price", "fn": "sum"}],
        "groupBy": ["category"],
    }
    sums = large_csv_processor(str(path), backend="polars", sort=query["sort"], **summed)
    native = large_csv_processor(str(path), sort=query["sort"], **summed)
    # Float sums agree up to the order of additions, which neither engine fixes.
    for mine, theirs in zip(native["records"], sums["records"], strict=True):
        assert mine["price_sum"] == pytest.approx(theirs["price_sum"], rel=1e-12)


def test_many_groups_go_to_polars(tmp_path: Path) -> None:
    """Past NATIVE_MAX_GROUPS groups the native pass hands the query to polars."""
    path = tmp_path / "ids.csv"
    count = NATIVE_MAX_GROUPS + 500
    path.write_text("id,n\n" + "".join(f"{i},{i % 7}\n" for i in range(count)))
    query: dict[str, Any] = {
        "groupBy": ["id"],
        "aggregations": [{"column": "n", "fn": "sum"}],
        "sort": [{"column": "id"}],
    }
    result = both(path, **query)
    assert (result["backend"], result["rows"]) == ("polars", count)
    few = both(path, filter=[{"column": "id", "op": "<", "value": 100}], **query)
    assert few["backend"] == "native"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('key,n\n"a",1\nb,2\n', "quoted fields"),
        ("key,n\na,1\nb\n", "a short row: polars reads the missing field as null"),
        ("key,n\na,1\n\nb,2\n", "a blank line: polars reads a row of nulls"),
        ("key , n\na,1\nb,2\n", "names with blanks: polars keeps them, native trims them"),
    ],
)
def test_files_native_cannot_read_as_polars_are_answered_by_polars(
    tmp_path: Path, text: str, why: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(text)
    key, n = text.split("\n")[0].split(",")
    query: dict[str, Any] = {
        "groupBy": [key],
        "aggregations": [{"column": n, "fn": "sum"}],
        "sort": [{"column": key}],
    }
    assert both(path, **query)["backend"] == "polars", why
    with pytest.raises(NodeError, match=r"backend 'native' cannot read .* the way polars does"):
        large_csv_processor(str(path), backend="native", **query)


@pytest.mark.parametrize(
    "text",
    [
        "key,n\n" + "a,1\n" * 150 + "b,1.5\n",  # n is Int64 from the first 100 rows
        "key,n\na,1,2\nb,2\n",  # a row longer than the header
    ],
)
def test_files_polars_rejects_fail_as_they_do_on_polars(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    query: dict[str, Any] = {"groupBy": ["key"], "aggregations": [{"column": "n", "fn": "sum"}]}
    for backend in ("polars", "auto"):
        with pytest.raises(NodeError, match="the query failed"):
            large_csv_processor(str(path), backend=backend, **query)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"groupBy": ["x"]}, "group key 'x' (Float64"),
        ({"groupBy": ["key"], "aggregations": [{"column": "text", "fn": "sum"}]}, "of 'text'"),
        ({"groupBy": ["key"], "filter": [{"column": "flag", "op": "==", "value": 1}]}, "'flag'"),
    ],
)
def test_queries_native_does_not_run_go_to_polars(
    tmp_path: Path, query: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "tricky.csv"
    path.write_text(TRICKY)
    with pytest.raises(NodeError) as caught:
        large_csv_processor(str(path), backend="native", **query)
    assert reason in str(caught.value)
    if "sum" in str(query):  # polars cannot sum text either: auto fails as polars does
        with pytest.raises(NodeError, match="the query failed"):
            large_csv_processor(str(path), **query)
    else:
        assert large_csv_processor(str(path), **query)["backend"] == "polars"
