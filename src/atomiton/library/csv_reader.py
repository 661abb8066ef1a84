"""``csv-reader``: a small typed CSV reader (polars), rows as a list of objects.

Unlike ``spreadsheet`` (Atomiton's, every cell a string), this one infers column types: integers,
floats, booleans, and dates/datetimes when ``parseDates`` is on (written back as ISO 8601 text so
rows stay JSON). For files larger than memory use ``large-csv-processor``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, TypedDict

from atomiton.library._compat import first_given, node_failure, primary
from atomiton.nodes import node

_TYPE = "csv-reader"


class CsvReaderOutput(TypedDict, total=False):
    rows: list[dict[str, Any]]
    columns: list[str]
    schema: dict[str, str]
    rowCount: int
    path: str


@node(id="csv-reader", name="CSV Reader", category="data", icon="table", parallelizable=True)
def csv_reader(
    input: Any = None,
    path: str | None = None,
    data: str | None = None,
    *,
    delimiter: str = ",",
    hasHeaders: bool = True,
    columns: list[str] | None = None,
    limit: int | None = None,
    skipRows: int = 0,
    parseDates: bool = True,
    nullValues: list[str] | None = None,
    inferSchemaLength: int = 10000,
) -> CsvReaderOutput:
    """Read a CSV file (or CSV text) into typed rows."""
    import polars as pl

    value = primary(input)
    target = first_given(path, value if isinstance(value, str) and "\n" not in value else None)
    text = data if data is not None else (value if target is None else None)
    if target is None and not isinstance(text, str):
        raise node_failure(
            _TYPE,
            "no CSV given",
            hint="set 'path' to a CSV file, or 'data' to CSV text",
        )
    if target is not None and not Path(target).is_file():
        raise node_failure(_TYPE, f"File not found: {target}", hint="check the path")
    if limit is not None and limit < 0:
        raise node_failure(_TYPE, f"limit must be 0 or more, got {limit}")
    if len(delimiter) != 1:
        raise node_failure(_TYPE, f"delimiter must be one character, got {delimiter!r}")
    source: Any = target if target is not None else io.BytesIO(str(text).encode())
    try:
        frame = pl.read_csv(
            source,
            separator=delimiter,
            has_header=hasHeaders,
            n_rows=limit,
            skip_rows=skipRows,
            try_parse_dates=parseDates,
            null_values=nullValues,
            infer_schema_length=inferSchemaLength,
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise node_failure(
            _TYPE,
            f"cannot parse {target or 'the CSV text'}: {str(exc).splitlines()[0]}",
            hint="check the delimiter and that every row has the same number of fields",
        ) from None
    if not hasHeaders:  # polars' default names changed between versions; ours do not
        frame.columns = [f"column_{i + 1}" for i in range(frame.width)]
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise node_failure(
                _TYPE,
                f"unknown column(s) {missing}; the file has {frame.columns}",
                hint="column names are case-sensitive",
            )
        frame = frame.select(columns)
    schema = {name: str(dtype) for name, dtype in frame.schema.items()}
    frame = frame.with_columns(
        pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%.f"),
        pl.col(pl.Date, pl.Time, pl.Duration).cast(pl.String),
    )
    out: CsvReaderOutput = {
        "rows": frame.to_dicts(),
        "columns": frame.columns,
        "schema": schema,
        "rowCount": frame.height,
    }
    if target is not None:
        out["path"] = str(target)
    return out
