"""Filter + group-by + sum over a generated CSV larger than a gigabyte, engine against engine.

Engines, each run in its own subprocess so its peak RSS is its own (the child's ``VmHWM``, read
by the child from /proc at the end; not ``ru_maxrss``, which Linux carries over ``exec`` from
the parent): the ``large-csv-processor`` node as a flow calls it (default ``backend: auto``,
which picks the native Rust pass for this query), the node forced onto polars
(``node-polars``), raw polars (lazy scan, streaming engine), DuckDB (``read_csv`` on the file)
and pandas (``read_csv`` with the C engine in chunks of 1,000,000 rows, only the four columns
the query reads, the honest pandas way over a file larger than memory). Every engine answers
the same query and the answers must agree::

    SELECT category, SUM(price) AS total, COUNT(*) AS n
    FROM data WHERE flag AND value > 0.5 GROUP BY category ORDER BY category

Run: ``python bench/bench_large_csv.py`` (1024 MB; ``--size-mb 100`` for a quick run). The CSV is
cached under ``bench/data/`` (git-ignored). Results go to ``bench/results/large-csv.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results" / "large-csv.md"
THRESHOLD = 0.5
ENGINES = ("node", "node-polars", "polars", "duckdb", "pandas")
CHUNK_ROWS = 1_000_000
PANDAS_DTYPES = {"value": "float64", "price": "float64", "flag": "bool"}
"""pandas' own dtypes for the numbers and the flag; ``category`` keeps pandas' default string
dtype: declaring it ``str`` cost 40% more CPU and ``category`` 8% more (measured, 2026-11-26),
so the baseline uses the form a pandas user would keep."""
PANDAS_FORM = (
    "`read_csv(engine='c', chunksize=1_000_000, usecols=[4 columns], "
    "dtype={value, price: float64, flag: bool})`"
)


def generate(path: Path, size_mb: int) -> None:
    """Write rows in chunks of a million until the file reaches ``size_mb`` megabytes."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(42)
    categories = np.array([f"cat_{i:03d}" for i in range(100)])
    start = np.datetime64("2020-01-01")
    target = size_mb * 1024 * 1024
    tmp = path.with_suffix(".partial")
    next_id = 0
    with tmp.open("wb") as out:
        while out.tell() < target:
            n = CHUNK_ROWS
            frame = pl.DataFrame(
                {
                    "id": np.arange(next_id, next_id + n, dtype=np.int64),
                    "value": rng.random(n).round(6),
                    "price": (rng.random(n) * 1000).round(2),
                    "category": categories[rng.integers(0, 100, n)],
                    "date": start + rng.integers(0, 1826, n).astype("timedelta64[D]"),
                    "flag": rng.random(n) < 0.5,
                }
            )
            frame.write_csv(out, include_header=next_id == 0)
            next_id += n
    tmp.rename(path)


def run_node(
    csv: Path, backend: Literal["auto", "polars"] = "auto"
) -> list[tuple[str, float, int]]:
    from atomiton.library.large_csv import large_csv_processor

    result = large_csv_processor(
        path=str(csv),
        backend=backend,
        filter=[
            {"column": "flag", "op": "==", "value": True},
            {"column": "value", "op": ">", "value": THRESHOLD},
        ],
        groupBy=["category"],
        aggregations=[
            {"column": "price", "fn": "sum", "as": "total"},
            {"fn": "count", "as": "n"},
        ],
        sort=[{"column": "category"}],
        previewRows=1000,
    )
    print(f"backend={result['backend']}", file=sys.stderr)
    return [(r["category"], r["total"], r["n"]) for r in result["records"]]


def run_polars(csv: Path) -> list[tuple[str, float, int]]:
    import polars as pl

    frame = (
        pl.scan_csv(csv)
        .filter(pl.col("flag") & (pl.col("value") > THRESHOLD))
        .group_by("category")
        .agg(pl.col("price").sum().alias("total"), pl.len().alias("n"))
        .sort("category")
        .collect(engine="streaming")
    )
    return [(r[0], r[1], r[2]) for r in frame.iter_rows()]


