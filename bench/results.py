"""bench/results.json: each benchmark's latest figures, with the machine they were measured on.

Every bench script takes `--json PATH` and calls `record`; entries of other benchmarks are kept,
so one bench can be rerun alone. `bench/run_all.py` prints the table the README shows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().with_name("results.json")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU, cores, memory, and the versions in the path."""
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": platform.platform(terse=True),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "torch": torch_version,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def record(path: Path, name: str, figures: dict[str, Any], params: dict[str, Any]) -> None:
    """Replace `name`'s entry in the results file (written whole, then renamed)."""
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("benchmarks", {})[name] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": params,
        "figures": figures,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"figures written to {path} ({name})", flush=True)
