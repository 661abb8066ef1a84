"""``large-csv-processor``: each step of the query, each filter operator, each output format,
and the errors for unknown columns, operators and unreadable files."""

from __future__ import annotations

import csv
import importlib.util
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from atomiton.errors import NodeError
from atomiton.library.large_csv import large_csv_processor
from atomiton.nodes.decorator import definition_of

ROWS = [
    {"id": 1, "name": "apple", "category": "fruit", "price": 1.5, "qty": 10, "note": "red"},
    {"id": 2, "name": "banana", "category": "fruit", "price": 0.5, "qty": 30, "note": ""},
    {"id": 3, "name": "carrot", "category": "veg", "price": 0.8, "qty": 20, "note": "orange"},
    {"id": 4, "name": "daikon", "category": "veg", "price": 2.0, "qty": 5, "note": ""},
    {"id": 5, "name": "eggplant", "category": "veg", "price": 3.0, "qty": 7, "note": "purple"},
]


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "items.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    return str(path)


def ids(result: Mapping[str, Any]) -> list[int]:
    return [r["id"] for r in result["records"]]


def test_definition() -> None:
    definition = definition_of(large_csv_processor)
    assert definition is not None
    assert definition.id == "large-csv-processor"
    assert definition.input_names == ("path",)
    assert {"filter", "groupBy", "aggregations", "derive", "output"} <= {
        p.name for p in definition.parameters
    }


def test_no_steps_returns_every_row(table: str) -> None:
    result = large_csv_processor(table, previewRows=2)
    assert result["rows"] == 5
    assert result["columns"] == list(ROWS[0])
    assert len(result["preview"]) == 2
    assert result["output"] is None
    assert result["elapsed_ms"] >= 0


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"column": "category", "op": "==", "value": "veg"}, [3, 4, 5]),
        ({"column": "category", "op": "!=", "value": "veg"}, [1, 2]),
        ({"column": "price", "op": "<", "value": 0.8}, [2]),
        ({"column": "price", "op": "<=", "value": 0.8}, [2, 3]),
        ({"column": "qty", "op": ">", "value": 10}, [2, 3]),
        ({"column": "qty", "op": ">=", "value": 10}, [1, 2, 3]),
        ({"column": "name", "op": "in", "value": ["apple", "daikon"]}, [1, 4]),
        ({"column": "name", "op": "not_in", "value": ["apple", "daikon"]}, [2, 3, 5]),
        ({"column": "name", "op": "contains", "value": "an"}, [2, 5]),
        ({"column": "note", "op": "is_null"}, [2, 4]),
        ({"column": "note", "op": "not_null"}, [1, 3, 5]),
    ],
)
def test_filter_operators(table: str, condition: dict[str, Any], expected: list[int]) -> None:
    result = large_csv_processor(table, filter=[condition], sort=[{"column": "id"}])
    assert ids(result) == expected


def test_conditions_combine_with_and_or_and_groups(table: str) -> None:
    veg = {"column": "category", "op": "==", "value": "veg"}
    cheap = {"column": "price", "op": "<", "value": 1}
    sort = [{"column": "id"}]
    assert ids(large_csv_processor(table, filter=[veg, cheap], sort=sort)) == [3]
    assert ids(large_csv_processor(table, filter=[veg, cheap], combine="or", sort=sort)) == [
        2,
        3,
        4,
        5,
    ]
    nested: list[dict[str, Any]] = [{"or": [cheap, {"column": "id", "op": "==", "value": 5}]}, veg]
    assert ids(large_csv_processor(table, filter=nested, sort=sort)) == [3, 5]


def test_derive_select_sort_limit(table: str) -> None:
    result = large_csv_processor(
        table,
        derive=[
            {"as": "total", "expr": "price * qty"},
            {"as": "odd", "expr": "-(total - 2 ** 3) // 4 + abs(-1) + round(price / 3, 2)"},
        ],
        select=["name", "total"],
        sort=[{"column": "total", "descending": True}],
        limit=2,
    )
    assert result["columns"] == ["name", "total"]
    assert result["records"] == [
        {"name": "eggplant", "total": 21.0},
        {"name": "carrot", "total": 16.0},
    ]


def test_derive_as_a_mapping_and_quoted_column(tmp_path: Path) -> None:
    path = tmp_path / "spaced.csv"
    path.write_text("unit price,qty\n2,3\n")
    result = large_csv_processor(str(path), derive={"cost": 'col("unit price") * qty % 4'})
    assert result["records"] == [{"unit price": 2, "qty": 3, "cost": 2}]


