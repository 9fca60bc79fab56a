"""The indicator series: `meiyu compute`, `analyze`, `series` and `assess`."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config
from kernel.errors import UserError
from meiyu.cli import _common
from meiyu.cli._common import _date, _sessions, _show, _show_wide, app, state

if TYPE_CHECKING:
    from kernel.values import Assessment
    from pipelines.match import MatchSummary


@app.command()
def compute(
    since: Annotated[
        str | None,
        typer.Option(help="Recompute series only from this day's year on, YYYY-MM-DD."),
    ] = None,
) -> None:
    """Analyse new documents and recompute every series: day, week, month, quarter, year."""
    cfg = state.config()
    _compute(cfg, _date(since, "--since"))


@app.command()
def analyze(
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Documents scored per commit (default [nlp] batch_size)."),
    ] = None,
) -> None:
    """Group reprints, match documents to indicators and score sentiment (no series).

    Sentiment is committed batch by batch; a killed run resumes with the unscored documents."""
    cfg = state.config()
    _, sessions = _sessions(cfg)
    _analyze(cfg, sessions, batch_size)


def _analyze(
    cfg: Config, sessions: sessionmaker[Session], batch_size: int | None = None
) -> dict[str, MatchSummary]:
    from rich.progress import MofNCompleteColumn, Progress, TaskID

    from pipelines.analyze import analyze_all
    from pipelines.match import match_all
    from pipelines.reprints import cluster_all

    clusters = cluster_all(sessions)
    _common.out.print(
        "stories: "
        + ", ".join(f"{c.language} {c.documents} documents in {c.clusters}" for c in clusters)
    )
    matches = {m.indicator: m for m in match_all(cfg, sessions)}
    for m in matches.values():
        _common.out.print(f"matched {m.indicator}: {m.matched} of {m.scanned} documents")
    tasks: dict[str, TaskID] = {}
    with Progress(
        *Progress.get_default_columns(),
        MofNCompleteColumn(),
        console=_common.err,
        disable=not _common.err.is_terminal,
    ) as bar:

        def on_progress(indicator: str, done: int, total: int) -> None:
            if indicator not in tasks:
                tasks[indicator] = bar.add_task(f"sentiment {indicator}", total=total)
            bar.update(tasks[indicator], completed=done)

        summaries = analyze_all(cfg, sessions, on_progress, batch_size)
    for a in summaries:
        _common.out.print(f"sentiment {a.indicator}: {a.scored} items scored with {a.model_id}")
    return matches


def _compute(cfg: Config, since: dt.date | None = None) -> None:
    from pipelines.aggregate import aggregate_all

    _, sessions = _sessions(cfg)
    matches = _analyze(cfg, sessions)
    table = Table(title="indicators" + (f" (series from {since.year} on)" if since else ""))
    for col in ("indicator", "scanned", "matched", "months", "values", "undated"):
        table.add_column(col, justify="right")
    for agg in aggregate_all(cfg, sessions, since):
        m = matches[agg.indicator]
        table.add_row(
            agg.indicator,
            str(m.scanned),
            str(m.matched),
            str(agg.months),
            str(agg.values),
            str(agg.undated),
        )
    _show(table)


@app.command()
def series(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key.")],
    freq: Annotated[
        str, typer.Option("--freq", "-f", help="D, W, M, Q or Y (day … year, local time).")
    ] = "M",
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    since: Annotated[str | None, typer.Option(help="First period start, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Last period start, YYYY-MM-DD.")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Table of every column, at its full width.")
    ] = False,
) -> None:
    """Print an indicator's stored series with its intervals (run `meiyu compute` first).

    The table shows period, items (95% interval), stories, relevant items and, for a share,
    the positive share (Wilson 95%); --wide, csv and json show every column."""
    from kernel.periods import FREQ_ALIASES
    from reports.series import columns, compact, series_rows, to_csv, to_json

    period_type = FREQ_ALIASES.get(freq.upper()) or (freq if freq in FREQ_ALIASES.values() else "")
    if not period_type:
        raise UserError(f"--freq: expected D, W, M, Q or Y, got {freq!r}")
    if fmt not in ("table", "csv", "json"):
        raise UserError(f"--format: expected table, csv or json, got {fmt!r}")
    cfg = state.config()
    ind = cfg.indicator(indicator)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        rows = series_rows(
            s, indicator, ind, period_type, _date(since, "--since"), _date(until, "--until")
        )
    cols = columns(ind)
    if fmt == "csv":
        sys.stdout.write(to_csv(rows, cols))
    elif fmt == "json":
        sys.stdout.write(to_json(rows, indicator, ind, period_type, cfg.timezone) + "\n")
    elif wide:
        table = Table(title=f"{indicator} · {period_type} ({cfg.timezone})", title_justify="left")
        shown = [c for c in cols if c != "definition_version"]
        for col in shown:
            table.add_column(col, justify="right")
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row[c]) for c in shown))
        _show_wide(table)
    else:
        table = Table(title=f"{indicator} · {period_type} ({cfg.timezone})")
        head, body = compact(rows, cfg.indicator(indicator).kind)
        for col in head:
            table.add_column(col, justify="left" if col == "period" else "right")
        for cells in body:
            table.add_row(*cells)
        _show(table)
    if fmt == "table" and rows:
        _common.out.print(
            f"definition version {rows[0]['definition_version']}; 95% intervals"
            + ("" if wide else "; all columns: --wide"),
            highlight=False,
        )
    elif fmt == "table":
        _common.out.print("no stored values: run `meiyu compute`")


@app.command()
def assess(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key.")],
    period: Annotated[str, typer.Option("--period", "-p", help="YYYY, YYYY-Qn or YYYY-MM.")],
    baseline: Annotated[
        str | None, typer.Option(help="Baseline period (default: the indicator's).")
    ] = None,
) -> None:
    """Test the period against the baseline: 明显提升 / 无明显变化 / 明显下降."""
    from pipelines.assess import assess as run_assess

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        a = run_assess(s, cfg, indicator, period, baseline)
    if a.share is not None:
        _print_share_assessment(a)
    else:
        _print_rate_assessment(a)
    if len(a.current_months) < 12:
        _common.out.print(f"（按同期月份比较：{', '.join(a.baseline_months)}）")
    _common.out.print(f"结论：[bold]{a.verdict}[/bold]（p = {a.p_value:.3g}，显著性水平 0.05）")


def _print_rate_assessment(a: Assessment) -> None:
    c, d = a.comparison, a.dispersion
    table = Table(title=f"{a.indicator} {a.name}：{a.period} 对比基线 {a.baseline}")
    for col in ("", "条目数", "月数", "月均", "95% 区间（月均）"):
        table.add_column(col, justify="right")
    for label, k, months, (lo, hi) in (
        (f"基线 {a.baseline}", a.baseline_count, a.baseline_months, a.baseline_interval),
        (f"本期 {a.period}", a.current_count, a.current_months, a.current_interval),
    ):
        n = len(months)
        table.add_row(label, str(k), str(n), f"{k / n:.2f}", f"{lo / n:.2f} – {hi / n:.2f}")
    _show(table)
    lo, hi = c.ratio_interval
    _common.out.print(
        f"率比（本期/基线）{c.ratio:.2f}，95% 区间 {lo:.2f} – {hi:.2f}；"
        f"精确泊松检验 p = {c.p_value:.3g}"
    )
    if d.phi > 1:
        qlo, qhi = d.ratio_interval
        _common.out.print(
            f"月度计数离散度 φ = {d.phi:.2f}（{d.months} 个月估计，>1 即超泊松离散）；"
            f"拟泊松检验 p = {d.p_value:.3g}，率比 95% 区间 {qlo:.2f} – {qhi:.2f}；取两者中较大的 p"
        )
    else:
        _common.out.print(f"月度计数离散度 φ = {d.phi:.2f}（{d.months} 个月估计）：未见超泊松离散")


def _print_share_assessment(a: Assessment) -> None:
    sh = a.share
    assert sh is not None
    table = Table(title=f"{a.indicator} {a.name}：{a.period} 对比基线 {a.baseline}")
    for col in ("", "正面", "已评分", "正面占比", "Wilson 95%", "纠正误判后（95%）"):
        table.add_column(col, justify="right", no_wrap=bool(col))  # the label wraps
    for label, (x, n), (lo, hi), corr in (
        (f"基线 {a.baseline}", sh.baseline, sh.baseline_interval, sh.corrected_baseline),
        (f"本期 {a.period}", sh.current, sh.current_interval, sh.corrected_current),
    ):
        fixed = "—" if corr is None else f"{corr[0]:.1%}（{corr[1][0]:.1%}–{corr[1][1]:.1%}）"
        table.add_row(label, str(x), str(n), f"{x / n:.1%}", f"{lo:.1%} – {hi:.1%}", fixed)
    _show(table)
    c = sh.comparison
    lo, hi = c.difference_interval
    _common.out.print(
        f"占比变化（本期−基线）{c.difference:+.1%}，Newcombe 95% 区间 {lo:+.1%} – {hi:+.1%}；"
        f"双比例 z 检验 p = {c.p_value:.3g}"
    )
    if sh.corrected_current is not None:
        _common.out.print(
            "纠正误判：按混淆矩阵校正（人工审核满 30 条时用审核结果，否则用模型在真实新闻评测集上的"
            f"矩阵），本次所用矩阵：{sh.correction_matrix}；区间为自助法 95%（仅供参考）"
        )
