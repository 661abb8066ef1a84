"""``spreadsheet``: read CSV, TSV, XLSX/XLS/XLSB and ODS into records, as Atomiton does.

Every cell comes back as the text a spreadsheet shows (Atomiton reads with SheetJS ``raw:
false``), so flows that compare ``row.active === 'true'`` keep working; empty cells are ``""``.
Use ``csv-reader`` for typed values. The sheet is parsed into a grid of strings first (Python's
``csv`` for text, calamine through fastexcel for Excel files, the ODS XML directly because
calamine rejects the whitespace SheetJS writes into ODS files), then ``range``, empty-line
skipping and header handling apply to that grid alike for every format.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from atomiton.library._compat import first_given, node_failure, primary
from atomiton.nodes import node

_TYPE = "spreadsheet"
Format = Literal["csv", "tsv", "xlsx", "xls", "xlsb", "ods", "fods"]
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
    ".xlsb": "xlsb",
    ".ods": "ods",
    ".fods": "fods",
}


class SpreadsheetOutput(TypedDict, total=False):
    records: list[Any]
    headers: list[str]
    rowCount: int
    format: str
    sheetName: str
    sheetNames: list[str]
    delimiter: str


@node(id="spreadsheet", name="Spreadsheet", category="data", icon="table-2")
def spreadsheet(
    input: Any = None,
    path: str | None = None,
    filePath: str | None = None,
    data: str | bytes | None = None,
    *,
    format: Format | None = None,
    sheetName: str | None = None,
    sheetIndex: int | None = None,
    hasHeaders: bool = True,
    range: str | None = None,
    delimiter: str | None = None,
    skipEmptyLines: bool = True,
    encoding: str = "utf-8",
) -> SpreadsheetOutput:
    """Read a CSV, TSV, Excel or ODS sheet (a file or inline data) into records."""
    source_path, raw = _source(primary(input), first_given(path, filePath), data)
    kind = format or (_format_of(source_path) if source_path else "csv")
    if kind in ("csv", "tsv"):
        sep = delimiter or ("\t" if kind == "tsv" else ",")
        text = _text(source_path, raw, encoding)
        book = Workbook(["Sheet1"], {"Sheet1": _parse_delimited(text, sep)})
    else:
        content = source_path.read_bytes() if source_path else _binary(raw)
        book = _read_ods(content, kind) if kind in ("ods", "fods") else _read_excel(content)
        sep = None
    name = _pick_sheet(book, sheetName, sheetIndex)
    grid = _apply_range(book.sheets[name], range)
    if skipEmptyLines:
        grid = [row for row in grid if any(cell != "" for cell in row)]
    records, headers = _records(grid, hasHeaders)
    out: SpreadsheetOutput = {
        "records": records,
        "headers": headers,
        "rowCount": len(records),
        "format": "csv" if kind == "tsv" else kind,
        "sheetName": name,
        "sheetNames": book.names,
    }
    if sep is not None:
        out["delimiter"] = sep
    return out


def _source(value: Any, path: str | None, data: Any) -> tuple[Path | None, str | bytes | None]:
    """A file to read or inline data; a string on ``input`` is a path if such a file exists."""
    if path:
        target = Path(path)
        if not target.is_file():
            raise node_failure(
                _TYPE,
                f"File not found: {path}" + (" (it is a directory)" if target.is_dir() else ""),
                hint=f"check the path; relative paths resolve against {Path.cwd()}",
            )
        return target, None
    if data is not None:
        return None, data
    if isinstance(value, str | bytes) and value:
        if isinstance(value, str) and "\n" not in value and len(value) < 4096:
            candidate = Path(value.strip())
            if candidate.suffix.lower() in _EXTENSIONS and candidate.is_file():
                return candidate, None
        return None, value
    raise node_failure(
        _TYPE,
        "No spreadsheet data provided. Please provide filePath or raw data."
        + (f" (the input is {type(value).__name__}, not text)" if value is not None else ""),
        hint="set 'path' (or 'filePath') to a file, or 'data' to CSV text",
    )


def _format_of(path: Path) -> Format:
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise node_failure(
            _TYPE,
            f"cannot tell the format of {path} from its extension '{path.suffix}'",
            hint="set 'format' to csv, tsv, xlsx, xls, xlsb, ods or fods",
        )
    return kind


def _text(path: Path | None, raw: str | bytes | None, encoding: str) -> str:
    blob = path.read_bytes() if path else raw
    if isinstance(blob, str):
        return blob
    try:
        return (blob or b"").decode(encoding).removeprefix("\ufeff")
    except (UnicodeDecodeError, LookupError) as exc:
        raise node_failure(
            _TYPE,
            f"cannot decode {path or 'the data'} as {encoding}: {exc}",
            hint="set 'encoding' to the file's text encoding, e.g. latin-1",
        ) from None


def _binary(raw: str | bytes | None) -> bytes:
    if isinstance(raw, bytes):
        return raw
    try:
        return base64.b64decode(raw or "", validate=True)
    except (binascii.Error, ValueError):
        raise node_failure(
            _TYPE,
            "inline data for a workbook format must be bytes or base64 text",
            hint="pass the file's bytes (e.g. an http-request result) or give a 'path'",
        ) from None


def _parse_delimited(text: str, delimiter: str) -> list[list[str]]:
    if len(delimiter) != 1:
        raise node_failure(
            _TYPE,
            f"delimiter must be one character, got {delimiter!r}",
            hint="use ',', ';', '|' or '\\t'",
        )
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    return [[cell.strip() for cell in row] for row in reader]


def _pick_sheet(book: Workbook, name: str | None, index: int | None) -> str:
    if name is not None:
        if name not in book.sheets:
            raise node_failure(
                _TYPE,
                f'Sheet "{name}" not found. Available sheets: {", ".join(book.names)}',
                hint="sheet names are case-sensitive",
            )
        return name
    if index is not None:
        if not 0 <= index < len(book.names):
            raise node_failure(
                _TYPE,
                f"Sheet index {index} out of range. Workbook has {len(book.names)} sheets.",
                hint=f"use an index from 0 to {len(book.names) - 1}",
            )
        return book.names[index]
    return book.names[0]


def _records(grid: list[list[str]], has_headers: bool) -> tuple[list[Any], list[str]]:
    """Rows as objects keyed by the header row, or as lists (and no headers) without one."""
    width = max((len(row) for row in grid), default=0)
    rows = [row + [""] * (width - len(row)) for row in grid]
    if not has_headers or not rows:
        return list(rows), []
    headers = _unique_headers(rows[0])
    return [dict(zip(headers, row, strict=True)) for row in rows[1:]], headers


def _unique_headers(cells: list[str]) -> list[str]:
    """SheetJS's rule: an empty header is ``__EMPTY``, a repeated one gets ``_1``, ``_2``..."""
    seen: dict[str, int] = {}
    headers = []
    for cell in cells:
        base = cell or "__EMPTY"
        count = seen.get(base, 0)
        name = base if count == 0 else f"{base}_{count}"
        while name in seen:
            count += 1
            name = f"{base}_{count}"
        seen[base] = count + 1
        seen.setdefault(name, 1)
        headers.append(name)
    return headers


