"""spreadsheet: the Atomiton test workbooks in every format, sheets, headers, ranges, errors."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest

from atomiton.errors import NodeError
from atomiton.library.spreadsheet import spreadsheet

DATA = Path(__file__).parents[2] / "fixtures" / "atomiton"
USERS = [
    {"name": "Alice", "age": "30", "email": "alice@example.com", "city": "New York"},
    {"name": "Bob", "age": "25", "email": "bob@example.com", "city": "Los Angeles"},
    {"name": "Charlie", "age": "35", "email": "charlie@example.com", "city": "Chicago"},
    {"name": "Diana", "age": "28", "email": "diana@example.com", "city": "Houston"},
]


def test_csv_file() -> None:
    out = spreadsheet(path=str(DATA / "test-data.csv"))
    assert out == {
        "records": USERS,
        "headers": ["name", "age", "email", "city"],
        "rowCount": 4,
        "format": "csv",
        "sheetName": "Sheet1",
        "sheetNames": ["Sheet1"],
        "delimiter": ",",
    }


def test_tsv_detected_by_extension() -> None:
    out = spreadsheet(filePath=str(DATA / "test-data-tab.tsv"))
    assert out["delimiter"] == "\t"
    assert out["records"][0] == {
        "name": "Eve",
        "age": "29",
        "email": "eve@example.com",
        "city": "Phoenix",
    }
    assert out["rowCount"] == 3


@pytest.mark.parametrize("name", ["test-data.xlsx", "test-data.ods"])
def test_workbooks_read_their_first_sheet_as_strings(name: str) -> None:
    out = spreadsheet(path=str(DATA / name))
    assert out["records"] == USERS
    assert out["sheetName"] == "Users"
    assert out["sheetNames"] == ["Users", "Products", "Sales"]
    assert out["format"] == name.rsplit(".", 1)[1]
    assert "delimiter" not in out


@pytest.mark.parametrize("name", ["test-data.xlsx", "test-data.ods"])
def test_sheet_by_name_and_index(name: str) -> None:
    by_name = spreadsheet(path=str(DATA / name), sheetName="Products")
    assert by_name["records"][0] == {
        "product": "Laptop",
        "price": "999.99",
        "stock": "15",
        "category": "Electronics",
    }
    by_index = spreadsheet(path=str(DATA / name), sheetIndex=2)
    assert by_index["sheetName"] == "Sales"
    assert by_index["records"][1] == {
        "date": "2024-01-02",
        "amount": "2300.5",
        "region": "South",
        "product_id": "2",
    }


def test_unknown_sheet_lists_the_sheets() -> None:
    with pytest.raises(
        NodeError, match=r'Sheet "Nope" not found\. Available sheets: Users, Products, Sales'
    ):
        spreadsheet(path=str(DATA / "test-data.xlsx"), sheetName="Nope")


def test_sheet_index_out_of_range() -> None:
    with pytest.raises(NodeError, match=r"Sheet index 3 out of range\. Workbook has 3 sheets\."):
        spreadsheet(path=str(DATA / "test-data.ods"), sheetIndex=3)


def test_without_headers_rows_are_lists() -> None:
    out = spreadsheet(path=str(DATA / "test-data-no-headers.xlsx"), hasHeaders=False)
    assert out["headers"] == []
    assert out["records"][0] == ["Alice", "30", "alice@example.com", "New York"]
    assert out["rowCount"] == 3
    csv = spreadsheet(path=str(DATA / "test-data.csv"), hasHeaders=False)
    assert csv["records"][0] == ["name", "age", "email", "city"]
    assert csv["rowCount"] == 5


def test_inline_csv_with_quotes_ragged_rows_and_blank_lines() -> None:
    text = 'a;b;c\n"x;1";" y ";\n\n"he said ""hi"""\n'
    out = spreadsheet(data=text, delimiter=";")
    assert out["records"] == [
        {"a": "x;1", "b": "y", "c": ""},
        {"a": 'he said "hi"', "b": "", "c": ""},
    ]
    kept = spreadsheet(data=text, delimiter=";", skipEmptyLines=False)
    assert kept["rowCount"] == 3


def test_empty_and_repeated_headers() -> None:
    out = spreadsheet(data="a,,a,a\n1,2,3,4\n")
    assert out["headers"] == ["a", "__EMPTY", "a_1", "a_2"]


def test_range_selects_a_block() -> None:
    out = spreadsheet(path=str(DATA / "test-data.xlsx"), sheetName="Sales", range="B1:C3")
    assert out["records"] == [
        {"amount": "1500", "region": "North"},
        {"amount": "2300.5", "region": "South"},
    ]
    open_ended = spreadsheet(path=str(DATA / "test-data.csv"), range="C2")
    assert open_ended["headers"] == ["alice@example.com", "New York"]


