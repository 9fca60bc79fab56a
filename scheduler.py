"""The unattended service: APScheduler fires the jobs of meiyu.jobs, each step a `meiyu` command.

- Jobs are kept in the meiyu database by APScheduler's SQLAlchemyJobStore, in its own table
  `apscheduler_jobs` (APScheduler creates it; the Alembic migrations do not know it). A
  restart compares the stored jobs with the config and keeps the unchanged ones with their
  next run time, so what was missed while the service was down runs once (coalesce, no
  misfire limit), not once per missed time.
- Each firing is claimed by inserting its `job_runs` row (storage.job_runs): of two
  schedulers on one database only one runs it. The row carries the step being run and a
  heartbeat, for `meiyu status`.
- Steps run in child processes: Scrapy's reactor runs once per process, and a crash must not
  take the service down. Jobs run one at a time (they are batches writing many rows, and
  SQLite has one writer).
- SIGTERM/SIGINT: no new jobs; the running step gets SIGTERM, then SIGKILL after
  schedule.stop_grace_seconds. A child writes in transactions, so a killed one leaves no
  partial rows; its firing is marked abandoned and runs again on the next start.
- SIGKILL (or any death of the scheduler): on Linux each child asks the kernel for SIGKILL
  when its parent dies (prctl PR_SET_PDEATHSIG), so no step outlives the service; its firing
  is reaped as abandoned by the next scheduler (its holder is gone).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_fixed,
)

from kernel.config import Config, find_config_path
from kernel.errors import MeiyuError
from meiyu import jobs
from storage import job_runs

log = logging.getLogger("meiyu.scheduler")

# Every job: never two at once, missed times run once, however late (a report due while the
# machine was off is still wanted).
JOB_OPTIONS: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
# The steps of a firing depend on its slot, passed when it fires (stored as a placeholder).
SLOT_KWARGS: dict[str, Any] = {"slot": None}
HEARTBEAT_SECONDS = 30.0
POLL_SECONDS = 0.2


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(holder: str) -> bool:
    """False when the holder is a process of this host that no longer exists; other hosts'
    holders are judged by their heartbeat alone."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class JobInfo:
    """A stored job, for `meiyu schedule --list`."""

    id: str
    schedule: str
    next_run: dt.datetime | None
    steps: list[str]  # what its next firing runs


@dataclass(frozen=True)
class Launcher:
    """How a step's child process is started."""

    command: list[str]
    env: dict[str, str]
    grace: float

    @classmethod
    def from_config(cls, cfg: Config, config_path: str | None) -> Launcher:
        command = list(cfg.schedule.command or jobs.default_command())
        env = dict(os.environ, MEIYU_CONFIG=str(find_config_path(config_path).resolve()))
        return cls(command, env, cfg.schedule.stop_grace_seconds)


