"""``large-csv-processor``: select, filter, derive, group, aggregate, sort and write CSV files
larger than memory, with polars' lazy API and its streaming engine.

The parameters become one lazy query, in this order::

    scan_csv(path) -> derive -> filter -> groupBy + aggregations -> select -> sort -> limit
        -> sink_csv / sink_parquet / sink_ipc (when ``output`` is set)
        -> collect(engine="streaming") (otherwise: the rows come back as ``records``)

Polars pushes the projection and the filter down into the scan, so only the columns and rows the
query needs are ever parsed. Every column a step names is checked against the columns present at
that step before anything runs; an unknown one fails with the list of available columns.

``backend`` picks the engine of the filter and aggregation. ``auto`` (the default) runs a
group-by or aggregation query in ``atomiton_native`` (Rust, built by scripts/setup: one thread per
core, each folding its own 4 MiB byte ranges of the file into its own groups) whenever
:func:`native_unsuitable` finds nothing it cannot run, and polars otherwise. The rule rests on
measurement: on the 1 GB benchmark (bench/results/large-csv.md) the native pass is faster than
polars' streaming engine and needs a fraction of its memory. Native answers are polars' answers:
it reads each column as the dtype polars inferred (an empty field is null, booleans in any case,
integers exactly), and a file it cannot read that way (quoted fields, ragged rows, a value polars
would not parse) makes it stop, so polars answers instead. ``native`` insists (and fails with
the reason), ``polars`` never tries. The rows it returns go through the same select / sort /
limit / output steps.

``derive`` takes arithmetic over columns (``price * qty - discount``) parsed with :mod:`ast` and
walked through a whitelist (names, numbers, ``+ - * / // % **``, unary minus, ``abs``/``round``/
``col("name with spaces")``); nothing is evaluated as Python.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from atomiton.errors import NodeError
from atomiton.nodes.decorator import node

if TYPE_CHECKING:
    import polars as pl

NODE = "large-csv-processor"
FILTER_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains", "is_null", "not_null")
AGG_FNS = ("sum", "mean", "min", "max", "count", "n_unique", "first", "last", "median", "std")
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".ipc": "ipc", ".arrow": "ipc"}
NATIVE_OPS = ("==", "!=", "<", "<=", ">", ">=", "contains")
NATIVE_FNS = ("count", "sum", "min", "max", "mean")
NATIVE_NUMERIC_FNS = ("sum", "min", "max", "mean")
NATIVE_MAX_GROUPS = 10_000
"""Past this many groups (per native thread) the native pass hands the query to polars. Measured
(docs/nodes-data-ml.md): 100 and 1,826 groups over 1 GB, native 2.3x and 1.6x faster than
polars; 1,000,000 groups over 45 MB, polars about 15x faster (native builds a key and a Python
row per group). The limit sits between, where no measurement says native wins."""
CSV_CHUNK_ENV = "POLARS_CSV_CHUNK_SIZE"
CSV_CHUNK_BYTES = 8 * 1024 * 1024
"""Polars' CSV source reads chunks of this many bytes unless the environment says otherwise:
the default holds about a third of a gigabyte in flight, this about a sixth of that, at the same
speed (bench/results/large-csv.md)."""
CHEAP_COUNT_BYTES = 64 * 1024 * 1024
"""A CSV output smaller than this is re-scanned to count its rows; larger ones report None."""


class LargeCsvResult(TypedDict, total=False):
    """What the node returns: a summary, plus the rows themselves when no file was written."""

    rows: int | None
    output: str | None
    columns: list[str]
    preview: list[dict[str, Any]]
    records: list[dict[str, Any]]
    elapsed_ms: float
    backend: str


@node(id=NODE, name="Large CSV processor", category="data", icon="table", tags=("data",))
def large_csv_processor(
    path: str,
    *,
    select: list[str] | None = None,
    filter: list[dict[str, Any]] | None = None,
    combine: Literal["and", "or"] = "and",
    derive: list[dict[str, str]] | dict[str, str] | None = None,
    groupBy: list[str] | None = None,
    aggregations: list[dict[str, str]] | None = None,
    sort: list[dict[str, Any]] | None = None,
    limit: int | None = None,
    output: str | None = None,
    separator: str = ",",
    parseDates: bool = False,
    previewRows: int = 10,
    maxRows: int = 100_000,
    backend: Literal["auto", "polars", "native"] = "auto",
) -> LargeCsvResult:
    """Stream a CSV larger than memory through filter / derive / group-by / aggregate / sort and
    write the result to ``output`` (csv, parquet or ipc by extension) or return its rows."""
    import polars as pl

    started = time.perf_counter()
    source = Path(path).expanduser()
    if not source.is_file():
        raise NodeError(
            f"[{NODE}] cannot read '{path}': no such file",
            hint="give 'path' as an existing CSV file, absolute or relative to the working folder",
        )
    # Read per query by polars; set once (later calls find it) and never over a user's choice.
    os.environ.setdefault(CSV_CHUNK_ENV, str(CSV_CHUNK_BYTES))
    try:
        query = pl.scan_csv(source, separator=separator, try_parse_dates=parseDates)
        schema = dict(query.collect_schema())
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise NodeError(f"[{NODE}] cannot read '{path}' as CSV: {exc}") from None
    columns = list(schema)
    plan = (filter or [], combine, groupBy or [], aggregations or [])
    polars_only = bool(derive) or parseDates
    unsuitable = (
        "not asked for" if backend == "polars" else native_unsuitable(schema, *plan, polars_only)
    )
    if backend == "native" and unsuitable:
        raise NodeError(
            f"[{NODE}] backend 'native' cannot run this query: {unsuitable}",
            hint="use backend 'auto' (native where it can, else polars) or 'polars'",
        )
    native = _native(source, separator, schema, *plan) if unsuitable is None else None
    if native is None and backend == "native":
        raise NodeError(
            f"[{NODE}] backend 'native' cannot read '{path}' the way polars does "
            "(quoted fields, ragged rows, or a value that does not fit its column)",
            hint="use backend 'auto' (native where it can, else polars) or 'polars'",
        )
    if native is not None:
        query, columns = native
    else:
        for item in _derivations(derive):
            expr = _parse_expression(item["expr"], columns, item["as"])
            query = query.with_columns(expr.alias(item["as"]))
            columns = [*columns, item["as"]] if item["as"] not in columns else columns
        if filter:
            query = query.filter(_condition({combine: filter}, columns))
        if groupBy or aggregations:
            query, columns = _aggregate(query, columns, groupBy or [], aggregations or [])
    if select:
        _check_columns(select, columns, "select")
        query = query.select(select)
        columns = list(select)
    if sort:
        names, descending = _sort_keys(sort, columns)
        query = query.sort(names, descending=descending, maintain_order=True)
    if limit is not None:
        query = query.head(limit)
    if output:
        result = _write(query, Path(output).expanduser(), columns, previewRows, started)
    else:
        result = _collect(query, columns, previewRows, maxRows, started)
    result["backend"] = "polars" if native is None else "native"
    return result


def native_unsuitable(
    schema: Mapping[str, Any],
    filters: list[dict[str, Any]],
    combine: str,
    keys: list[str],
    aggregations: list[dict[str, str]],
    polars_only: bool,
) -> str | None:
    """Why the native backend cannot run this query, or None when it can (same answers)."""
    columns = list(schema)
    _check_columns(keys, columns, "groupBy")
    if importlib.util.find_spec("atomiton_native") is None:
        return "the atomiton_native module is not installed (scripts/setup builds it)"
    if polars_only:
        return "derive and parseDates run on polars only"
    if not keys and not aggregations:
        return "only group-by and aggregation queries run natively"
    if combine != "and" and len(filters) > 1:
        return "'or' filters run on polars only"
    for item in filters:
        column, op, value = item.get("column"), item.get("op", "=="), item.get("value")
        if not isinstance(column, str) or op not in NATIVE_OPS:
            return f"filter {item!r} (native: {', '.join(NATIVE_OPS)} on one column)"
        _check_columns([column], columns, "filter")
        kind = _native_kind(schema[column])
        fits = (
            (isinstance(value, bool) and kind == "bool")
            or (isinstance(value, str) and kind == "str")
            or (isinstance(value, int | float) and not isinstance(value, bool) and kind in _NUMERIC)
        )
        if not fits or (op == "contains" and kind != "str"):
            return f"filter on '{column}' ({schema[column]}) with {value!r}"
    for key in keys:
        if _native_kind(schema[key]) not in ("str", "int", "bool"):
            return f"group key '{key}' ({schema[key]}; native: text, integer or boolean keys)"
    for index, spec in enumerate(aggregations):
        fn, column = spec.get("fn"), spec.get("column")
        if fn not in NATIVE_FNS:
            return f"aggregation '{fn}' (native: {', '.join(NATIVE_FNS)})"
        if column is None and fn != "count":
            return f"aggregations[{index}] has no column"
        if column is None:
            continue
        _check_columns([column], columns, f"aggregations[{index}]")
        kind = _native_kind(schema[column])
        if kind is None or (fn in NATIVE_NUMERIC_FNS and kind not in _NUMERIC):
            return f"aggregation '{fn}' of '{column}' ({schema[column]})"
    return None


_NUMERIC = ("int", "float")


def _native_kind(dtype: Any) -> str | None:
    """The column type atomiton_native reads a polars dtype as (None: one it does not read)."""
    import polars as pl

    kinds = {pl.String: "str", pl.Int64: "int", pl.Float64: "float", pl.Boolean: "bool"}
    return next((kind for known, kind in kinds.items() if dtype == known), None)


def _native(
    source: Path,
    separator: str,
    schema: Mapping[str, Any],
    filters: list[dict[str, Any]],
    combine: str,
    keys: list[str],
    aggregations: list[dict[str, str]],
) -> tuple[pl.LazyFrame, list[str]] | None:
    """Run the filter and aggregation in atomiton_native and give its rows the dtypes polars
    would have given them; None when it cannot read the file as polars would (polars answers).

    Each column is read as the dtype polars inferred, an empty field as null; the parallel pass
    stops at the first quote, ragged row or unparsable value instead of guessing.
    """
    import atomiton_native
    import polars as pl

    specs = aggregations or [{"fn": "count", "as": "count"}]
    named = [(s.get("column"), s["fn"], _agg_name(s)) for s in specs]
    used = {*keys, *(f["column"] for f in filters), *(c for c, _, _ in named if c is not None)}
    parameters = {
        "path": str(source),
        "delimiter": separator,
        "types": {column: _native_kind(schema[column]) for column in used},
        "empty_is_null": True,
        "fallback": False,
        "max_groups": NATIVE_MAX_GROUPS,
        "filter": [
            {"column": f["column"], "op": f.get("op", "=="), "value": f["value"]} for f in filters
        ],
        "group_by": keys,
        "aggregations": [{"column": c, "op": fn, "as": name} for c, fn, name in named],
    }
    try:
        found = atomiton_native.process_large_csv({}, parameters)
    except NotImplementedError:
        return None
    except ValueError as exc:
        if str(exc).startswith("unknown column"):  # a header polars reads otherwise (blanks)
            return None
        raise NodeError(f"[{NODE}] the native backend failed: {exc}") from None
    except (TypeError, LookupError, OSError) as exc:
        raise NodeError(f"[{NODE}] the native backend failed: {exc}") from None
    names = [*keys, *(name for _, _, name in named)]
    rows = found["rows"]
    if not rows and not keys:  # no row matched: polars still answers one row
        rows = [{name: 0 if fn in ("count", "sum") else None for _, fn, name in named}]
    frame = pl.DataFrame(rows or None, schema=names)
    casts = [_typed(pl.col(k), schema[k]) for k in keys]
    for column, fn, name in named:
        if fn == "count" or column is None:
            casts.append(pl.col(name).cast(pl.UInt32))
        elif fn in ("min", "max", "sum"):
            casts.append(pl.col(name).cast(schema[column]))
        else:
            casts.append(pl.col(name).cast(pl.Float64))
    return frame.lazy().with_columns(casts), names


def _typed(expr: pl.Expr, dtype: Any) -> pl.Expr:
    import polars as pl

    return expr.cast(pl.String) == "true" if dtype == pl.Boolean else expr.cast(dtype)


def _agg_name(spec: Mapping[str, Any]) -> str:
    column, fn = spec.get("column"), str(spec.get("fn", "")).lower()
    return str(spec.get("as") or (f"{column}_{fn}" if column else fn))


def _write(
    query: pl.LazyFrame, target: Path, columns: list[str], preview: int, started: float
) -> LargeCsvResult:
    import polars as pl

    kind = OUTPUT_FORMATS.get(target.suffix.lower())
    if kind is None:
        raise NodeError(
            f"[{NODE}] cannot tell the output format of '{target}' from its extension",
            hint=f"end 'output' with one of {', '.join(OUTPUT_FORMATS)}",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "csv":
            query.sink_csv(target, engine="streaming")
            written = pl.scan_csv(target)
        elif kind == "parquet":
            query.sink_parquet(target, engine="streaming")
            written = pl.scan_parquet(target)
        else:
            query.sink_ipc(target, engine="streaming")
            written = pl.scan_ipc(target)
        cheap = kind != "csv" or target.stat().st_size <= CHEAP_COUNT_BYTES
        rows = int(written.select(pl.len()).collect().item()) if cheap else None
        head = written.head(preview).collect().to_dicts()
    except pl.exceptions.PolarsError as exc:
        raise _query_failure(exc) from None
    return LargeCsvResult(
        rows=rows,
        output=str(target),
        columns=columns,
        preview=head,
        elapsed_ms=_elapsed(started),
    )


def _collect(
    query: pl.LazyFrame, columns: list[str], preview: int, max_rows: int, started: float
) -> LargeCsvResult:
    import polars as pl

    try:
        frame = query.head(max_rows + 1).collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise _query_failure(exc) from None
    if frame.height > max_rows:
        raise NodeError(
            f"[{NODE}] the result has more than maxRows={max_rows} rows, too many to return",
            hint="set 'output' to write the result to a file, or 'limit' / 'groupBy' to shrink it",
        )
    records = frame.to_dicts()
    return LargeCsvResult(
        rows=frame.height,
        output=None,
        columns=columns,
        preview=records[:preview],
        records=records,
        elapsed_ms=_elapsed(started),
    )


def _aggregate(
    query: pl.LazyFrame,
    columns: list[str],
    keys: list[str],
    aggregations: list[dict[str, str]],
) -> tuple[pl.LazyFrame, list[str]]:
    import polars as pl

    _check_columns(keys, columns, "groupBy")
    exprs: list[pl.Expr] = []
    names: list[str] = []
    for index, spec in enumerate(aggregations or [{"fn": "count", "as": "count"}]):
        fn = str(spec.get("fn", "")).lower()
        column = spec.get("column")
        if fn not in AGG_FNS:
            raise NodeError(
                f"[{NODE}] aggregations[{index}]: unknown function '{spec.get('fn')}'",
                hint=f"use one of {', '.join(AGG_FNS)}",
            )
        if column is None and fn != "count":
            raise NodeError(
                f"[{NODE}] aggregations[{index}]: '{fn}' needs a 'column'",
                hint=f"available columns: {', '.join(columns)}",
            )
        if column is None:
            expr = pl.len()
        else:
            _check_columns([column], columns, f"aggregations[{index}]")
            expr = getattr(pl.col(column), fn)()
        name = _agg_name(spec)
        exprs.append(expr.alias(name))
        names.append(name)
    if keys:
        return query.group_by(keys).agg(exprs), [*keys, *names]
    return query.select(exprs), names


def _condition(spec: Mapping[str, Any], columns: list[str]) -> pl.Expr:
    """A filter item: ``{column, op, value}``, or a group ``{"and": [...]}`` / ``{"or": [...]}``."""
    import polars as pl

    for joiner in ("and", "or"):
        if joiner in spec:
            parts = [_condition(item, columns) for item in spec[joiner]]
            if not parts:
                raise NodeError(f"[{NODE}] filter group '{joiner}' is empty")
            return pl.all_horizontal(parts) if joiner == "and" else pl.any_horizontal(parts)
    column, op, value = spec.get("column"), spec.get("op", "=="), spec.get("value")
    if not isinstance(column, str):
        raise NodeError(
            f"[{NODE}] filter condition {dict(spec)!r} has no 'column'",
            hint='write conditions as {"column": "price", "op": ">", "value": 10}',
        )
    _check_columns([column], columns, "filter")
    col = pl.col(column)
    comparisons: dict[str, Callable[[], pl.Expr]] = {
        "==": lambda: col == value,
        "!=": lambda: col != value,
        "<": lambda: col < value,
        "<=": lambda: col <= value,
        ">": lambda: col > value,
        ">=": lambda: col >= value,
        "in": lambda: col.is_in(_as_list(value, column, op)),
        "not_in": lambda: ~col.is_in(_as_list(value, column, op)),
        "contains": lambda: col.cast(pl.String).str.contains(str(value), literal=True),
        "is_null": col.is_null,
        "not_null": col.is_not_null,
    }
    build = comparisons.get(str(op))
    if build is None:
        raise NodeError(
            f"[{NODE}] filter on '{column}': unknown operator '{op}'",
            hint=f"use one of {', '.join(FILTER_OPS)}",
        )
    return build()


def _as_list(value: Any, column: str, op: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    raise NodeError(
        f"[{NODE}] filter on '{column}': '{op}' needs a list value, got {value!r}",
        hint='e.g. {"op": "in", "value": ["a", "b"]}',
    )


def _sort_keys(sort: list[dict[str, Any]], columns: list[str]) -> tuple[list[str], list[bool]]:
    names = [str(item.get("column")) for item in sort]
    _check_columns(names, columns, "sort")
    return names, [bool(item.get("descending", False)) for item in sort]


def _derivations(derive: list[dict[str, str]] | dict[str, str] | None) -> list[dict[str, str]]:
    if derive is None:
        return []
    if isinstance(derive, Mapping):
        return [{"as": name, "expr": expr} for name, expr in derive.items()]
    for index, item in enumerate(derive):
        if not isinstance(item.get("as"), str) or not isinstance(item.get("expr"), str):
            raise NodeError(
                f"[{NODE}] derive[{index}] needs 'as' (the new column) and 'expr', got {item!r}",
                hint='e.g. {"as": "total", "expr": "price * quantity"}',
            )
    return list(derive)


def _check_columns(wanted: Sequence[str], columns: list[str], where: str) -> None:
    for name in wanted:
        if name not in columns:
            close = difflib.get_close_matches(name, columns, n=1)
            guess = f"did you mean '{close[0]}'? " if close else ""
            raise NodeError(
                f"[{NODE}] {where}: unknown column '{name}'",
                hint=f"{guess}available columns: {', '.join(columns)}",
            )


def _parse_expression(text: str, columns: list[str], target: str) -> pl.Expr:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise NodeError(
            f"[{NODE}] derive '{target}': cannot parse '{text}': {exc.msg}",
            hint="use column names, numbers, + - * / // % ** and parentheses",
        ) from None
    return _ExpressionBuilder(columns, target, text).build(tree.body)


class _ExpressionBuilder:
    """Turns a whitelisted :mod:`ast` tree into a polars expression; anything else is refused."""

    def __init__(self, columns: list[str], target: str, text: str) -> None:
        self.columns, self.target, self.text = columns, target, text

    def build(self, tree: ast.expr) -> pl.Expr:
        import polars as pl

        if isinstance(tree, ast.Constant) and isinstance(tree.value, int | float):
            return pl.lit(tree.value)
        if isinstance(tree, ast.Name):
            return self._column(tree.id)
        if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub | ast.UAdd):
            inner = self.build(tree.operand)
            return -inner if isinstance(tree.op, ast.USub) else inner
        if isinstance(tree, ast.BinOp) and type(tree.op) in _BINARY:
            combined: pl.Expr = _BINARY[type(tree.op)](
                self.build(tree.left), self.build(tree.right)
            )
            return combined
        if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and not tree.keywords:
            return self._call(tree.func.id, tree.args)
        raise NodeError(
            f"[{NODE}] derive '{self.target}': '{ast.unparse(tree)}' is not allowed "
            f"(in '{self.text}')",
            hint='allowed: columns, numbers, + - * / // % **, abs(x), round(x, n), col("name")',
        )

    def _column(self, name: str) -> pl.Expr:
        import polars as pl

        _check_columns([name], self.columns, f"derive '{self.target}'")
        return pl.col(name)

    def _call(self, name: str, args: list[ast.expr]) -> pl.Expr:
        first = args[0] if args else None
        if name == "col" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            return self._column(first.value)
        if name == "abs" and len(args) == 1:
            return self.build(args[0]).abs()
        if name == "round" and len(args) in (1, 2):
            second = args[1] if len(args) == 2 else ast.Constant(0)
            if isinstance(second, ast.Constant) and isinstance(second.value, int):
                return self.build(args[0]).round(second.value)
        raise NodeError(
            f"[{NODE}] derive '{self.target}': function call '{name}(...)' is not allowed",
            hint='allowed calls: abs(x), round(x, digits), col("column name")',
        )


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}


def _query_failure(exc: Exception) -> NodeError:
    return NodeError(
        f"[{NODE}] the query failed: {exc}",
        hint="check that filter values match the column types (numbers vs text)",
    )


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
