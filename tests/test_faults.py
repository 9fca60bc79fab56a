"""Faults injected into real processes: SIGKILL of the analyser and of the scheduler mid-job,
PostgreSQL cut off mid-run (a TCP proxy the test controls stands in for a restart), a full
disk and a read-only data folder.

After each, the stored state is compared with one clean `meiyu compute` of the same documents:
the same rows, none twice, none half-written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from meiyu.demo.fixturesite.corpus import World
from nlp.fingerprint import content_hash
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.writes import DocumentRecord, ensure_source, record_mention, upsert_document
from tests.conftest import REPO, run_meiyu, write_config

# Processes, signals and servers: the full suite, not `make check`.
pytestmark = pytest.mark.slow

# About 60 Korean items naming the city: enough for eight sentiment batches of 8, so a kill
# lands between committed batches, and quick enough to score several times per test.
OUTLET = "seohae"
ARTICLES = 120
BATCH = 8
TIMEOUT = 240  # generous: several helpers share two cores


# ------------------------------------------------------------------ documents and state


def seed(db_url: str, world: World) -> int:
    """The outlet's first articles stored as a crawl would store them; the count of a67's."""
    engine = make_engine(db_url)
    upgrade(engine)
    articles = [a for a in world.articles if a.outlet.source == OUTLET][:ARTICLES]
    with transaction(session_factory(engine)) as s:
        outlet = articles[0].outlet
        source_id = ensure_source(s, OUTLET, "rss", outlet.language, outlet.name)
        for a in articles:
            body = "\n".join(a.paragraphs)
            record = DocumentRecord(
                url=a.url,
                source=OUTLET,
                outlet=outlet.name,
                title=a.title,
                text=body,
                language=outlet.language,
                published_at=a.published,
                fetched_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                content_hash=content_hash(body, a.title),
            )
            _, doc_id = upsert_document(s, record, source_id, None)
            record_mention(s, doc_id, OUTLET, "", "", "")
    engine.dispose()
    return sum("a67" in a.planted for a in articles)


def config(path: Path, db_url: str, extra: str = "") -> Path:
    return write_config(
        path, db_url=db_url, proxy=None, extra=f"[nlp]\nbatch_size = {BATCH}\n{extra}"
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


State = dict[str, list[tuple[Any, ...]]]


def stored_state(db_url: str) -> State:
    """What the analysis and the series stored, by document URL (ids and times left out),
    each table sorted so that a duplicate row shows as a difference."""
    engine = create_engine(db_url)
    with engine.connect() as c:
        docs = c.execute(text("SELECT id, url, cluster_id FROM documents")).all()
        url = {d.id: d.url for d in docs}
        state: State = {
            "documents": sorted((d.url, url.get(d.cluster_id)) for d in docs),
            "indicator_matches": sorted(
                (url[r[0]], r[1], tuple(_json(r[2])), r[3], bool(r[4]), bool(r[5]))
                for r in c.execute(
                    text(
                        "SELECT document_id, indicator, terms, definition_version, literal, "
                        "relevant FROM indicator_matches"
                    )
                )
            ),
            "sentiment_results": sorted(
                (url[r[0]], r[1], r[2], r[3], r[4], _json(r[5]), r[6])
                for r in c.execute(
                    text(
                        "SELECT document_id, model_id, target, label, score, probabilities, "
                        "evidence FROM sentiment_results"
                    )
                )
            ),
            "indicator_values": sorted(
                (r[0], r[1], r[2], r[3], r[4], r[5], r[6], _json(r[7]))
                for r in c.execute(
                    text(
                        "SELECT indicator, period_type, period, definition_version, value, "
                        "n_items, n_stories, details FROM indicator_values"
                    )
                )
            ),
        }
    engine.dispose()
    return state


def same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-5: a resumed run scores other batches, and padding a sentence
    with other neighbours moves its probabilities in the 7th decimal."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_same_state(got: State, want: State) -> None:
    for table, rows in want.items():
        have = got[table]
        assert len(have) == len(rows), f"{table}: {len(have)} rows, the clean run {len(rows)}"
        for h, w in zip(have, rows, strict=True):
            assert same(h, w), f"{table}: {h!r} != {w!r}"


def assert_part_of(got: State, want: State) -> None:
    """Every stored row is a row of the clean run: nothing half-written, nothing twice."""
    for table in ("indicator_matches", "sentiment_results", "indicator_values"):
        keys = {row[:3]: row for row in want[table]}
        assert len({row[:3] for row in got[table]}) == len(got[table]), f"{table}: duplicates"
        for row in got[table]:
            assert row[:3] in keys and same(row, keys[row[:3]]), f"{table}: {row!r}"


def count(db_url: str, table: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    except Exception:  # noqa: BLE001 - the table is not created yet
        return 0
    finally:
        engine.dispose()


def wait_until(what: str, done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll for a state the processes reach by themselves (a deadline, not a timing test)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def meiyu_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **extra}


def start(
    cfg: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meiyu.cli", "--config", str(cfg), *args],
        cwd=REPO,
        env=meiyu_env(**(env or {})),
        text=True,
        **popen,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, world: World) -> State:
    """One uninterrupted `meiyu compute` of the seeded documents on SQLite."""
    folder = tmp_path_factory.mktemp("clean")
    db_url = f"sqlite:///{folder / 'clean.db'}"
    planted = seed(db_url, world)
    proc = run_meiyu("--config", str(config(folder / "meiyu.toml", db_url)), "compute")
    assert proc.returncode == 0, proc.stderr
    state = stored_state(db_url)
    relevant = [r for r in state["indicator_matches"] if r[1] == "a67" and r[5]]
    assert len(relevant) >= planted // 2 > 3 * BATCH  # batches enough to kill between
    assert len(state["sentiment_results"]) == len(relevant)
    return state


# ------------------------------------------------------------------ SIGKILL


def test_sigkill_of_the_analyser_then_rerun_converges(
    tmp_path: Path, world: World, clean: State
) -> None:
    # SQLite: on PostgreSQL a killed client's open transaction is the server's to roll back,
    # which the proxy test below does by cutting the connection mid-batch.
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    seed(db_url, world)
    cfg = config(tmp_path / "meiyu.toml", db_url)
    total = len(clean["sentiment_results"])
    proc = start(cfg, "compute", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(
            "a committed sentiment batch",
            lambda: count(db_url, "sentiment_results") > 0 or proc.poll() is not None,
        )
        assert proc.poll() is None, "compute finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    killed = stored_state(db_url)
    assert 0 < len(killed["sentiment_results"]) < total
    assert killed["indicator_values"] == []  # the series come after the analysis
    assert_part_of(killed, clean)

    again = run_meiyu("--config", str(cfg), "compute", env={"COLUMNS": "200"})
    assert again.returncode == 0, again.stderr
    scored = total - len(killed["sentiment_results"])
    assert f"sentiment a67: {scored} items scored" in again.stdout  # only what was missing
    assert_same_state(stored_state(db_url), clean)


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(k) for k in (task / "children").read_text().split()}
    return kids


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's new parent may reap it late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _job_runs(db_url: str) -> list[tuple[int, str, str | None]]:
    engine = create_engine(db_url)
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT id, status, error FROM job_runs WHERE job_id = 'compute' ORDER BY id")
        ).all()
    engine.dispose()
    return [(r[0], r[1], r[2]) for r in rows]


def _scheduler(cfg: Path, log: Path) -> subprocess.Popen[str]:
    """The service in its own process group, so the test can kill it as an outage would."""
    with log.open("a") as out:
        return start(
            cfg, "-v", "schedule", stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the step")
def test_sigkill_of_the_scheduler_mid_job_then_restart_converges(
    tmp_path: Path, world: World, clean: State
) -> None:
    import scheduler
    from kernel.config import load_config

    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    seed(db_url, world)
    path = config(tmp_path / "meiyu.toml", db_url, "[schedule]\nstop_grace_seconds = 1\n")
    svc = scheduler.Service(load_config(path, env={}), str(path))
    svc.open()  # the jobs stored as `meiyu schedule --list` would store them; compute due now
    svc.scheduler.modify_job("compute", next_run_time=dt.datetime.now(dt.UTC))
    svc.close()
    svc.engine.dispose()

    first = _scheduler(path, tmp_path / "first.log")
    try:
        wait_until(
            "the compute step's first committed batch",
            lambda: count(db_url, "sentiment_results") > 0 or first.poll() is not None,
        )
        (step,) = _children(first.pid)
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=60)
    ((run_id, status, _),) = _job_runs(db_url)
    assert status == "running"  # nobody was left to say otherwise
    # The step dies with its scheduler (PR_SET_PDEATHSIG): what it committed stays, its open
    # unit is rolled back, and the restarted service runs the firing again. Every unit is
    # idempotent, so the result is the clean run's.

    log = tmp_path / "second.log"
    second = _scheduler(path, log)
    try:
        wait_until("the retried compute", lambda: _job_runs(db_url)[0][1] in ("ok", "failed"))
        wait_until("the orphaned step to end", lambda: not _running(step))
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(timeout=120)
        if _running(step):
            os.kill(step, signal.SIGKILL)
    text_log = log.read_text(errors="replace")
    assert code == 0, text_log[-3000:]
    assert _job_runs(db_url) == [(run_id, "ok", None)], text_log[-3000:]
    assert "compute" in text_log and "marked abandoned" in text_log
    assert "running its abandoned firing" in text_log
    assert_same_state(stored_state(db_url), clean)


# ------------------------------------------------------------------ PostgreSQL cut off


class CuttableProxy:
    """127.0.0.1:port → PostgreSQL. `cut()` drops every connection and refuses new ones (what
    a client sees of a server restart); `restore()` accepts again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = 0
        self.restore()

    def restore(self) -> None:
        if self._listener is not None:
            return
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            _close(conn)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[CuttableProxy]:
    url = make_url(postgres_url)
    p = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield p
    p.cut()