class Runs:
    """This process's rows in job_runs: claims, progress, a heartbeat thread, the outcome."""

    def __init__(self, sessions: sessionmaker[Session], stale_after: dt.timedelta) -> None:
        self.sessions = sessions
        self.holder = holder_id()
        self.stale_after = stale_after
        self._active: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # Its own thread: a step holding SQLite's write lock must not hold up the step's
        # supervision (SIGTERM, kill), only the heartbeat.
        threading.Thread(target=self._beat, name="meiyu-heartbeat", daemon=True).start()

    def stale_before(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - self.stale_after

    def reap(self) -> None:
        with self.sessions() as s, s.begin():
            for run in job_runs.reap(s, self.holder, holder_alive, self.stale_before()):
                log.warning("job %s (%s): marked abandoned, %s", run.job_id, run.slot, run.error)

    def claim(self, job_id: str, slot: dt.datetime) -> int | None:
        run_id = job_runs.claim(
            self.sessions, job_id, slot, self.holder, holder_alive, self.stale_before()
        )
        if run_id is not None:
            with self._lock:
                self._active.add(run_id)
        return run_id

    def start(self, run_id: int) -> bool:
        started = job_runs.start(self.sessions, run_id, self.holder)
        if not started:
            self._forget(run_id)
        return started

    def progress(self, run_id: int, step: str, done: int, total: int) -> None:
        """Best effort: progress is for people, and must not fail the run."""
        try:
            job_runs.set_progress(
                self.sessions, run_id, self.holder, {"step": step, "done": done, "total": total}
            )
        except SQLAlchemyError as exc:
            log.warning("run %d: progress not recorded (%s)", run_id, _line(exc))

    def finish(self, run_id: int, status: str, error: str | None) -> None:
        """Record the outcome: three tries 5 s apart (at once once the service is closing),
        one error line per failed try, the last failure raised."""

        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.error("run %d: outcome not recorded (%s)", run_id, _line(exc) if exc else "")

        retrying = Retrying(
            retry=retry_if_exception_type(SQLAlchemyError),
            stop=stop_after_attempt(3),
            wait=wait_fixed(5),
            sleep=self._pause,
            after=failed,
            reraise=True,
        )
        try:
            retrying(job_runs.finish, self.sessions, run_id, self.holder, status, error)
        finally:
            self._forget(run_id)

    def close(self) -> None:
        self._closed.set()

    def _pause(self, seconds: float) -> None:
        """A wait that ends early once the service closes."""
        self._closed.wait(seconds)

    def _forget(self, run_id: int) -> None:
        with self._lock:
            self._active.discard(run_id)

    def _beat(self) -> None:
        while not self._closed.wait(HEARTBEAT_SECONDS):
            with self._lock:
                ids = sorted(self._active)
            if not ids:
                continue
            try:
                job_runs.heartbeat(self.sessions, self.holder, ids)
            except SQLAlchemyError as exc:
                log.warning("heartbeat not recorded (%s)", _line(exc))


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def run_steps(
    runs: Runs,
    run_id: int,
    steps: list[jobs.Step],
    launcher: Launcher,
    cancel: threading.Event,
) -> tuple[str, str | None]:
    """Run the steps in order (a failed step does not stop the next: a partly failed crawl
    still feeds the analysis); the run's status and error line."""
    errors = []
    total = len(steps)
    for done, step in enumerate(steps):
        if cancel.is_set():
            return "abandoned", f"the scheduler stopped before {step.label}"
        runs.progress(run_id, step.label, done, total)
        log.info("run %d: %s", run_id, step.label)
        code, last_line, stopped = _run_child(run_id, step, launcher, cancel)
        if stopped and not (code == 0 and done == total - 1):
            return "abandoned", f"the scheduler stopped during {step.label}"
        if code != 0:
            errors.append(f"{step.label} exited {code}" + (f": {last_line}" if last_line else ""))
            log.error("run %d: %s", run_id, errors[-1])
    runs.progress(run_id, "done", total, total)
    return ("failed", "; ".join(errors)[:2000]) if errors else ("ok", None)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl: Any = None


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel SIGKILL the child when the scheduler dies, even by
    SIGKILL (Linux only; None elsewhere). The signal follows the death of the *thread* that
    started the child: the thread waits for its child, so it outlives it.

    It runs between fork and exec, where only async-signal-safe work is sound: libc's prctl
    is looked up here, in the parent, and the child only calls it and getppid (a parent that
    died before the prctl is seen as a changed parent pid)."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return None
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return None
        _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
        _prctl.restype = ctypes.c_int
    prctl, parent, kill = _prctl, os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, kill)  # kept across exec (not for set-uid programs)
        if os.getppid() != parent:
            os.kill(os.getpid(), kill)

    return preexec