def test_bad_range() -> None:
    with pytest.raises(NodeError, match="'1A:B' is not an A1-style range"):
        spreadsheet(path=str(DATA / "test-data.csv"), range="1A:B")


def test_string_input_is_csv_text_or_an_existing_file() -> None:
    assert spreadsheet(input="x,y\n1,2\n")["records"] == [{"x": "1", "y": "2"}]
    upstream = {"result": str(DATA / "test-data.csv"), "success": True}
    assert spreadsheet(input=upstream)["rowCount"] == 4


def test_file_system_read_output_feeds_the_text() -> None:
    upstream = {"result": "k\nv\n", "content": "k\nv\n", "success": True, "path": "/x.csv"}
    assert spreadsheet(input=upstream)["records"] == [{"k": "v"}]


def test_inline_workbook_bytes_and_base64() -> None:
    content = (DATA / "test-data.xlsx").read_bytes()
    assert spreadsheet(data=content, format="xlsx")["rowCount"] == 4
    b64 = base64.b64encode((DATA / "test-data.ods").read_bytes()).decode()
    assert spreadsheet(data=b64, format="ods", sheetName="Sales")["rowCount"] == 3


def test_inline_workbook_that_is_not_base64() -> None:
    with pytest.raises(NodeError, match="must be bytes or base64 text"):
        spreadsheet(data="not base64!", format="xlsx")


def test_flat_ods() -> None:
    with zipfile.ZipFile(io.BytesIO((DATA / "test-data.ods").read_bytes())) as archive:
        flat = archive.read("content.xml")
    assert spreadsheet(data=flat, format="fods")["records"] == USERS


def test_no_data() -> None:
    with pytest.raises(NodeError, match="No spreadsheet data provided"):
        spreadsheet()
    with pytest.raises(NodeError, match=r"the input is dict, not text"):
        spreadsheet(input={"a": 1})


def test_missing_file() -> None:
    with pytest.raises(NodeError, match=r"File not found: /no/such\.csv"):
        spreadsheet(path="/no/such.csv")


def test_unknown_extension(tmp_path: Path) -> None:
    (tmp_path / "f.dat").write_text("a\n1\n")
    with pytest.raises(NodeError, match="cannot tell the format"):
        spreadsheet(path=str(tmp_path / "f.dat"))
    assert spreadsheet(path=str(tmp_path / "f.dat"), format="csv")["rowCount"] == 1


def test_corrupt_workbooks(tmp_path: Path) -> None:
    (tmp_path / "bad.xlsx").write_bytes(b"garbage")
    with pytest.raises(NodeError, match="cannot read the workbook"):
        spreadsheet(path=str(tmp_path / "bad.xlsx"))
    (tmp_path / "bad.ods").write_bytes(b"garbage")
    with pytest.raises(NodeError, match="cannot read the ods document"):
        spreadsheet(path=str(tmp_path / "bad.ods"))


def test_encoding_and_bad_delimiter(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_bytes("n\ncafé\n".encode("latin-1"))
    with pytest.raises(NodeError, match=r"cannot decode .* as utf-8"):
        spreadsheet(path=str(tmp_path / "l.csv"))
    assert spreadsheet(path=str(tmp_path / "l.csv"), encoding="latin-1")["records"] == [
        {"n": "café"}
    ]
    with pytest.raises(NodeError, match="delimiter must be one character"):
        spreadsheet(data="a\n", delimiter="::")


def test_ods_repeated_cells_and_rows() -> None:
    """LibreOffice compresses runs of equal cells and pads sheets with huge empty repeats."""
    doc = (
        '<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body>'
        '<office:spreadsheet><table:table table:name="T">'
        "<table:table-row><table:table-cell><text:p>h</text:p></table:table-cell>"
        '<table:table-cell table:number-columns-repeated="2"><text:p>k</text:p>'
        "</table:table-cell></table:table-row>"
        '<table:table-row table:number-rows-repeated="2"><table:table-cell '
        'table:number-columns-repeated="3"><text:p>v</text:p></table:table-cell>'
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/>'
        "</table:table-row></table:table></office:spreadsheet></office:body></office:document>"
    )
    out = spreadsheet(data=doc.encode(), format="fods")
    assert out["headers"] == ["h", "k", "k_1"]
    assert out["records"] == [{"h": "v", "k": "v", "k_1": "v"}] * 2
    assert out["sheetNames"] == ["T"]