def test_group_by_with_every_aggregation(table: str) -> None:
    fns = ["sum", "mean", "min", "max", "count", "n_unique", "first", "last", "median", "std"]
    result = large_csv_processor(
        table,
        groupBy=["category"],
        aggregations=[{"column": "qty", "fn": fn} for fn in fns] + [{"fn": "count", "as": "n"}],
        sort=[{"column": "category"}],
    )
    veg = result["records"][1]
    assert result["columns"] == ["category", *(f"qty_{fn}" for fn in fns), "n"]
    assert veg["category"] == "veg"
    assert (veg["qty_sum"], veg["qty_min"], veg["qty_max"], veg["n"]) == (32, 5, 20, 3)
    assert veg["qty_mean"] == pytest.approx(32 / 3)
    assert (veg["qty_count"], veg["qty_n_unique"], veg["qty_median"]) == (3, 3, 7.0)
    assert veg["qty_std"] == pytest.approx(8.1445, abs=1e-3)


def test_aggregations_without_group_by_and_group_by_alone(table: str) -> None:
    whole = large_csv_processor(table, aggregations=[{"column": "price", "fn": "max", "as": "top"}])
    assert whole["records"] == [{"top": 3.0}]
    counted = large_csv_processor(table, groupBy=["category"], sort=[{"column": "category"}])
    assert counted["records"] == [
        {"category": "fruit", "count": 2},
        {"category": "veg", "count": 3},
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".ipc"])
def test_writes_each_output_format(table: str, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / "out" / f"result{suffix}"
    result = large_csv_processor(
        table, filter=[{"column": "qty", "op": ">=", "value": 10}], output=str(target)
    )
    assert result["output"] == str(target)
    assert result["rows"] == 3
    assert "records" not in result
    readers: dict[str, Any] = {
        ".csv": pl.read_csv,
        ".parquet": pl.read_parquet,
        ".ipc": pl.read_ipc,
    }
    written = readers[suffix](target)
    assert sorted(written["id"].to_list()) == [1, 2, 3]
    assert len(result["preview"]) == 3


def test_streams_a_file_across_many_chunks(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "big.csv"
    rows = [(i, rng.choice("abcde"), rng.randint(0, 100)) for i in range(200_000)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "key", "value"])
        writer.writerows(rows)
    result = large_csv_processor(
        str(path),
        filter=[{"column": "value", "op": ">", "value": 50}],
        groupBy=["key"],
        aggregations=[{"column": "value", "fn": "sum", "as": "total"}],
        sort=[{"column": "key"}],
    )
    expected: dict[str, int] = {}
    for _, key, value in rows:
        if value > 50:
            expected[key] = expected.get(key, 0) + value
    assert {r["key"]: r["total"] for r in result["records"]} == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"select": ["nmae"]}, "select: unknown column 'nmae' (did you mean 'name'? available"),
        ({"filter": [{"column": "cost", "op": ">", "value": 1}]}, "filter: unknown column 'cost'"),
        ({"filter": [{"column": "qty", "op": "~", "value": 1}]}, "unknown operator '~'"),
        ({"filter": [{"op": ">", "value": 1}]}, "has no 'column'"),
        ({"filter": [{"column": "qty", "op": "in", "value": 3}]}, "'in' needs a list value"),
        ({"filter": [{"and": []}]}, "filter group 'and' is empty"),
        ({"groupBy": ["kind"]}, "groupBy: unknown column 'kind'"),
        ({"aggregations": [{"column": "qty", "fn": "avg"}]}, "unknown function 'avg'"),
        ({"aggregations": [{"fn": "sum"}]}, "'sum' needs a 'column'"),
        ({"aggregations": [{"column": "x", "fn": "sum"}]}, "aggregations[0]: unknown column 'x'"),
        ({"sort": [{"column": "nope"}]}, "sort: unknown column 'nope'"),
        ({"derive": [{"as": "t", "expr": "price *"}]}, "derive 't': cannot parse 'price *'"),
        ({"derive": [{"as": "t", "expr": "cost * 2"}]}, "derive 't': unknown column 'cost'"),
        ({"derive": [{"as": "t", "expr": "price.real"}]}, "'price.real' is not allowed"),
        ({"derive": [{"as": "t", "expr": "__import__('os')"}]}, "'__import__(...)' is not allowed"),
        ({"derive": [{"as": "t", "expr": "'a' + name"}]}, "''a'' is not allowed"),
        ({"derive": [{"expr": "qty"}]}, "derive[0] needs 'as'"),
        ({"output": "/tmp/result.xlsx"}, "cannot tell the output format"),
        ({"maxRows": 3}, "more than maxRows=3 rows"),
        ({"filter": [{"column": "name", "op": ">", "value": 3}]}, "the query failed"),
    ],
)
def test_errors(table: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NodeError) as caught:
        large_csv_processor(table, **kwargs)
    assert message in str(caught.value)
    assert str(caught.value).startswith("[large-csv-processor]")


