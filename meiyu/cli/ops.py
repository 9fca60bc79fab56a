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
from meiyu.cli.serve import HOST_OPTION, PORT_OPTION, _serve

if TYPE_CHECKING:
    from scheduler import JobInfo


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/demo"),
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Then serve the dashboard on the demo database, with a one-time demo account "
            "whose password is printed once (the demo is built first unless it is there).",
        ),
    ] = False,
    host: Annotated[str, HOST_OPTION] = "127.0.0.1",
    port: Annotated[int, PORT_OPTION] = 8000,
) -> None:
    """Serve the generated demo corpus locally, crawl it, compute, and write the report."""
    from meiyu.demo.fixturesite.server import FixtureSite
    from meiyu.demo.month import DEMO_NOTE, demo_config, write_manifest

    base = state.config()
    with FixtureSite() as site:
        cfg = demo_config(base, site)
        if serve and _demo_built(cfg, out_dir):
            _common.out.print(
                "the demo database is built already (`meiyu demo` without --serve rebuilds it)"
            )
        else:
            _common.out.print(
                f"demo corpus served at {site.proxy_url} (HTTP proxy for *.test hosts)"
            )
            _run_crawl(cfg, list(cfg.sources))
            _build_demo(cfg, out_dir, DEMO_NOTE)
            write_manifest(site.world, out_dir)
    if serve:
        _serve_demo(cfg, host, port)


DEMO_MONTH = (2023, 12)
DEMO_ACCOUNT = "demo"


def _build_demo(cfg: Config, out_dir: Path, note: str) -> None:
    _compute(cfg)
    _demo_alerts(cfg)
    paths = _report(cfg, *DEMO_MONTH, out_dir, note, ["html", "pdf", "xlsx"])
    brief_path = _brief(cfg, "2023-W52", None, out_dir, demo_note=note)
    for path in paths:
        _common.out.print(f"[bold green]demo report:[/bold green] {path.resolve()}")
    _common.out.print(f"[bold green]weekly brief:[/bold green] {brief_path.resolve()}")


def _demo_built(cfg: Config, out_dir: Path) -> bool:
    """Whether `meiyu demo` ran to its end here: the report written and every indicator's demo
    month stored."""
    from reports.series import series_rows

    year, month = DEMO_MONTH
    if not (out_dir / f"meiyu-report-{year:04d}-{month:02d}.html").is_file():
        return False
    _, sessions = _sessions(cfg)
    with sessions() as s:
        return all(
            any(
                str(r["period"]) == f"{year:04d}-{month:02d}" for r in series_rows(s, k, i, "month")
            )
            for k, i in cfg.indicators.items()
        )


def _serve_demo(cfg: Config, host: str, port: int) -> None:
    """The dashboard on the demo database with an admin account `demo` that lives as long as
    the server: a random password, printed once, and removed (with its logins) at exit."""
    import secrets

    from meiyu.demo.month import DEMO_NOTE
    from storage.db import transaction
    from storage.users import add_user, remove_user, user_by_name
    from web.accounts import hash_password

    password = secrets.token_urlsafe(18)
    _, sessions = _sessions(cfg)
    with transaction(sessions) as s:
        old = user_by_name(s, DEMO_ACCOUNT)
        if old is not None:
            remove_user(s, old.id)
        add_user(s, DEMO_ACCOUNT, "admin", hash_password(password))

    def ready(url: str) -> None:
        _common.out.print(
            f"log in at {url} as {DEMO_ACCOUNT} with the password {password} "
            "(this once: the account is removed when the server stops)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    try:
        _serve(cfg, host, port, 8.0, ready, demo_note=DEMO_NOTE)
    finally:
        with transaction(sessions) as s:
            account = user_by_name(s, DEMO_ACCOUNT)
            if account is not None:
                remove_user(s, account.id)


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
