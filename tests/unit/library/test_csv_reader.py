"""csv-reader: typed rows from a file or text, with limit and columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomiton.errors import NodeError
from atomiton.library.csv_reader import csv_reader

DATA = Path(__file__).parents[2] / "fixtures" / "atomiton"


def test_reads_typed_rows_from_a_file() -> None:
    out = csv_reader(path=str(DATA / "test-data.csv"))
    assert out["rows"][0] == {
        "name": "Alice",
        "age": 30,
        "email": "alice@example.com",
        "city": "New York",
    }
    assert out["columns"] == ["name", "age", "email", "city"]
    assert out["schema"]["age"] == "Int64"
    assert out["rowCount"] == 4
    assert out["path"] == str(DATA / "test-data.csv")


def test_types_nulls_and_dates_from_text() -> None:
    text = "id,x,flag,d,t\n1,1.5,true,2024-01-02,2024-01-02T03:04:05\n2,,false,2024-02-03,\n"
    out = csv_reader(data=text)
    assert out["rows"] == [
        {"id": 1, "x": 1.5, "flag": True, "d": "2024-01-02", "t": "2024-01-02T03:04:05"},
        {"id": 2, "x": None, "flag": False, "d": "2024-02-03", "t": None},
    ]
    assert out["schema"]["d"] == "Date"
    assert "path" not in out
    plain = csv_reader(data=text, parseDates=False)
    assert plain["schema"]["d"] == "String"


def test_limit_columns_and_delimiter() -> None:
    out = csv_reader(path=str(DATA / "test-data-tab.tsv"), delimiter="\t", limit=2)
    assert out["rowCount"] == 2
    picked = csv_reader(path=str(DATA / "test-data.csv"), columns=["city", "name"], limit=1)
    assert picked["rows"] == [{"city": "New York", "name": "Alice"}]
    assert csv_reader(path=str(DATA / "test-data.csv"), limit=0)["rows"] == []


def test_input_string_and_output_object() -> None:
    assert csv_reader(input=str(DATA / "test-data.csv"))["rowCount"] == 4
    upstream = {"result": "a\n1\n2\n", "success": True}
    assert csv_reader(input=upstream)["rows"] == [{"a": 1}, {"a": 2}]


def test_without_headers_and_null_values() -> None:
    out = csv_reader(data="1,NA\n2,3\n", hasHeaders=False, nullValues=["NA"])
    assert out["columns"] == ["column_1", "column_2"]
    assert out["rows"][0] == {"column_1": 1, "column_2": None}


def test_errors() -> None:
    with pytest.raises(NodeError, match=r"\[csv-reader\] no CSV given"):
        csv_reader()
    with pytest.raises(NodeError, match=r"File not found: /no/file\.csv"):
        csv_reader(path="/no/file.csv")
    with pytest.raises(NodeError, match=r"unknown column\(s\) \['zip'\]"):
        csv_reader(path=str(DATA / "test-data.csv"), columns=["zip"])
    with pytest.raises(NodeError, match="limit must be 0 or more"):
        csv_reader(data="a\n1\n", limit=-1)
    with pytest.raises(NodeError, match="delimiter must be one character"):
        csv_reader(data="a\n1\n", delimiter=";;")
    with pytest.raises(NodeError, match="cannot parse the CSV text"):
        csv_reader(data='a,b\n1,2\n3,"4\n', inferSchemaLength=0)