def _run_child(
    run_id: int, step: jobs.Step, launcher: Launcher, cancel: threading.Event
) -> tuple[int, str, bool]:
    """Exit code, last stderr line, and whether it was stopped by the scheduler."""
    env = dict(launcher.env, MEIYU_JOB_RUN_ID=str(run_id))
    argv = [*launcher.command, *step.argv]
    try:
        # Its own session: a terminal's Ctrl-C reaches the scheduler, which stops the child.
        # Dies with the scheduler, however it ends.
        proc = subprocess.Popen(
            argv,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    except OSError as exc:
        return 127, f"cannot start {argv[0]}: {exc.strerror}", False
    last: list[str] = [""]
    assert proc.stderr is not None
    pump = threading.Thread(target=_forward, args=(proc.stderr, last), daemon=True)
    pump.start()
    stopped = False
    while True:
        try:
            code = proc.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                stopped = True
                _stop_child(proc, launcher.grace)
                code = proc.wait()
                break
    pump.join(timeout=5)
    return code, last[0], stopped


def _forward(stream: IO[str], last: list[str]) -> None:
    """Pass the child's stderr through, keeping its last line (meiyu's one-line error)."""
    for line in stream:
        if line.strip():
            last[0] = line.strip()
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # our stderr is gone: keep draining, or the child blocks on a full pipe


def _stop_child(proc: subprocess.Popen[str], grace: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.warning("step pid %d still running after %.0f s: killing it", proc.pid, grace)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it had just exited


class ClaimingExecutor(ThreadPoolExecutor):
    """One worker thread; a firing is submitted only once its job_runs row is claimed, so it
    is claimed before APScheduler moves the job's next run time on. It replaces APScheduler's
    run_job, and with it the misfire check: every submitted firing runs, however late."""

    def __init__(self, service: Service) -> None:
        super().__init__(max_workers=1)
        self._service = service

    def submit_job(self, job: Job, run_times: list[dt.datetime]) -> None:
        assert self._lock is not None, "the executor has not been started"
        with self._lock:
            if self._instances[job.id] >= job.max_instances:
                raise MaxInstancesReachedError(job)
        slot = run_times[-1]  # coalesced: the latest missed time stands for them all
        run_id = self._service.runs.claim(job.id, slot)
        if run_id is None:
            log.info("job %s (%s): taken by another scheduler, or still running", job.id, slot)
            return
        with self._lock:
            try:
                future = self._pool.submit(self._service.run_firing, job, slot, run_id)
            except RuntimeError:  # the pool is shut down: give the firing back
                self._service.runs.finish(run_id, "abandoned", "the scheduler stopped first")
                raise
            self._instances[job.id] += 1

        def done(f: Any) -> None:
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        future.add_done_callback(done)


class _Scheduler(BackgroundScheduler):
    def _process_jobs(self) -> float | None:
        # APScheduler 3's loop wakes once more after shutdown() and, the state being no
        # longer "paused", would submit due jobs then.
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


class Service:
    """The scheduler, its job store and executor on the config's database."""

    def __init__(self, cfg: Config, config_path: str | None) -> None:
        from storage.db import check_connection, make_engine, session_factory
        from storage.migrate import upgrade

        self.cfg = cfg
        self.tz = ZoneInfo(cfg.schedule.timezone)
        self.engine: Engine = make_engine(cfg.database.url)
        check_connection(self.engine)
        upgrade(self.engine)
        stale = dt.timedelta(minutes=cfg.schedule.stale_after_minutes)
        self.runs = Runs(session_factory(self.engine), stale)
        self.launcher = Launcher.from_config(cfg, config_path)
        self.cancel = threading.Event()
        self.specs: dict[str, jobs.JobSpec] = {}
        self.store = SQLAlchemyJobStore(engine=self.engine)
        self.executor = ClaimingExecutor(self)
        self.scheduler = _Scheduler(
            timezone=self.tz,
            jobstores={"default": self.store},
            executors={"default": self.executor},
            job_defaults=JOB_OPTIONS,
        )

    def open(self, now: dt.datetime | None = None) -> None:
        """Start paused, mark dead schedulers' runs abandoned, bring the stored jobs in line
        with the config (unchanged jobs keep their next run time)."""
        now = now or dt.datetime.now(self.tz)
        try:
            self.store.jobs_t.create(self.engine, checkfirst=True)
        except DBAPIError:  # another scheduler created it at the same moment
            self.store.jobs_t.create(self.engine, checkfirst=True)
        self.scheduler.start(paused=True)
        self.runs.reap()
        self.specs = {spec.id: spec for spec in jobs.job_specs(self.cfg, now)}
        sync_jobs(self.scheduler, list(self.specs.values()), now)

    def start(self, now: dt.datetime | None = None) -> None:
        """Open, queue the abandoned firings again, and let due jobs run."""
        now = now or dt.datetime.now(self.tz)
        self.open(now)
        self.retry_abandoned(now)
        self.scheduler.resume()

    def retry_abandoned(self, now: dt.datetime) -> None:
        """A firing abandoned by a stop runs again, unless a newer firing of the job is
        already due (that one covers it)."""
        with self.runs.sessions() as s:
            slots = job_runs.abandoned_slots(s, self.specs)
        for job in self.scheduler.get_jobs():
            slot = slots.get(job.id)
            if slot is None or (job.next_run_time and job.next_run_time <= now):
                continue
            log.warning("job %s: running its abandoned firing of %s again", job.id, slot)
            self.executor.submit_job(job, [slot.astimezone(self.tz)])

    def listing(self) -> list[JobInfo]:
        out = []
        for job in self.scheduler.get_jobs():
            spec = self.specs.get(job.id)
            slot = job.next_run_time
            steps = job.func(*job.args, slot=slot.astimezone(self.tz)) if slot else []
            out.append(
                JobInfo(job.id, spec.schedule if spec else str(job.trigger), slot, steps_of(steps))
            )
        return out

    def run_firing(self, job: Job, slot: dt.datetime, run_id: int) -> list[JobExecutionEvent]:
        """The executor's worker: start the claimed run, run its steps, record the outcome."""
        runs = self.runs
        if self.cancel.is_set():
            runs.finish(run_id, "abandoned", "the scheduler stopped first")
            return []
        if not runs.start(run_id):
            log.warning("job %s (%s): claim lost to another scheduler", job.id, slot)
            return []
        try:
            steps = job.func(*job.args, slot=slot.astimezone(self.tz))
            status, error = run_steps(runs, run_id, steps, self.launcher, self.cancel)
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.exception("job %s (%s) failed", job.id, slot)
        runs.finish(run_id, status, error)
        log.log(
            logging.INFO if status == "ok" else logging.WARNING,
            "job %s (%s): %s%s",
            job.id,
            slot,
            status,
            f" ({error})" if error else "",
        )
        code = EVENT_JOB_EXECUTED if status == "ok" else EVENT_JOB_ERROR
        return [JobExecutionEvent(code, job.id, job._jobstore_alias, slot, retval=status)]

    def stop(self) -> None:
        """No new firings; stop the running step; wait for the worker to record it."""
        self.scheduler.pause()
        self.cancel.set()
        self.scheduler.shutdown(wait=True)
        self.runs.close()

    def close(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.runs.close()


def steps_of(steps: list[jobs.Step]) -> list[str]:
    return [step.label for step in steps]


def sync_jobs(sched: BackgroundScheduler, specs: list[jobs.JobSpec], now: dt.datetime) -> list[str]:
    """Make the store hold exactly `specs`: add new jobs, replace changed ones, remove jobs no
    longer configured. Unchanged jobs are left alone: `add_job(replace_existing=True)` would
    move their next run time past the runs missed while the service was down."""
    changes = []
    stored = {job.id: job for job in sched.get_jobs()}
    wanted = {spec.id for spec in specs}
    for job_id in stored.keys() - wanted:
        sched.remove_job(job_id)
        changes.append(f"removed {job_id}")
    for spec in specs:
        job = stored.get(spec.id)
        ref = f"{spec.func.__module__}:{spec.func.__qualname__}"
        if job is None:
            try:
                sched.add_job(
                    spec.func,
                    spec.trigger,
                    args=spec.args,
                    kwargs=SLOT_KWARGS,
                    id=spec.id,
                    name=spec.id,
                    next_run_time=jobs.first_run(spec, now),
                    **JOB_OPTIONS,
                )
                changes.append(f"added {spec.id}")
            except ConflictingIdError:
                pass  # another scheduler added it just now, from the same config
        elif (
            job.func_ref != ref
            or tuple(job.args) != spec.args
            or job.kwargs != SLOT_KWARGS
            or jobs.trigger_key(job.trigger) != jobs.trigger_key(spec.trigger)
        ):
            sched.modify_job(
                spec.id,
                func=spec.func,
                args=spec.args,
                kwargs=SLOT_KWARGS,
                trigger=spec.trigger,
                next_run_time=jobs.first_run(spec, now),
                **JOB_OPTIONS,
            )
            changes.append(f"rescheduled {spec.id}")
        elif any(getattr(job, key) != value for key, value in JOB_OPTIONS.items()):
            sched.modify_job(spec.id, **JOB_OPTIONS)
    for change in changes:
        log.info("job store: %s", change)
    return changes


def list_jobs(cfg: Config, config_path: str | None) -> list[JobInfo]:
    """The stored jobs (created from the config if absent, without running anything)."""
    service = Service(cfg, config_path)
    service.open()
    try:
        return service.listing()
    finally:
        service.close()


def _on_stop_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()  # only that: the handler may interrupt the main thread anywhere

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(
    cfg: Config,
    config_path: str | None,
    on_start: Callable[[list[JobInfo]], None] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly (exit status 0)."""
    stop = threading.Event()
    _on_stop_signals(stop)
    service = Service(cfg, config_path)
    service.start()
    if on_start:
        on_start(service.listing())
    log.info("scheduler %s running", service.runs.holder)
    try:
        stop.wait()
        log.warning("scheduler %s: stopping (SIGTERM or SIGINT)", service.runs.holder)
    finally:
        service.stop()
    log.info("scheduler %s stopped", service.runs.holder)


def run_once(cfg: Config, config_path: str | None) -> None:
    """`meiyu schedule --once`: crawl, analyse, compute, alerts and the last month's report
    now, recorded in job_runs as job "once"."""
    from storage.db import check_connection, make_engine, session_factory
    from storage.migrate import upgrade

    cancel = threading.Event()
    _on_stop_signals(cancel)
    engine = make_engine(cfg.database.url)
    check_connection(engine)
    upgrade(engine)
    runs = Runs(session_factory(engine), dt.timedelta(minutes=cfg.schedule.stale_after_minutes))
    now = dt.datetime.now(ZoneInfo(cfg.schedule.timezone))
    run_id = runs.claim("once", now)
    if run_id is None:
        raise MeiyuError("another `meiyu schedule --once` is running on this database")
    runs.start(run_id)
    launcher = Launcher.from_config(cfg, config_path)
    try:
        status, error = run_steps(runs, run_id, jobs.once_steps(now), launcher, cancel)
        runs.finish(run_id, status, error)
    finally:
        runs.close()
        engine.dispose()
    if status != "ok":
        raise MeiyuError(f"schedule --once {status}: {error}")
