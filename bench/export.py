"""`meiyu export` of a million generated documents: rows/s and the export process's peak RSS.

    .venv/bin/python bench/export.py [--documents 1000000] [--small 100000]
        [--formats parquet,jsonl] [--backends sqlite[,postgresql]]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json bench/results.json]

Generates the documents with bench/compute.py's generator (2020-2023, Chinese and Korean,
reprint clusters, indicator matches, a67 sentiment) into a fresh database, once with `--small`
and once with `--documents` rows, then runs the real command (`python -m meiyu.cli export`) in a
child process per format. Peak RSS is the child's own (os.wait4), so memory that stays the same
from 100,000 to 1,000,000 rows is what "bounded" means here. The Parquet file's row count is
checked against the database.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import pyarrow.parquet as pq  # noqa: E402
from compute import generate  # noqa: E402
from results import record  # noqa: E402
from scratch import scratch_postgres  # noqa: E402


@dataclass(frozen=True)
class Figure:
    backend: str
    rows: int
    fmt: str
    seconds: float
    peak_rss_mb: float
    size_mb: float


# Linux carries a process's peak RSS across fork and exec, so a child forked straight from this
# process (hundreds of MB after generating) would report at least that. A small launcher forks
# the export instead and reports the export's own ru_maxrss (kilobytes on Linux).
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_export(url: str, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `meiyu export` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    env["MEIYU_DATABASE_URL"] = url
    cmd = [sys.executable, "-m", "meiyu.cli", "--config", str(REPO / "meiyu.toml")]
    report = out.with_suffix(".rusage")
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(report), *cmd, "export", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    code, maxrss_kb = (int(v) for v in report.read_text().split())
    if done.returncode != 0 or code != 0:
        raise SystemExit(f"export failed ({code}): {done.stderr.strip()}")
    return seconds, maxrss_kb / 1024


def bench(backend: str, url: str, n: int, formats: list[str], tmp: Path) -> list[Figure]:
    t0 = time.perf_counter()
    generate(url, n)
    print(f"  generated {n:,} documents in {time.perf_counter() - t0:.0f} s", flush=True)
    figures = []
    for fmt in formats:
        out = tmp / f"export-{n}.{fmt}"
        seconds, rss = run_export(url, out)
        if fmt == "parquet":
            rows = pq.ParquetFile(out).metadata.num_rows
            if rows != n:
                raise SystemExit(f"parquet holds {rows:,} rows, expected {n:,}")
        size = out.stat().st_size / 1e6
        figures.append(Figure(backend, n, fmt, seconds, rss, size))
        print(
            f"  {fmt:<8} {n:>9,} rows  {seconds:6.1f} s  {n / seconds:>8,.0f} rows/s  "
            f"peak RSS {rss:6.0f} MB  file {size:7.1f} MB",
            flush=True,
        )
        out.unlink()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--documents", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--formats", default="parquet,jsonl")
    ap.add_argument("--backends", default="sqlite")
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "MEIYU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--json", type=Path, help="Merge the figures into this results file.")
    args = ap.parse_args()
    formats = args.formats.split(",")
    figures: list[Figure] = []
    for backend in args.backends.split(","):
        for n in (args.small, args.documents):
            print(f"{backend}, {n:,} documents:", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                if backend == "sqlite":
                    figures += bench(backend, f"sqlite:///{tmp}/bench.db", n, formats, Path(tmp))
                    continue
                with scratch_postgres(args.postgres) as url:
                    figures += bench(backend, url, n, formats, Path(tmp))
    print("\nmeiyu export (child process: start-up, query, write, datasheet):")
    print(f"  {'backend':<11}{'format':<9}{'rows':>11}{'rows/s':>10}{'peak RSS':>11}")
    for f in figures:
        print(
            f"  {f.backend:<11}{f.fmt:<9}{f.rows:>11,}{f.rows / f.seconds:>10,.0f}"
            f"{f.peak_rss_mb:>8.0f} MB"
        )
    if args.json:
        rows = [
            {**asdict(f), "seconds": round(f.seconds, 2), "rows_per_s": round(f.rows / f.seconds)}
            | {"peak_rss_mb": round(f.peak_rss_mb, 1), "size_mb": round(f.size_mb, 1)}
            for f in figures
        ]
        params = {"small": args.small, "documents": args.documents, "formats": formats}
        record(args.json, "export", {"runs": rows}, params)


if __name__ == "__main__":
    main()
