"""Running it: `meiyu demo`, `meiyu schedule` and `meiyu status`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kernel.config import Config
from kernel.errors import UserError
from meiyu.cli import _common
from meiyu.cli._common import _local, _sessions, _show, app, state
from meiyu.cli.crawl import _run_crawl
from meiyu.cli.indicators import _compute
from meiyu.cli.reports import _brief, _report

if TYPE_CHECKING:
    from scheduler import JobInfo


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/demo"),
) -> None:
    """Serve the generated demo corpus locally, crawl it, compute, and write the report."""
    from meiyu.demo.fixturesite.server import FixtureSite
    from meiyu.demo.month import DEMO_NOTE, demo_config, write_manifest

    base = state.config()
    with FixtureSite() as site:
        cfg = demo_config(base, site)
        _common.out.print(f"demo corpus served at {site.proxy_url} (HTTP proxy for *.test hosts)")
        _run_crawl(cfg, list(cfg.sources))
    _compute(cfg)
    _demo_alerts(cfg)
    year, month = 2023, 12
    paths = _report(cfg, year, month, out_dir, DEMO_NOTE, ["html", "pdf", "xlsx"])
    brief_path = _brief(cfg, "2023-W52", None, out_dir, demo_note=DEMO_NOTE)
    write_manifest(site.world, out_dir)
    for path in paths:
        _common.out.print(f"[bold green]demo report:[/bold green] {path.resolve()}")
    _common.out.print(f"[bold green]weekly brief:[/bold green] {brief_path.resolve()}")


def _demo_alerts(cfg: Config) -> None:
    """Detect and store alerts (the report and brief show them); the demo sends nothing."""
    from pipelines.alerts.delivery import run_alerts

    _, sessions = _sessions(cfg)
    run = run_alerts(cfg, sessions, deliver=False)
    _common.out.print(f"alerts: {run.found} episode(s) found, {run.stored['new']} new")


@app.command()
def schedule(
    once: Annotated[
        bool, typer.Option(help="Run crawl → analyze → compute → alerts → report once, exit.")
    ] = False,
    list_jobs: Annotated[
        bool, typer.Option("--list", help="Show the jobs and their next run times, exit.")
    ] = False,
) -> None:
    """Run the unattended service (APScheduler; jobs and runs are kept in the database)."""
    import scheduler

    cfg = state.config()
    if once and list_jobs:
        raise UserError("--once and --list: choose one")
    if list_jobs:
        _print_jobs(cfg, scheduler.list_jobs(cfg, state.config_path))
    elif once:
        scheduler.run_once(cfg, state.config_path)
    else:
        scheduler.serve(cfg, state.config_path, on_start=lambda jobs: _print_jobs(cfg, jobs))


def _print_jobs(cfg: Config, jobs: list[JobInfo]) -> None:
    table = Table(title=f"scheduled jobs ({cfg.schedule.timezone})")
    for col in ("job", "schedule", "next run", "runs"):
        table.add_column(col)
    for job in jobs:
        table.add_row(job.id, job.schedule, _local(job.next_run, cfg), " → ".join(job.steps))
    _show(table)


@app.command()
def status() -> None:
    """What the scheduler runs now, each job's last run, and the last crawl runs."""
    from storage.job_runs import active_runs, last_runs
    from storage.queries import recent_crawl_runs

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        active, last, crawls = active_runs(s), last_runs(s), recent_crawl_runs(s, 5)
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=cfg.schedule.stale_after_minutes)
    table = Table(title="running now")
    for col in ("job", "status", "step", "started", "heartbeat", "holder"):
        table.add_column(col)
    for r in active:
        step = r.progress.get("step", "—")
        done, total = r.progress.get("done", 0), r.progress.get("total", 0)
        if done < total:
            step = f"{step} ({done + 1}/{total})"
        silent = r.heartbeat_at is not None and r.heartbeat_at < stale
        table.add_row(
            r.job_id,
            r.status + (" (no heartbeat)" if silent else ""),
            step,
            _local(r.started_at, cfg),
            _local(r.heartbeat_at, cfg),
            r.holder,
        )
    if active:
        _show(table)
    else:
        _common.out.print("running now: nothing")
    table = Table(title="last run of each job")
    for col in ("job", "for", "status", "finished", "error"):
        table.add_column(col)
    for r in last:
        table.add_row(
            r.job_id, _local(r.slot, cfg), r.status, _local(r.finished_at, cfg), r.error or ""
        )
    if last:
        _show(table)
    else:
        _common.out.print("no scheduled job has run yet")
    table = Table(title="last crawl runs")
    for col in ("run", "sources", "started", "finished", "status", "items", "new"):
        table.add_column(col)
    for c in crawls:
        table.add_row(
            str(c.id),
            ", ".join(c.sources),
            _local(c.started_at, cfg),
            _local(c.finished_at, cfg),
            c.status,
            str(c.items_seen),
            str(c.documents_new),
        )
    if crawls:
        _show(table)
    else:
        _common.out.print("no crawl has run yet")