def test_unknown_column_lists_the_available_ones(table: str) -> None:
    with pytest.raises(NodeError) as caught:
        large_csv_processor(table, select=["zzz"])
    assert "available columns: id, name, category, price, qty, note" in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="no such file"):
        large_csv_processor(str(tmp_path / "missing.csv"))
    with pytest.raises(NodeError, match="no such file"):
        large_csv_processor(str(tmp_path))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(NodeError, match=r"cannot read .* as CSV"):
        large_csv_processor(str(empty))


NATIVE_QUERY: dict[str, Any] = {
    "filter": [
        {"column": "category", "op": "==", "value": "veg"},
        {"column": "qty", "op": ">=", "value": 6},
    ],
    "groupBy": ["name"],
    "aggregations": [{"column": "price", "fn": fn} for fn in ("sum", "mean", "min", "max", "count")]
    + [{"column": "qty", "fn": "sum"}, {"fn": "count", "as": "n"}],
    "sort": [{"column": "name"}],
}


@pytest.mark.toolchain("native")
def test_native_backend_gives_polars_answers(table: str) -> None:
    by_polars = large_csv_processor(table, backend="polars", **NATIVE_QUERY)
    by_native = large_csv_processor(table, backend="native", **NATIVE_QUERY)
    assert (by_polars["backend"], by_native["backend"]) == ("polars", "native")
    assert by_native["records"] == by_polars["records"]
    assert by_native["columns"] == by_polars["columns"]
    assert large_csv_processor(table, **NATIVE_QUERY)["backend"] == "native"  # auto, the default


@pytest.mark.toolchain("native")
def test_native_backend_booleans_and_empty_results(tmp_path: Path) -> None:
    path = tmp_path / "flags.csv"
    path.write_text("flag,value\ntrue,1\nfalse,2\ntrue,3\n")
    for backend in ("polars", "native", "auto"):
        grouped = large_csv_processor(
            str(path), backend=backend, groupBy=["flag"], sort=[{"column": "flag"}]
        )
        assert grouped["records"] == [{"flag": False, "count": 1}, {"flag": True, "count": 2}]
        kept = large_csv_processor(
            str(path),
            backend=backend,
            filter=[{"column": "flag", "op": "==", "value": True}],
            aggregations=[{"column": "value", "fn": "sum", "as": "total"}],
        )
        assert kept["records"] == [{"total": 4}]
        nothing = large_csv_processor(
            str(path),
            backend=backend,
            filter=[{"column": "value", "op": ">", "value": 9}],
            aggregations=[{"column": "value", "fn": "max"}, {"fn": "count"}],
        )
        assert nothing["records"] == [{"value_max": None, "count": 0}], backend


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"derive": {"x": "qty * 2"}, "groupBy": ["name"]}, "derive and parseDates"),
        ({}, "only group-by and aggregation queries"),
        ({"aggregations": [{"column": "qty", "fn": "median"}]}, "aggregation 'median'"),
        (
            {"groupBy": ["name"], "filter": [{"column": "qty", "op": "in", "value": [1]}]},
            "filter {'column': 'qty', 'op': 'in'",
        ),
        (
            {"groupBy": ["name"], "filter": [{"column": "qty", "op": "==", "value": "5"}]},
            "filter on 'qty' (Int64) with '5'",
        ),
    ],
)
def test_native_backend_refuses_what_it_cannot_run(
    table: str, kwargs: dict[str, Any], reason: str
) -> None:
    with pytest.raises(NodeError) as caught:
        large_csv_processor(table, backend="native", **kwargs)
    assert "backend 'native' cannot run this query" in str(caught.value)
    if importlib.util.find_spec("atomiton_native") is not None:
        assert reason in str(caught.value)
    if "derive" not in kwargs and "filter" not in kwargs and kwargs:
        assert large_csv_processor(table, backend="auto", **kwargs)["backend"] == "polars"