# -- workbooks: every format becomes a grid of strings ---------------------------------------


@dataclass(frozen=True, slots=True)
class Workbook:
    names: list[str]
    sheets: dict[str, list[list[str]]]


def _read_excel(content: bytes) -> Workbook:
    import fastexcel
    import polars as pl

    try:
        reader = fastexcel.read_excel(content)
        sheets: dict[str, list[list[str]]] = {}
        for name in reader.sheet_names:
            sheet = reader.load_sheet(name, header_row=None, dtypes="string")
            frame = pl.DataFrame(sheet)
            sheets[name] = [["" if c is None else str(c) for c in row] for row in frame.rows()]
    except fastexcel.FastExcelError as exc:
        reason = str(exc).splitlines()[0]
        raise node_failure(
            _TYPE,
            f"cannot read the workbook: {reason}",
            hint="check that the file is a real xlsx/xls/xlsb file, or set 'format'",
        ) from None
    return Workbook(list(reader.sheet_names), sheets)


_ODS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}
_REPEAT_LIMIT = 1000
"""Repeated empty cells/rows beyond this are trailing padding (LibreOffice writes ~1M)."""


def _read_ods(content: bytes, kind: str) -> Workbook:
    from xml.etree import ElementTree

    try:
        if kind == "ods":
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                content = archive.read("content.xml")
        root = ElementTree.fromstring(content)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise node_failure(
            _TYPE,
            f"cannot read the {kind} document: {exc}",
            hint="check that the file is an OpenDocument spreadsheet, or set 'format'",
        ) from None
    names: list[str] = []
    sheets: dict[str, list[list[str]]] = {}
    for table in root.iter(f"{{{_ODS['table']}}}table"):
        name = table.get(f"{{{_ODS['table']}}}name") or f"Sheet{len(names) + 1}"
        names.append(name)
        sheets[name] = _ods_rows(table)
    if not names:
        raise node_failure(_TYPE, f"the {kind} document has no sheets")
    return Workbook(names, sheets)


def _ods_rows(table: Any) -> list[list[str]]:
    t, text_ns = _ODS["table"], _ODS["text"]
    rows: list[list[str]] = []
    for row in table.iter(f"{{{t}}}table-row"):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (f"{{{t}}}table-cell", f"{{{t}}}covered-table-cell"):
                continue
            paragraphs = cell.findall(f"{{{text_ns}}}p")
            value = "\n".join("".join(p.itertext()) for p in paragraphs)
            repeat = int(cell.get(f"{{{t}}}number-columns-repeated", "1"))
            cells += [value] * (min(repeat, _REPEAT_LIMIT) if value == "" else repeat)
        while cells and cells[-1] == "":
            cells.pop()
        repeat = int(row.get(f"{{{t}}}number-rows-repeated", "1"))
        rows += [cells] * (min(repeat, _REPEAT_LIMIT) if not cells else repeat)
    while rows and not rows[-1]:
        rows.pop()
    return rows


_CELL = re.compile(r"^([A-Za-z]+)(\d+)$")


def _apply_range(grid: list[list[str]], cells: str | None) -> list[list[str]]:
    """The part of the grid that an A1-style range such as ``A1:D10`` names (or ``B2:C``)."""
    if not cells:
        return grid
    start, _, end = cells.partition(":")
    first = _cell(start, cells)
    last = _cell(end, cells) if end else (len(grid), 1 << 20)
    return [row[first[1] - 1 : last[1]] for row in grid[first[0] - 1 : last[0]]]


def _cell(ref: str, whole: str) -> tuple[int, int]:
    match = _CELL.match(ref.strip())
    if match is None:
        raise node_failure(
            _TYPE,
            f"range {whole!r} is not an A1-style range",
            hint="write it like A1:D10 (columns as letters, rows from 1)",
        )
    column = 0
    for letter in match.group(1).upper():
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(match.group(2)), column
