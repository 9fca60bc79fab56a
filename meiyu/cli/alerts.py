"""`meiyu alerts`: detect, store, deliver."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kernel.errors import MeiyuError
from meiyu.cli import _common
from meiyu.cli._common import _date, _sessions, _show, state

alerts_app = typer.Typer(no_args_is_help=True, help="舆情预警: detect, store, deliver.")


@alerts_app.command("run")
def alerts_run(
    no_deliver: Annotated[
        bool, typer.Option("--no-deliver", help="Detect and store only; send nothing.")
    ] = False,
) -> None:
    """Detect alerts in the stored items, then send each channel what it has not received."""
    from pipelines.alerts.delivery import run_alerts

    cfg = state.config()
    _, sessions = _sessions(cfg)
    run = run_alerts(cfg, sessions, deliver=not no_deliver)
    stored = run.stored
    _common.out.print(
        f"alerts: {run.found} episode(s) found, {stored['new']} new, "
        f"{stored['updated']} updated, {stored['unchanged']} unchanged"
    )
    if no_deliver:
        return
    if not cfg.alerts.channels:
        _common.out.print("no [[alerts.channels]] configured: nothing sent", markup=False)
    for d in run.deliveries:
        outcome = "sent" if d.error is None else f"failed ({d.error})"
        _common.out.print(f"alert #{d.alert_id} → {d.channel}: {outcome}", highlight=False)
    _common.out.print(f"{len(run.deliveries) - len(run.failed)} sent, {len(run.failed)} failed")
    if run.failed:
        first = run.failed[0]
        raise MeiyuError(
            f"{len(run.failed)} alert delivery(ies) failed, retried on the next run; "
            f"first: alert #{first.alert_id} → {first.channel}: {first.error}"
        )


@alerts_app.command("list")
def alerts_list(
    since: Annotated[
        str | None, typer.Option(help="Only alerts whose period ends on or after YYYY-MM-DD.")
    ] = None,
) -> None:
    """The stored alerts and, per channel, whether they were sent."""
    from kernel.alerts import period_text
    from storage.alerts import list_alerts

    cfg = state.config()
    start = _date(since, "--since")
    _, sessions = _sessions(cfg)
    with sessions() as s:
        alerts = list_alerts(s, start)
    table = Table(title="alerts")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("alert")  # indicator and rule
    table.add_column("period")
    table.add_column("observed / expected (p)", justify="right")
    table.add_column("items", justify="right", no_wrap=True)
    table.add_column("deliveries")
    for a in alerts:
        sent = ", ".join(
            f"{name}: {d.get('status', '?')}" for name, d in sorted(a.deliveries.items())
        )
        table.add_row(
            str(a.id),
            f"{a.indicator} {a.rule}",
            period_text(a.period_start, a.period_end),
            f"{a.observed:.3g} / {a.expected:.3g} (p {a.p_value:.2g})",
            str(len(a.items)),
            sent or "not sent",
        )
    _show(table)
    _common.out.print(f"{len(alerts)} alert(s)")
