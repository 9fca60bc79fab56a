"""Seconds per monthly report of the demo database: HTML, PDF and XLSX.

    .venv/bin/python bench/report.py [--db data/demo.db] [--month 2023-12] [--repeat 3]
        [--json bench/results.json]

Copies the demo database (`make demo` makes it; built here first when missing) to a scratch file,
then, per repeat, times each step of `meiyu report`: building the report (series, items, alerts
and charts read from the database), the HTML, the PDF (WeasyPrint, from that HTML) and the XLSX.
The first repeat is cold (fonts, templates, WeasyPrint load); the median of the others is the
figure. Last, the real command `meiyu report --format html,pdf,xlsx` once, process start-up
included.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results import record  # noqa: E402

from kernel.config import load_config, parse_month  # noqa: E402
from meiyu.demo.fixturesite.corpus import build_world  # noqa: E402
from meiyu.demo.month import DEMO_NOTE  # noqa: E402
from reports.monthly import build_monthly, render_html  # noqa: E402
from reports.pdf import write_pdf  # noqa: E402
from reports.xlsx import write_xlsx  # noqa: E402
from storage.db import make_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.conftest import write_config  # noqa: E402

STEPS = ("build", "html", "pdf", "xlsx")


def _env(db_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    if db_url:
        env["MEIYU_DATABASE_URL"] = db_url
    return env


def demo_copy(db: Path, scratch: Path) -> Path:
    """A copy of the demo database to read from (the user's file is left as it is)."""
    if not db.exists():
        print(f"{db} not found: running `meiyu demo` first (not timed)", flush=True)
        db = scratch / "demo-built.db"
        subprocess.run(
            [sys.executable, "-m", "meiyu.cli", "demo", "--out", str(scratch / "demo")],
            cwd=REPO,
            env=_env(f"sqlite:///{db}"),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    copy = scratch / "report-bench.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--db", type=Path, default=REPO / "data" / "demo.db")
    ap.add_argument("--month", default="2023-12")
    ap.add_argument("--repeat", type=int, default=3, help="Warm runs after the cold one.")
    ap.add_argument("--json", type=Path, help="Merge the figures into this results file.")
    args = ap.parse_args()
    year, month = parse_month(args.month)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = demo_copy(args.db, tmp)
        url = f"sqlite:///{db}"
        # the demo's sources (the fixture world's outlets) and the shipped indicators
        cfg_path = write_config(
            tmp / "meiyu.toml", db_url=url, proxy=None, feeds=build_world().feeds()
        )
        cfg = load_config(cfg_path, env={})
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        runs: list[dict[str, float]] = []
        for i in range(args.repeat + 1):
            t: dict[str, float] = {}
            t0 = time.perf_counter()
            with sessions() as s:
                report = build_monthly(cfg, s, year, month, demo_note=DEMO_NOTE)
            t["build"] = time.perf_counter() - t0
            stem = tmp / f"run{i}" / f"meiyu-report-{report.period}"
            stem.parent.mkdir()
            t0 = time.perf_counter()
            html = render_html(report)
            stem.with_suffix(".html").write_text(html, encoding="utf-8")
            t["html"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            write_pdf(html, stem.with_suffix(".pdf"))
            t["pdf"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            write_xlsx(report, stem.with_suffix(".xlsx"))
            t["xlsx"] = time.perf_counter() - t0
            t["all"] = sum(t[k] for k in STEPS)
            runs.append(t)
            print(
                f"  run {i + 1}{' (cold)' if i == 0 else '       '}  "
                + "  ".join(f"{k} {t[k]:5.2f} s" for k in (*STEPS, "all")),
                flush=True,
            )
        engine.dispose()
        warm = runs[1:]
        figures = {
            f"{k}_s": round(statistics.median(r[k] for r in warm), 2) for k in (*STEPS, "all")
        }
        figures["cold_all_s"] = round(runs[0]["all"], 2)
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "meiyu.cli", "--config", str(cfg_path), "report"]
            + ["--month", args.month, "--format", "html,pdf,xlsx", "--out", str(tmp / "cli")],
            cwd=REPO,
            env=_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        figures["command_s"] = round(time.perf_counter() - t0, 2)
        sizes = {p.suffix[1:]: p.stat().st_size for p in (tmp / "cli").iterdir()}
    print(
        f"monthly report {args.month} of the demo database, median of {len(warm)} warm runs: "
        f"build {figures['build_s']} s, html {figures['html_s']} s, pdf {figures['pdf_s']} s, "
        f"xlsx {figures['xlsx_s']} s; all three {figures['all_s']} s per report "
        f"(cold {figures['cold_all_s']} s)"
    )
    print(
        f"`meiyu report --format html,pdf,xlsx` (new process, start-up included): "
        f"{figures['command_s']} s; files: "
        + ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in sorted(sizes.items()))
    )
    if args.json:
        params = {"month": args.month, "repeat": len(runs), "database": "demo (SQLite)"}
        record(args.json, "report", figures, params)


if __name__ == "__main__":
    main()