def run_duckdb(csv: Path) -> list[tuple[str, float, int]]:
    import duckdb

    rows = (
        duckdb.connect()
        .execute(
            f"SELECT category, SUM(price) AS total, COUNT(*) AS n FROM read_csv('{csv}') "
            f"WHERE flag AND value > {THRESHOLD} GROUP BY category ORDER BY category"
        )
        .fetchall()
    )
    return [(r[0], r[1], r[2]) for r in rows]


def run_pandas(csv: Path) -> list[tuple[str, float, int]]:
    import pandas as pd

    parts = []
    for chunk in pd.read_csv(
        csv,
        engine="c",
        usecols=["value", "price", "category", "flag"],
        dtype=PANDAS_DTYPES,
        chunksize=CHUNK_ROWS,
    ):
        kept = chunk[chunk["flag"] & (chunk["value"] > THRESHOLD)]
        parts.append(kept.groupby("category")["price"].agg(["sum", "count"]))
    total = pd.concat(parts).groupby(level=0).sum().sort_index()
    return [(str(k), float(r["sum"]), int(r["count"])) for k, r in total.iterrows()]


def run_node_polars(csv: Path) -> list[tuple[str, float, int]]:
    return run_node(csv, backend="polars")


RUNNERS = {
    "node": run_node,
    "node-polars": run_node_polars,
    "polars": run_polars,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
}
NODE_IMPORTS = ("atomiton.library.large_csv", "polars", "atomiton_native")
IMPORTS = {
    "node": NODE_IMPORTS,
    "node-polars": NODE_IMPORTS,
    "polars": ("polars",),
    "duckdb": ("duckdb",),
    "pandas": ("pandas",),
}
"""Imported before the clock starts, so no engine pays for its import (the node imports polars
and atomiton_native on its first call, as a long-running engine has done long before)."""


def child(engine: str, csv: Path) -> None:
    """Run one engine in this process and print its answer, time and peak RSS as JSON."""
    runner = RUNNERS[engine]
    for module in IMPORTS[engine]:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    answer = runner(csv)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak_mb = high_water_mb()
    print(json.dumps({"answer": answer, "seconds": seconds, "cpu": cpu, "peak_mb": peak_mb}))


