"""Dashboard latency under load: `meiyu serve` on PostgreSQL with many stored documents.

    .venv/bin/python bench/serve.py [--documents 1000000] [--seconds 60] [--clients 50]
        [--workers 1,2] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--json bench/results.json]

Fills a scratch PostgreSQL database as bench/compute.py does (documents, matches, sentiment,
then `aggregate_all`, then VACUUM ANALYZE), stores an admin account with an API token, and for
each `--workers` count starts `meiyu serve --workers N` as its own process, logs in through the
real form (GET /login for the CSRF field, POST /login for the session cookie), asks each route
once (its `cold` answer: nothing cached yet), then runs `--clients` threads with keep-alive
HTTP connections for `--seconds` over a mix of routes: the overview, an indicator page, a
filtered items page far down, an items search, and the /api/v1 indicators and items. Prints
per route requests, req/s, cold, p50/p95/p99 latency and errors, whether the issue's goals
(overview and indicator p95 <= 200 ms, items search p95 <= 500 ms) are met, and each later
worker count against the first. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from compute import generate  # noqa: E402
from results import record  # noqa: E402
from scratch import scratch_postgres  # noqa: E402
from sqlalchemy import text  # noqa: E402

from kernel.config import load_config  # noqa: E402
from pipelines.aggregate import aggregate_all  # noqa: E402
from storage.db import make_engine, session_factory  # noqa: E402
from storage.users import add_token, add_user  # noqa: E402
from web.accounts import hash_password, new_token  # noqa: E402

PASSWORD = "bench-password-0123456789"
GOALS = {"overview": 200.0, "indicator": 200.0, "items search": 500.0}


def routes(page: int) -> dict[str, tuple[str, bool]]:
    """name → (path, is_api)."""
    return {
        "overview": ("/", False),
        "items filtered": (f"/items?indicator=a29&page={page}", False),
        # the generated titles are "title N": this one is in about 110 of them, found through
        # the trigram index (a real "威海" is in most titles, and the newest-first walk stops
        # at the first 50)
        "items search": ("/items?q=" + urllib.parse.quote("title 4242"), False),
        "indicator": ("/indicators/a29", False),
        "api indicators": ("/api/v1/indicators", True),
        "api items": ("/api/v1/items?indicator=a67&page=10", True),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_account(url: str) -> str:
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        user = add_user(s, "bench", "admin", hash_password(PASSWORD))
        plain, hashed = new_token()
        add_token(s, user.id, hashed)
        s.commit()
    engine.dispose()
    return plain


def login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    body = resp.read().decode()
    login_cookie = (resp.getheader("set-cookie") or "").split(";", 1)[0]
    found = re.search(r'name="csrf" value="([^"]+)"', body)
    if not found:
        sys.exit("no csrf field on /login")
    form = urllib.parse.urlencode({"name": "bench", "password": PASSWORD, "csrf": found[1]})
    conn.request(
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": login_cookie},
    )
    resp = conn.getresponse()
    resp.read()
    for header, value in resp.getheaders():
        if header.lower() == "set-cookie" and value.startswith("meiyu_session="):
            conn.close()
            return value.split(";", 1)[0]
    sys.exit(f"login failed: {resp.status}")


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def load(
    port: int,
    mix: dict[str, tuple[str, bool]],
    cookie: str,
    token: str,
    clients: int,
    seconds: float,
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    lat: dict[str, list[float]] = {k: [] for k in mix}
    errors: dict[str, int] = {k: 0 for k in mix}
    lock = threading.Lock()
    names = list(mix)
    deadline = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < deadline:
            name = rng.choice(names)
            path, api = mix[name]
            headers = {"Authorization": f"Bearer {token}"} if api else {"Cookie": cookie}
            t0 = time.perf_counter()
            try:
                status = get(conn, path, headers)
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                lat[name].append(ms)
                if status != 200:
                    errors[name] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors, time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def prepare(url: str, documents: int) -> tuple[str, int]:
    """The generated database, its series computed and its statistics gathered (what
    autovacuum would have done by the time anyone reads it); the API token and items page."""
    t0 = time.perf_counter()
    generate(url, documents)
    print(f"  generated {documents:,} documents in {time.perf_counter() - t0:.0f} s")
    cfg = load_config(REPO / "meiyu.toml", env={})
    engine = make_engine(url)
    aggregate_all(cfg, session_factory(engine))
    with engine.connect() as conn:
        a29 = conn.execute(
            text("SELECT count(*) FROM indicator_matches WHERE indicator = 'a29'")
        ).scalar_one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    page = max(1, min(100, a29 // 50))
    print(f"  {a29:,} a29 matches; items page {page}")
    return setup_account(url), page


def serve_run(
    url: str, token: str, page: int, workers: int, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """One `meiyu serve --workers N` under the load; per route figures, and each route's
    first answer (before anything is cached) as `cold`."""
    port = free_port()
    env = dict(os.environ, MEIYU_DATABASE_URL=url, MEIYU_WEB_SECRET="b" * 40)
    server = subprocess.Popen(
        [sys.executable, "-m", "meiyu.cli", "--config", str(REPO / "meiyu.toml"), "serve"]
        + ["--port", str(port), "--workers", str(workers)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    mix = routes(page)
    cold: dict[str, float] = {}
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        cookie = login(port)
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for name, (path, api) in mix.items():
            headers = {"Authorization": f"Bearer {token}"} if api else {"Cookie": cookie}
            t0 = time.perf_counter()
            if get(probe, path, headers) != 200:
                sys.exit(f"{path}: not 200 before the load")
            cold[name] = round((time.perf_counter() - t0) * 1000, 1)
        probe.close()
        lat, errors, wall = load(port, mix, cookie, token, args.clients, args.seconds)
    finally:
        server.terminate()
        server.wait(30)
    out: dict[str, dict[str, float]] = {}
    print(f"\n{workers} worker(s), {args.clients} clients, {wall:.0f} s, {args.documents:,} docs:")
    print(
        f"  {'route':<16} {'requests':>8} {'req/s':>7} {'cold':>7} {'p50':>7} {'p95':>7}"
        f" {'p99':>7} errors"
    )
    for name, values in lat.items():
        f = {
            "requests": len(values),
            "rps": round(len(values) / wall, 1),
            "cold": cold[name],
            "p50": round(pct(values, 50), 1),
            "p95": round(pct(values, 95), 1),
            "p99": round(pct(values, 99), 1),
            "errors": errors[name],
        }
        out[name] = f
        print(
            f"  {name:<16} {f['requests']:>8} {f['rps']:>7} {f['cold']:>7} {f['p50']:>7}"
            f" {f['p95']:>7} {f['p99']:>7} {f['errors']}"
        )
    total = sum(len(v) for v in lat.values())
    out["total"] = {
        "requests": total,
        "rps": round(total / wall, 1),
        "errors": sum(errors.values()),
    }
    print(f"  {'total':<16} {total:>8} {total / wall:>7.1f} errors {sum(errors.values())}")
    for name, goal in GOALS.items():
        p95 = out[name]["p95"]
        state = "met" if p95 <= goal else "MISSED"
        print(f"  goal {name} p95 <= {goal:.0f} ms: {p95} ms, {state}")
    return out


def bench(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    token, page = prepare(url, args.documents)
    runs = {n: serve_run(url, token, page, n, args) for n in args.workers}
    figures: dict[str, dict[str, float]] = {}
    for n, out in runs.items():
        figures.update({f"{name}, {n} worker(s)": f for name, f in out.items()})
    base = args.workers[0]
    if len(runs) > 1:
        print(f"\nagainst {base} worker(s) in the same run (same database, same load):")
        for n in args.workers[1:]:
            rps = runs[n]["total"]["rps"] / max(runs[base]["total"]["rps"], 1e-9)
            p95 = {k: runs[n][k]["p95"] / max(runs[base][k]["p95"], 1e-9) for k in GOALS}
            shown = ", ".join(f"{k} p95 ×{v:.2f}" for k, v in p95.items())
            print(f"  {n} workers: total req/s ×{rps:.2f}; {shown}")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--documents", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument(
        "--workers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2],
        help="Comma list of `meiyu serve --workers` counts, each run in turn (first: baseline).",
    )
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "MEIYU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--json", type=Path, help="Merge the figures into this results file.")
    args = ap.parse_args()
    with scratch_postgres(args.postgres) as url:
        figures = bench(url, args)
    if args.json:
        params = {
            "documents": args.documents,
            "seconds": args.seconds,
            "clients": args.clients,
            "workers": args.workers,
        }
        record(args.json, "serve", figures, params)


if __name__ == "__main__":
    main()