class Lines:
    """A child's stderr, read as it comes."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "\n".join(self.lines)


def test_postgresql_cut_off_mid_run_retries_then_resumes_or_stops_in_one_line(
    postgres_url: str, proxy: CuttableProxy, tmp_path: Path, world: World, clean: State
) -> None:
    seed(postgres_url, world)
    total = len(clean["sentiment_results"])
    through = make_url(postgres_url).set(port=proxy.port, password="not-a-real-secret")
    proxied = through.render_as_string(hide_password=False)
    shown = through.render_as_string(hide_password=True)

    def compute(retry_seconds: float, cut_after: int) -> tuple[subprocess.Popen[str], Lines]:
        proc = start(
            config(tmp_path / "meiyu.toml", proxied),
            "compute",
            env={"MEIYU_DATABASE__RETRY_SECONDS": str(retry_seconds)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        err = Lines(proc.stderr)
        wait_until(
            "a committed sentiment batch",
            lambda: count(postgres_url, "sentiment_results") > cut_after or proc.poll() is not None,
        )
        assert proc.poll() is None, "compute finished before the cut\n" + err.text()
        proxy.cut()
        return proc, err

    # The server stays away longer than the command waits: it stops in one line, exit 1.
    proc, err = compute(retry_seconds=3, cut_after=0)
    code = proc.wait(timeout=TIMEOUT)
    stderr = err.text()
    assert code == 1, stderr
    (line,) = error_lines(stderr)
    assert line.startswith(f"error: database unreachable at {shown}: "), stderr
    assert "gave up after 3 s" in line and "Traceback" not in stderr
    retries = [x for x in stderr.splitlines() if "retry 1 in" in x]
    assert retries and f"database unreachable at {shown}" in retries[0]
    assert "not-a-real-secret" not in stderr
    stopped = stored_state(postgres_url)
    assert 0 < len(stopped["sentiment_results"]) < total
    assert len(stopped["sentiment_results"]) % BATCH == 0  # whole batches only
    assert_part_of(stopped, clean)

    # Restarted within the wait: the unit in progress runs again, and the run completes.
    proxy.restore()
    proc, err = compute(retry_seconds=120, cut_after=len(stopped["sentiment_results"]))
    wait_until("a retry line", lambda: any("retry 1 in" in x for x in err.lines))
    proxy.restore()
    code = proc.wait(timeout=TIMEOUT)
    stderr = err.text()
    assert code == 0, stderr
    assert error_lines(stderr) == [] and "Traceback" not in stderr
    assert_same_state(stored_state(postgres_url), clean)


# ------------------------------------------------------------------ disk full, read-only


def _integrity(path: Path) -> str:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_disk_full_mid_run_is_one_line_and_the_database_stays_intact(
    tmp_path: Path, world: World, clean: State
) -> None:
    db = tmp_path / "meiyu.db"
    db_url = f"sqlite:///{db}"
    seed(db_url, world)
    seeded = stored_state(db_url)["documents"]
    cfg = config(tmp_path / "meiyu.toml", db_url)
    # No file may grow past the database's own size: the first units fit in the WAL, a
    # later one cannot be written (the kernel answers EFBIG, as a full disk answers ENOSPC).
    limit = db.stat().st_size

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error from write(), not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = start(
        cfg, "compute", stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=small_files
    )
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert line.startswith(f"error: database error at {db_url}: disk I/O error"), err
    assert "rolled back" in line

    assert _integrity(db) == "ok"
    after = stored_state(db_url)
    assert [url for url, _ in after["documents"]] == [url for url, _ in seeded]
    assert_part_of(after, clean)
    # an indicator's matches are one unit: all there or none, whichever unit hit the limit
    for ind in ("a29", "a68", "a67"):
        have = [r for r in after["indicator_matches"] if r[1] == ind]
        want = [r for r in clean["indicator_matches"] if r[1] == ind]
        assert len(have) in (0, len(want)), ind


def test_read_only_data_folder_is_one_line_and_the_database_stays_intact(
    tmp_path: Path, world: World
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "meiyu.db"
    db_url = f"sqlite:///{db}"
    seed(db_url, world)
    before = db.read_bytes()
    cfg = config(tmp_path / "meiyu.toml", db_url)
    argv = [sys.executable, "-m", "meiyu.cli", "--config", str(cfg), "compute"]
    if os.geteuid() == 0:
        # root writes through chmod: make the folder a read-only mount, in a mount namespace
        # of the child's own so nothing else sees it.
        unshare = shutil.which("unshare")
        if unshare is None:
            pytest.skip("running as root without unshare(1): cannot make a read-only folder")
        probe = subprocess.run(
            [unshare, "--mount", "--propagation", "private", "true"], capture_output=True
        )
        if probe.returncode != 0:
            pytest.skip(f"running as root, no mount namespace: {probe.stderr!r}")
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        argv = [unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                str(folder), *argv]  # fmt: skip
    else:
        db.chmod(0o444)
        folder.chmod(0o555)
    try:
        proc = subprocess.run(
            argv, cwd=REPO, env=meiyu_env(), capture_output=True, text=True, timeout=TIMEOUT
        )
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == error_lines(proc.stderr)
    (line,) = error_lines(proc.stderr)
    assert line.startswith(f"error: cannot reach database {db_url}: "), line
    assert f"the folder {folder} is read-only" in line, line
    assert db.read_bytes() == before and _integrity(db) == "ok"