def high_water_mb() -> float:
    """This process's peak RSS (``VmHWM``); ``ru_maxrss`` would carry the parent's over exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(engine: str, csv: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "src"))
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, "--csv", str(csv)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"engine {engine} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    said = [line for line in done.stderr.splitlines() if line.startswith("backend=")]
    result["backend"] = said[-1].removeprefix("backend=") if said else None
    return result


def agree(reference: list[Any], other: list[Any]) -> bool:
    if [(r[0], r[2]) for r in reference] != [(o[0], o[2]) for o in other]:
        return False
    return all(
        math.isclose(r[1], o[1], rel_tol=1e-9) for r, o in zip(reference, other, strict=True)
    )


def report(csv: Path, runs: dict[str, dict[str, Any]], repeats: int) -> str:
    size_mb = csv.stat().st_size / 1024 / 1024
    best_other = min(runs["polars"]["seconds"], runs["duckdb"]["seconds"])
    node = runs["node"]
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("polars", "duckdb", "pandas", "numpy")
    )
    lines = [
        "# large-csv-processor benchmark",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{_memory_gb():.0f} GB RAM, {platform.platform()}",
        f"- Python {platform.python_version()}; {versions}",
        f"- file: {size_mb:,.0f} MB generated CSV, id/value/price/category(100)/date/flag",
        f"- query: filter `flag and value > {THRESHOLD}`, group by category, "
        "sum(price) and count, sorted",
        f"- pandas: {PANDAS_FORM}, partial group-bys combined",
        f"- each engine in its own subprocess, {repeats} runs each in alternating order; seconds",
        "  is the best run (the machine is shared), excluding interpreter start and imports;",
        "  peak RSS is the worst run's `VmHWM` (includes the interpreter and libraries)",
        f"- node: default `backend: auto`, which ran `{node.get('backend')}` here; node-polars:",
        "  `backend: polars`, which sets `POLARS_CSV_CHUNK_SIZE=8388608` unless set (raw polars",
        "  runs with the polars default)",
        "",
        "| engine | seconds | MB/s | CPU seconds | peak RSS MB | RSS / file | node speed ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in runs:
        run = runs[name]
        lines.append(
            f"| {name} | {run['seconds']:.2f} | {size_mb / run['seconds']:,.0f} | {run['cpu']:.2f} "
            f"| {run['peak_mb']:,.0f} | {run['peak_mb'] / size_mb:.1%} "
            f"| {run['seconds'] / node['seconds']:.2f}x |"
        )
    speed_vs_best = best_other / node["seconds"]
    speed_vs_pandas = runs["pandas"]["seconds"] / node["seconds"]
    rss_share = node["peak_mb"] / size_mb
    lines += [
        "",
        "\"node speed ratio\" is the engine's time over the node's (above 1: the node is faster).",
        "CPU seconds (user + system) show how much of the two cores each engine could use:",
        "pandas parses on one core, polars and DuckDB on both, so on this 2-core machine, shared",
        "with other jobs while measured, the gap to pandas is at its narrowest.",
        "node (auto) ran the native Rust pass: 4 MiB byte ranges of the file folded by one",
        "thread per core into per-thread groups, merged at the end; node-polars is the node",
        "forced onto polars' streaming engine (what the node ran by default before).",
        "The pandas baseline gives dtypes for the numbers and the flag; declaring `category` as",
        "`str` cost 40% more CPU and as `category` 8% more (measured separately), so it keeps",
        "pandas' default string dtype there.",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
        f"| node >= 0.9x the faster of polars/DuckDB | {speed_vs_best:.2f}x "
        f"| {_yes(speed_vs_best >= 0.9)} |",
        f"| node >= 2x pandas | {speed_vs_pandas:.2f}x | {_yes(speed_vs_pandas >= 2)} |",
        f"| node peak RSS <= 30% of file | {rss_share:.1%} | {_yes(rss_share <= 0.3)} |",
        "| answers agree across engines | all | yes |",
        "",
    ]
    return "\n".join(lines)


def _yes(met: bool) -> str:
    return "yes" if met else "no"


def _memory_gb() -> float:
    import psutil

    return float(psutil.virtual_memory().total) / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--child", choices=ENGINES)
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--repeats", type=int, default=3, help="runs per engine; best time wins")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.csv)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    csv = DATA / f"bench-{args.size_mb}mb.csv"
    if not csv.exists():
        print(f"generating {csv} ...", flush=True)
        start = time.perf_counter()
        generate(csv, args.size_mb)
        print(f"  done in {time.perf_counter() - start:.1f}s", flush=True)
    if args.generate_only:
        return
    runs: dict[str, dict[str, Any]] = {}
    reference: list[Any] | None = None
    engines = list(ENGINES)
    if importlib.util.find_spec("atomiton_native") is None:
        print("atomiton_native is not built: the node runs on polars (scripts/setup builds it)")
    for repeat in range(args.repeats):
        for engine in engines if repeat % 2 == 0 else reversed(engines):
            run = measure(engine, csv)
            reference = reference or run["answer"]
            if not agree(reference, run["answer"]):
                raise SystemExit(f"{engine} disagrees: {run['answer'][:3]} vs {reference[:3]}")
            best = runs.setdefault(engine, run)
            if run["seconds"] < best["seconds"]:
                best.update(seconds=run["seconds"], cpu=run["cpu"])
            best["peak_mb"] = max(best["peak_mb"], run["peak_mb"])
            print(f"{engine:11s} {run['seconds']:6.2f}s  peak {run['peak_mb']:5.0f} MB", flush=True)
    text = report(csv, runs, args.repeats)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
