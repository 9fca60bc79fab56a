"""Every benchmark once, in a bounded configuration (`make bench`, well under 15 minutes on two
cores): each prints its figures as it goes and merges them into bench/results.json; at the end
the table the README shows, with the machine it was measured on.

    .venv/bin/python bench/run_all.py [--only nlp,crawl,compute,export,report,serve] [--quick]
        [--results bench/results.json] [--readme]

`--quick` shrinks every size (a smoke run of the benches, not figures to quote; its results go
to a temporary file unless `--results` says otherwise); `--readme`
writes the table into README.md between its bench-table markers. A bench that fails is
reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
README_START = "<!-- bench-table: written by `bench/run_all.py --readme` -->"
README_END = "<!-- /bench-table -->"
POSTGRES = os.environ.get(
    "MEIYU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# name → (arguments, quick arguments): the sizes `make bench` measures.
PLAN: dict[str, tuple[list[str], list[str]]] = {
    "nlp": (["--repeat", "2", "--sentences", "2000"], ["--repeat", "1", "--sentences", "200"]),
    "crawl": (["--scale", "2", "--redis-workers", "2"], ["--scale", "0.3", "--no-scrapy-bench"]),
    "compute": (["--documents", "1000000"], ["--documents", "20000"]),
    "export": (
        ["--small", "30000", "--documents", "300000", "--formats", "parquet,jsonl"],
        ["--small", "2000", "--documents", "10000", "--formats", "parquet"],
    ),
    "report": (["--repeat", "3"], ["--repeat", "1"]),
    "serve": (
        ["--documents", "1000000", "--seconds", "60"],
        ["--documents", "20000", "--seconds", "10"],
    ),
}


def postgres_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def run(name: str, args: list[str], results: Path) -> tuple[bool, float]:
    """One bench in its own process, its output straight to this terminal."""
    print(f"\n=== {name}: bench/{name}.py {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args, "--json", str(results)], cwd=REPO
    )
    seconds = time.perf_counter() - t0
    status = "done" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    print(f"=== {name}: {status} in {seconds:.0f} s", flush=True)
    return done.returncode == 0, seconds


# ------------------------------------------------------------------ the table


def _n(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value < 100 else f"{value:,.0f}"


def _crawl(f: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (
            f"crawl, one process ({f['pages']:,} fixture pages → SQLite)",
            f"{_n(f['pages_per_s'])} pages/s, {_n(f['items_per_s'])} items/s",
        )
    ]
    for key, d in f.items():
        if key.startswith("redis_") and isinstance(d, dict):
            rows.append(
                (
                    f"crawl, {p.get('redis_workers', 2)} workers sharing a Redis frontier",
                    f"{_n(d['pages_per_s'])} pages/s, {_n(d['items_per_s'])} items/s",
                )
            )
    if "scrapy_bench_pages_per_s" in f:
        baseline = f"{_n(f['scrapy_bench_pages_per_s'])} pages/s"
        rows.append(("`scrapy bench` (the baseline: link following only)", baseline))
    return rows


def _nlp(f: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, d in f.items():
        if "docs_per_s" in d:
            rows.append((f"NLP {key}", f"{_n(d['docs_per_s'])} docs/s"))
        elif "sentences_per_s" in d:
            rows.append((f"NLP {key}", f"{_n(d['sentences_per_s'])} sentences/s"))
    return rows


def _compute(f: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str]]:
    names = {"sqlite": "SQLite", "postgresql": f"PostgreSQL {p.get('postgresql', '')}".strip()}
    return [
        (
            f"compute, every series of {p['documents']:,} documents, {names.get(b, b)}",
            f"first {d['first']:.1f} s · recompute {d['again']:.1f} s · "
            f"--since last year {d['since']:.1f} s",
        )
        for b, d in f.items()
    ]


def _export(f: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"export {r['fmt']}, {r['rows']:,} rows ({r['backend']})",
            f"{r['rows_per_s']:,} rows/s, peak RSS {r['peak_rss_mb']:.0f} MB",
        )
        for r in f["runs"]
    ]


def _report(f: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"monthly report {p['month']} of the demo DB (html + pdf + xlsx)",
            f"{f['all_s']:.1f} s per report (build {f['build_s']:.1f}, html {f['html_s']:.2f}, "
            f"pdf {f['pdf_s']:.1f}, xlsx {f['xlsx_s']:.2f}); `meiyu report` process "
            f"{f['command_s']:.1f} s",
        )
    ]


def _serve(f: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"serve, {name}, {p['clients']} clients, {p['documents']:,} documents",
            f"{d['rps']:.1f} req/s · p50 {d['p50']:.0f} ms · p95 {d['p95']:.0f} ms · "
            f"p99 {d['p99']:.0f} ms · errors {d['errors']}",
        )
        for name, d in f.items()
    ]


ROWS: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[tuple[str, str]]]] = {
    "crawl": _crawl,
    "nlp": _nlp,
    "compute": _compute,
    "export": _export,
    "report": _report,
    "serve": _serve,
}


def table(data: dict[str, Any]) -> str:
    """Markdown: one row per figure, then the machine(s) and dates they were measured on."""
    lines = ["| benchmark | figure |", "|-----------|--------|"]
    machines: dict[str, tuple[set[str], list[float]]] = {}
    for name in PLAN:
        entry = data.get("benchmarks", {}).get(name)
        if not entry:
            continue
        for what, figure in ROWS[name](entry["figures"], entry["params"]):
            lines.append(f"| {what} | {figure} |")
        m = entry["machine"]
        desc = (
            f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, Python "
            f"{m['python']}, SQLite {m['sqlite']}, torch {m['torch']}"
        )
        dates, load = machines.setdefault(desc, (set(), []))
        dates.add(entry["measured_at"][:10])
        load.append(m["load_average"][0])
    lines.append("")
    for desc, (dates, load) in machines.items():
        when = ", ".join(sorted(dates))
        lines.append(
            f"Measured on {when}: {desc}; load average after the benches up to {max(load):.1f}."
        )
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = REPO / "README.md"
    body = readme.read_text(encoding="utf-8")
    if README_START not in body or README_END not in body:
        sys.exit(f"README.md has no {README_START} … {README_END} block")
    head, rest = body.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{text}\n{README_END}{tail}", encoding="utf-8")
    print("README.md: benchmark table updated")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", default=",".join(PLAN), help="Comma list of " + ", ".join(PLAN))
    ap.add_argument("--quick", action="store_true", help="Tiny sizes: check the benches run.")
    ap.add_argument(
        "--results", type=Path, help="Default bench/results.json (--quick: a temp file)."
    )
    ap.add_argument("--readme", action="store_true", help="Write the table into README.md.")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in PLAN]
    if unknown:
        sys.exit(f"--only: unknown {unknown}; known: {', '.join(PLAN)}")
    if args.results is None:
        quick = Path(tempfile.gettempdir()) / "meiyu-bench-quick.json"
        args.results = quick if args.quick else BENCH / "results.json"
    started = time.perf_counter()
    print(f"benchmarks {', '.join(names)}; figures → {args.results}", flush=True)
    outcome: dict[str, tuple[bool, float]] = {}
    for name in names:
        bench_args = list(PLAN[name][1 if args.quick else 0])
        if name == "compute":
            if postgres_reachable(POSTGRES):
                bench_args += ["--backends", "sqlite,postgresql", "--postgres", POSTGRES]
            else:
                print(f"\nPostgreSQL not reachable ({POSTGRES}): compute on SQLite alone")
                bench_args += ["--backends", "sqlite"]
        outcome[name] = run(name, bench_args, args.results)
    total = time.perf_counter() - started
    print("\n=== summary")
    for name, (ok, seconds) in outcome.items():
        print(f"  {name:<8} {'ok' if ok else 'FAILED':<7} {seconds:6.0f} s")
    print(f"  all      {total / 60:.1f} min ({dt.datetime.now().astimezone():%Y-%m-%d %H:%M})\n")
    if args.results.exists():
        text = table(json.loads(args.results.read_text(encoding="utf-8")))
        print(text)
        if args.readme and not args.quick:
            write_readme(text)
    if not all(ok for ok, _ in outcome.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
