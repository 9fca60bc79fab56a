"""The scheduler's bookkeeping in `job_runs`: claiming a firing, progress, and what happened.

A firing is claimed by inserting its (job_id, slot) row; the unique key makes that the lock
between schedulers on one database (SQLite or PostgreSQL alike). Rows go
queued → running → ok | failed | abandoned. An abandoned firing (its scheduler stopped or
died) may be claimed again, by updating the row, so it still runs once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import JobRun, utcnow

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class JobRunRow:
    id: int
    job_id: str
    slot: dt.datetime
    holder: str
    status: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress: dict[str, Any]
    error: str | None


def _row(run: JobRun) -> JobRunRow:
    return JobRunRow(
        run.id,
        run.job_id,
        run.slot,
        run.holder,
        run.status,
        run.started_at,
        run.heartbeat_at,
        run.finished_at,
        dict(run.progress or {}),
        run.error,
    )


def reap(
    session: Session,
    holder: str,
    holder_alive: Callable[[str], bool],
    stale_before: dt.datetime,
    job_id: str | None = None,
) -> list[JobRunRow]:
    """Mark active runs of other holders abandoned where the holder is gone or silent."""
    stmt = select(JobRun).where(JobRun.status.in_(ACTIVE), JobRun.holder != holder)
    if job_id is not None:
        stmt = stmt.where(JobRun.job_id == job_id)
    reaped = []
    for run in session.scalars(stmt):
        beat = run.heartbeat_at or run.started_at
        if holder_alive(run.holder) and beat >= stale_before:
            continue
        run.status = "abandoned"
        run.finished_at = utcnow()
        run.error = f"its scheduler {run.holder} stopped without finishing it"
        reaped.append(_row(run))
    return reaped


def claim(
    factory: sessionmaker[Session],
    job_id: str,
    slot: dt.datetime,
    holder: str,
    holder_alive: Callable[[str], bool],
    stale_before: dt.datetime,
) -> int | None:
    """The run id if this holder may run the firing; None if another scheduler has it or the
    job is still running elsewhere (best effort across hosts: the slot itself is exact)."""
    with transaction(factory) as s:
        reap(s, holder, holder_alive, stale_before, job_id)
        busy = s.scalar(
            select(JobRun.id).where(JobRun.job_id == job_id, JobRun.status.in_(ACTIVE)).limit(1)
        )
        if busy is not None:
            return None
    now = utcnow()
    try:
        with transaction(factory) as s:
            run = JobRun(
                job_id=job_id,
                slot=slot,
                holder=holder,
                status="queued",
                started_at=now,
                heartbeat_at=now,
                progress={},
            )
            s.add(run)
            s.flush()
            return run.id
    except IntegrityError:
        pass
    with transaction(factory) as s:  # taken before: only an abandoned run may be claimed again
        taken = s.execute(
            update(JobRun)
            .where(JobRun.job_id == job_id, JobRun.slot == slot, JobRun.status == "abandoned")
            .values(
                status="queued",
                holder=holder,
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                progress={},
                error=None,
            )
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return s.scalar(select(JobRun.id).where(JobRun.job_id == job_id, JobRun.slot == slot))


def start(factory: sessionmaker[Session], run_id: int, holder: str) -> bool:
    """queued → running; False if the claim was lost meanwhile (reaped and taken over)."""
    now = utcnow()
    with transaction(factory) as s:
        result = s.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.holder == holder, JobRun.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def set_progress(
    factory: sessionmaker[Session], run_id: int, holder: str, progress: dict[str, Any]
) -> None:
    with transaction(factory) as s:
        s.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.holder == holder)
            .values(progress=progress, heartbeat_at=utcnow())
        )


def heartbeat(factory: sessionmaker[Session], holder: str, run_ids: Iterable[int]) -> None:
    """These runs (queued ones included) are still looked after by their holder."""
    with transaction(factory) as s:
        s.execute(
            update(JobRun)
            .where(JobRun.id.in_(list(run_ids)), JobRun.holder == holder, JobRun.status.in_(ACTIVE))
            .values(heartbeat_at=utcnow())
        )


def finish(
    factory: sessionmaker[Session], run_id: int, holder: str, status: str, error: str | None
) -> None:
    now = utcnow()
    with transaction(factory) as s:
        s.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.holder == holder)
            .values(status=status, error=error, finished_at=now, heartbeat_at=now)
        )


def abandoned_slots(session: Session, job_ids: Iterable[str]) -> dict[str, dt.datetime]:
    """Jobs whose latest firing was abandoned, with that firing's slot."""
    out = {}
    for job_id in job_ids:
        last = session.scalars(
            select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.slot.desc()).limit(1)
        ).first()
        if last is not None and last.status == "abandoned":
            out[job_id] = last.slot
    return out


def active_runs(session: Session) -> list[JobRunRow]:
    stmt = select(JobRun).where(JobRun.status.in_(ACTIVE)).order_by(JobRun.started_at)
    return [_row(r) for r in session.scalars(stmt)]


def last_runs(session: Session) -> list[JobRunRow]:
    """The latest claimed firing of each job (by when it was claimed)."""
    latest = (
        select(JobRun.job_id, func.max(JobRun.started_at).label("at"))
        .group_by(JobRun.job_id)
        .subquery()
    )
    stmt = (
        select(JobRun)
        .join(latest, (JobRun.job_id == latest.c.job_id) & (JobRun.started_at == latest.c.at))
        .order_by(JobRun.job_id)
    )
    return [_row(r) for r in session.scalars(stmt)]


def runs_of(session: Session, job_id: str | None = None) -> list[JobRunRow]:
    stmt = select(JobRun).order_by(JobRun.job_id, JobRun.slot)
    if job_id is not None:
        stmt = stmt.where(JobRun.job_id == job_id)
    return [_row(r) for r in session.scalars(stmt)]
