"""The `meiyu` command. Every failure the user can act on ends as one line and an exit code:
0 done, 1 something outside went wrong (network, database), 2 the user's input is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, SourceConfig, load_config, parse_month
from kernel.errors import CrawlFailed, MeiyuError, UserError

if TYPE_CHECKING:
    from nlp.sentiment import Scorer
    from pipelines.assess import Assessment
    from pipelines.match import MatchSummary
    from reports.exports import ExportSpec
    from scheduler import JobInfo

app = typer.Typer(add_completion=False, no_args_is_help=True, help="美誉 media-reputation monitor")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration.")
nlp_app = typer.Typer(no_args_is_help=True, help="Text analysis on JSON lines (stdin → stdout).")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(nlp_app, name="nlp")
alerts_app = typer.Typer(no_args_is_help=True, help="舆情预警: detect, store, deliver.")
app.add_typer(alerts_app, name="alerts")
audit_app = typer.Typer(no_args_is_help=True, help="Human audit of the sentiment labels.")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True)


class State:
    config_path: str | None = None
    verbose: bool = False

    def config(self) -> Config:
        return load_config(self.config_path)


state = State()


def _show(table: Table) -> None:
    """Print a table so that no cell is cut to "…": text wraps at spaces, and a word longer
    than its column folds onto the next line."""
    for column in table.columns:
        if column.overflow == "ellipsis":  # rich's default
            column.overflow = "fold"
    out.print(table)


def _show_wide(table: Table) -> None:
    """Print a table at its full width, however narrow the terminal (for `less -S`)."""
    from rich.measure import Measurement

    needed = Measurement.get(out, out.options.update_width(100_000), table).maximum
    Console(width=max(out.width, needed)).print(table)


@app.callback()
def _root(
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Config file (default ./meiyu.toml).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log crawler detail.")] = False,
) -> None:
    state.config_path = config
    state.verbose = verbose
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:
        handler.setLevel(level)  # Scrapy lowers the root logger; the handler keeps the bar


def _sessions(cfg: Config, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    from storage.db import check_connection, make_engine, session_factory
    from storage.migrate import upgrade as upgrade_schema

    engine = make_engine(cfg.database.url)
    check_connection(engine)
    if upgrade:
        upgrade_schema(engine)
    return engine, session_factory(engine, cfg.database.retry_seconds)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest revision."""
    from storage.db import safe_url
    from storage.migrate import current_revision

    cfg = state.config()
    engine, _ = _sessions(cfg)
    out.print(f"database {safe_url(engine.url)} at revision {current_revision(engine)}")


@config_app.command("check")
def config_check() -> None:
    """Validate the config and show what it defines."""
    cfg = state.config()
    table = Table(title="indicators")
    for col in ("key", "name", "lang", "kind", "terms", "version"):
        table.add_column(col, no_wrap=col in ("key", "lang", "kind", "version"))
    for key, ind in cfg.indicators.items():
        terms = " + ".join(" | ".join(g) for g in ind.all_of)
        table.add_row(key, ind.name, ind.language, ind.kind, terms, ind.version())
    _show(table)
    out.print(f"{len(cfg.sources)} sources: " + ", ".join(s.name for s in cfg.sources))
    out.print("[green]config ok[/green]")


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


@app.command()
def crawl(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", "-i", help="Search sources: only this query.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Search window start, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Search window end, YYYY-MM-DD.")] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help='One of several workers sharing the crawl in Redis (crawl.backend = "redis").',
        ),
    ] = False,
) -> None:
    """Crawl the configured sources; search sources over a window (backfill with --since)."""
    cfg = state.config()
    if worker and cfg.crawl.backend != "redis":
        raise UserError(
            '--worker shares the crawl through Redis: set crawl.backend = "redis" '
            "(or MEIYU_CRAWL__BACKEND=redis) and redis.url (or MEIYU_REDIS_URL)"
        )
    sources = [cfg.source(n) for n in source] if source else list(cfg.sources)
    if not sources:
        raise UserError("no sources configured: add [[sources]] to the config")
    if indicator is not None:
        cfg.indicator(indicator)
    start, end = _date(since, "--since"), _date(until, "--until")
    if start and end and start > end:
        raise UserError(f"--since {since} is after --until {until}")
    _run_crawl(cfg, sources, since=start, until=end, indicator=indicator)


def _run_crawl(
    cfg: Config,
    sources: list[SourceConfig],
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    indicator: str | None = None,
) -> None:
    from crawlers.runner import run_crawl
    from storage.queries import known_urls

    engine, sessions = _sessions(cfg)
    with sessions() as s:
        known = set() if cfg.crawl.refetch_known else known_urls(s)
    engine.dispose()
    summary = run_crawl(
        cfg,
        sources,
        since=since,
        until=until,
        indicator=indicator,
        known_urls=known,
        log_level="INFO" if state.verbose else "WARNING",
    )
    runs = ", ".join(str(r) for r in summary.run_ids)
    out.print(
        f"crawl run {runs}: {summary.pages_fetched} pages, {summary.items_seen} items, "
        f"{summary.new} new, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.known} already stored documents"
    )
    for line in summary.skipped:
        out.print(f"skipped {line}")
    if summary.warnings:
        out.print(f"{len(summary.warnings)} article page(s) unusable, summary kept (see log)")
    if summary.failures:
        raise CrawlFailed(
            f"{len(summary.failures)} request(s) failed, the rest is stored: "
            + "; ".join(summary.failures[:3])
        )


@app.command()
def sources() -> None:
    """List the configured sources, their last crawl run and the documents they stored."""
    from storage.queries import source_status

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        status = {row.name: row for row in source_status(s)}
    table = Table(title="sources")
    for col in ("name", "kind", "lang", "documents", "last run", "status", "items"):
        table.add_column(col)
    for src in cfg.sources:
        row = status.get(src.name)
        table.add_row(
            src.name,
            src.kind,
            src.language,
            str(row.documents if row else 0),
            row.last_run.strftime("%Y-%m-%d %H:%M") if row and row.last_run else "never",
            row.last_status if row and row.last_status else "—",
            str(row.last_items if row else 0),
        )
    _show(table)


@nlp_app.command("match")
def nlp_match(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key, e.g. a29.")],
) -> None:
    """Read {"id","text"} lines; write {"id","literal","relevant","terms"} lines."""
    from meiyu.jsonl import match_rows, read_requests, write_lines

    ind = state.config().indicator(indicator)
    rows = read_requests(sys.stdin)
    write_lines(match_rows(rows, ind.language, ind.all_of, ind.ambiguous), sys.stdout)


@nlp_app.command("sentiment")
def nlp_sentiment(
    lang: Annotated[str, typer.Option("--lang", help="ko or zh (its shipped model).")],
    model: Annotated[
        str | None, typer.Option("--model", help="Hugging Face model id or local path instead.")
    ] = None,
) -> None:
    """Read {"id","text"} lines; write {"id","label","scores"} lines (3 classes)."""
    from meiyu.jsonl import read_requests, write_lines

    if lang not in ("ko", "zh"):
        raise UserError(f"--lang: expected ko or zh, got {lang!r}")
    rows = read_requests(sys.stdin)
    scorer = _sentiment_model(model or lang)
    scored = scorer.predict([r["text"] for r in rows]) if rows else []
    write_lines(
        (
            {"id": r["id"], "label": s.label, "scores": s.scores}
            for r, s in zip(rows, scored, strict=True)
        ),
        sys.stdout,
    )


def _sentiment_model(name: str) -> Scorer:
    from nlp.sentiment import load

    try:
        return load(name)
    except OSError as exc:
        raise UserError(
            f"sentiment model {name!r} cannot be loaded: {exc}".splitlines()[0]
        ) from None


@nlp_app.command("train-sentiment")
def nlp_train_sentiment(
    lang: Annotated[str, typer.Option("--lang", help="ko or zh.")],
    data: Annotated[Path, typer.Option("--data", help="Review corpus folder (../shared/data/…).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Model folder to write.")],
    arch: Annotated[
        str,
        typer.Option(
            help="probe: a head on the frozen pretrained encoder (shipped); "
            "scratch: the small BERT trained from scratch."
        ),
    ] = "probe",
    epochs: Annotated[int, typer.Option(help="scratch only: passes over the rows.")] = 3,
    reviews: Annotated[
        int | None,
        typer.Option(help="Review rows sampled for training (probe 4000, scratch 60000)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 13,
    include_audit: Annotated[
        bool,
        typer.Option(
            "--include-audit", help="Add the audited items (the configured database) to training."
        ),
    ] = False,
) -> None:
    """Train a sentiment model (head on the pretrained encoder, or from scratch) and write it
    with its evaluation.json and MODEL_CARD.md."""
    if lang not in ("ko", "zh"):
        raise UserError(f"--lang: expected ko or zh, got {lang!r}")
    if arch not in ("probe", "scratch"):
        raise UserError(f"--arch: expected probe or scratch, got {arch!r}")
    if not data.is_dir():
        raise UserError(f"--data: {data} is not a folder")
    audit_rows = _audit_training_rows(lang) if include_audit else []
    if include_audit:
        out.print(f"{len(audit_rows)} audited {lang} items added to the training rows")
    if arch == "probe":
        from nlp.encoder import EncoderError
        from nlp.train_probe import train as train_probe

        try:
            ev = train_probe(
                lang, data, out_dir, reviews=reviews or 4000, seed=seed, audit_rows=audit_rows
            )
        except EncoderError as exc:
            raise UserError(str(exc)) from None
    else:
        from nlp.train_sentiment import train

        ev = train(
            lang,
            data,
            out_dir,
            epochs=epochs,
            reviews=reviews or 60000,
            seed=seed,
            audit_rows=audit_rows,
        )
    keys = ("real_news", "domain_heldout", "review_test")
    out.print(
        json.dumps(
            {
                k: {f: ev[k][f] for f in ("n", "accuracy", "macro_f1", "pos_vs_neg_accuracy")}
                for k in keys
                if k in ev
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    out.print(f"model written: {out_dir} ({ev['training']['seconds']} s)")


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
    out.print(
        "stories: "
        + ", ".join(f"{c.language} {c.documents} documents in {c.clusters}" for c in clusters)
    )
    matches = {m.indicator: m for m in match_all(cfg, sessions)}
    for m in matches.values():
        out.print(f"matched {m.indicator}: {m.matched} of {m.scanned} documents")
    tasks: dict[str, TaskID] = {}
    with Progress(
        *Progress.get_default_columns(),
        MofNCompleteColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as bar:

        def on_progress(indicator: str, done: int, total: int) -> None:
            if indicator not in tasks:
                tasks[indicator] = bar.add_task(f"sentiment {indicator}", total=total)
            bar.update(tasks[indicator], completed=done)

        summaries = analyze_all(cfg, sessions, on_progress, batch_size)
    for a in summaries:
        out.print(f"sentiment {a.indicator}: {a.scored} items scored with {a.model_id}")
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
    from pipelines.periods import FREQ_ALIASES
    from reports.series import columns, compact, series_rows, to_csv, to_json

    period_type = FREQ_ALIASES.get(freq.upper()) or (freq if freq in FREQ_ALIASES.values() else "")
    if not period_type:
        raise UserError(f"--freq: expected D, W, M, Q or Y, got {freq!r}")
    if fmt not in ("table", "csv", "json"):
        raise UserError(f"--format: expected table, csv or json, got {fmt!r}")
    cfg = state.config()
    cfg.indicator(indicator)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        rows = series_rows(
            s, cfg, indicator, period_type, _date(since, "--since"), _date(until, "--until")
        )
    cols = columns(cfg, indicator)
    if fmt == "csv":
        sys.stdout.write(to_csv(rows, cols))
    elif fmt == "json":
        sys.stdout.write(to_json(rows, indicator, period_type, cfg) + "\n")
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
        out.print(
            f"definition version {rows[0]['definition_version']}; 95% intervals"
            + ("" if wide else "; all columns: --wide"),
            highlight=False,
        )
    elif fmt == "table":
        out.print("no stored values: run `meiyu compute`")


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
        out.print(f"（按同期月份比较：{', '.join(a.baseline_months)}）")
    out.print(f"结论：[bold]{a.verdict}[/bold]（p = {a.p_value:.3g}，显著性水平 0.05）")


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
    out.print(
        f"率比（本期/基线）{c.ratio:.2f}，95% 区间 {lo:.2f} – {hi:.2f}；"
        f"精确泊松检验 p = {c.p_value:.3g}"
    )
    if d.phi > 1:
        qlo, qhi = d.ratio_interval
        out.print(
            f"月度计数离散度 φ = {d.phi:.2f}（{d.months} 个月估计，>1 即超泊松离散）；"
            f"拟泊松检验 p = {d.p_value:.3g}，率比 95% 区间 {qlo:.2f} – {qhi:.2f}；取两者中较大的 p"
        )
    else:
        out.print(f"月度计数离散度 φ = {d.phi:.2f}（{d.months} 个月估计）：未见超泊松离散")


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
    out.print(
        f"占比变化（本期−基线）{c.difference:+.1%}，Newcombe 95% 区间 {lo:+.1%} – {hi:+.1%}；"
        f"双比例 z 检验 p = {c.p_value:.3g}"
    )
    if sh.corrected_current is not None:
        out.print(
            "纠正误判：按混淆矩阵校正（人工审核满 30 条时用审核结果，否则用模型在真实新闻评测集上的"
            f"矩阵），本次所用矩阵：{sh.correction_matrix}；区间为自助法 95%（仅供参考）"
        )


@app.command()
def export(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="parquet, jsonl or csv (default: --out suffix).")
    ] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", "-i", help="Only its matched documents.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before, YYYY-MM-DD.")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh or ko.")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    with_html: Annotated[
        bool, typer.Option("--with-html", help="Add the raw page from the HTTP cache.")
    ] = False,
) -> None:
    """Export documents for research (one row each, streamed) with a DATASHEET.md beside."""
    from pipelines.analyze import model_for, model_id
    from reports.exports import FORMATS, ExportSpec, datasheet_path

    fmt = fmt or out_path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UserError(f"--format: expected parquet, jsonl or csv, got {fmt!r}")
    if lang is not None and lang not in ("zh", "ko"):
        raise UserError(f"--lang: expected zh or ko, got {lang!r}")
    cfg = state.config()
    if indicator is not None:
        cfg.indicator(indicator)
    start, end = _date(since, "--since"), _date(until, "--until")
    if start and end and start > end:
        raise UserError(f"--since {since} is after --until {until}")
    _check_writable(out_path)
    if with_html:
        from crawlers.html_cache import check_cache

        check_cache(cfg)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        from storage.exports import ExportFilter, source_outlets

        known = set(source_outlets(s)) | {src.name for src in cfg.sources}
        for name in source or []:
            if name not in known:
                names = ", ".join(sorted(known))
                raise UserError(f"--source: unknown source {name!r} (known: {names})")
    tz = cfg.tz
    # The current sentiment model of each indicator: only its results are exported.
    models = {k: model_for(ind) for k, ind in cfg.indicators.items() if indicator in (None, k)}
    spec = ExportSpec(
        filter=ExportFilter(
            indicator=indicator,
            sources=tuple(source or ()),
            language=lang,
            start=dt.datetime.combine(start, dt.time(), tz) if start else None,
            end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz) if end else None,
        ),
        fmt=fmt,
        out=out_path,
        with_html=with_html,
        models={k: model_id(p) for k, p in models.items()},
        model_paths=models,
    )
    rows = _run_export(cfg, sessions, spec)
    out.print(f"exported {rows:,} rows: {out_path}", highlight=False)
    out.print(f"datasheet: {datasheet_path(out_path)}", highlight=False)


def _check_writable(path: Path) -> None:
    """Fail before any work when the file cannot be written (exit 2, nothing created)."""
    if path.is_dir():
        raise UserError(f"--out: {path} is a folder; give a file name")
    folder = path.absolute().parent
    while not folder.exists():  # folders still to create: the nearest existing one decides
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--out: cannot write under {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"--out: {path} is not writable")


def _run_export(cfg: Config, sessions: sessionmaker[Session], spec: ExportSpec) -> int:
    from rich.progress import MofNCompleteColumn, Progress

    from reports.exports import export as write_export
    from storage.exports import count_rows

    pages = None
    with (
        sessions() as s,
        Progress(
            *Progress.get_default_columns(),
            MofNCompleteColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as bar,
    ):
        try:
            spec.out.parent.mkdir(parents=True, exist_ok=True)
            if spec.with_html:
                from crawlers.html_cache import CachedPages

                task = bar.add_task("indexing the HTTP cache", total=None)
                pages = CachedPages(cfg, on_entry=lambda: bar.advance(task))
                bar.remove_task(task)
            task = bar.add_task(f"export {spec.fmt}", total=count_rows(s, spec.filter))
            result = write_export(
                cfg,
                s,
                spec,
                html_for=pages.pages if pages else None,
                on_rows=lambda n: bar.advance(task, n),
            )
        except OSError as exc:
            raise MeiyuError(f"export failed, nothing written: {exc}") from None
        finally:
            if pages:
                pages.close()
    return result.stats.rows


@app.command()
def report(
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Comma list of html, pdf, xlsx.")
    ] = "html",
) -> None:
    """Render the monthly report (HTML; PDF and XLSX from the same numbers)."""
    from reports.monthly import parse_formats

    cfg = state.config()
    year, mon = parse_month(month)
    formats = parse_formats(fmt)
    for path in _report(cfg, year, mon, out_dir, formats=formats):
        out.print(f"report written: {path}")


def _report(
    cfg: Config,
    year: int,
    month: int,
    out_dir: Path,
    demo_note: str | None = None,
    formats: list[str] | None = None,
) -> list[Path]:
    from reports.monthly import build_monthly, write_report

    _, sessions = _sessions(cfg)
    with sessions() as s:
        rep = build_monthly(cfg, s, year, month, demo_note=demo_note)
    return write_report(rep, out_dir, formats or ["html"])


@app.command()
def brief(
    week: Annotated[
        str | None, typer.Option("--week", "-w", help="ISO week, e.g. 2023-W49 (default: last).")
    ] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", "-i", help="A positive-share indicator (a67).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
) -> None:
    """Write the weekly Korean-sentiment brief (HTML) for the tourism bureau."""
    cfg = state.config()
    path = _brief(cfg, week, indicator, out_dir)
    out.print(f"brief written: {path}")


def _brief(
    cfg: Config,
    week: str | None,
    indicator: str | None,
    out_dir: Path,
    demo_note: str | None = None,
) -> Path:
    from reports.weekly import build_weekly, last_complete_week, parse_week, write_brief

    chosen = parse_week(week) if week else last_complete_week(dt.datetime.now(cfg.tz).date())
    _, sessions = _sessions(cfg)
    with sessions() as s:
        made = build_weekly(cfg, s, chosen, indicator, demo_note=demo_note)
    return write_brief(made, out_dir)


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
        out.print(f"demo corpus served at {site.proxy_url} (HTTP proxy for *.test hosts)")
        _run_crawl(cfg, list(cfg.sources))
    _compute(cfg)
    _demo_alerts(cfg)
    year, month = 2023, 12
    paths = _report(cfg, year, month, out_dir, DEMO_NOTE, ["html", "pdf", "xlsx"])
    brief_path = _brief(cfg, "2023-W52", None, out_dir, demo_note=DEMO_NOTE)
    write_manifest(site.world, out_dir)
    for path in paths:
        out.print(f"[bold green]demo report:[/bold green] {path.resolve()}")
    out.print(f"[bold green]weekly brief:[/bold green] {brief_path.resolve()}")


def _demo_alerts(cfg: Config) -> None:
    """Detect and store alerts (the report and brief show them); the demo sends nothing."""
    from reports.delivery import run_alerts

    _, sessions = _sessions(cfg)
    run = run_alerts(cfg, sessions, deliver=False)
    out.print(f"alerts: {run.found} episode(s) found, {run.stored['new']} new")


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


def _local(t: dt.datetime | None, cfg: Config) -> str:
    return t.astimezone(ZoneInfo(cfg.schedule.timezone)).strftime("%Y-%m-%d %H:%M") if t else "—"


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
        out.print("running now: nothing")
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
        out.print("no scheduled job has run yet")
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
        out.print("no crawl has run yet")


@alerts_app.command("run")
def alerts_run(
    no_deliver: Annotated[
        bool, typer.Option("--no-deliver", help="Detect and store only; send nothing.")
    ] = False,
) -> None:
    """Detect alerts in the stored items, then send each channel what it has not received."""
    from reports.delivery import run_alerts

    cfg = state.config()
    _, sessions = _sessions(cfg)
    run = run_alerts(cfg, sessions, deliver=not no_deliver)
    stored = run.stored
    out.print(
        f"alerts: {run.found} episode(s) found, {stored['new']} new, "
        f"{stored['updated']} updated, {stored['unchanged']} unchanged"
    )
    if no_deliver:
        return
    if not cfg.alerts.channels:
        out.print("no [[alerts.channels]] configured: nothing sent", markup=False)
    for d in run.deliveries:
        outcome = "sent" if d.error is None else f"failed ({d.error})"
        out.print(f"alert #{d.alert_id} → {d.channel}: {outcome}", highlight=False)
    out.print(f"{len(run.deliveries) - len(run.failed)} sent, {len(run.failed)} failed")
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
    from reports.alert_message import period_text
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
    out.print(f"{len(alerts)} alert(s)")


def _audit_training_rows(lang: str) -> list[tuple[str, str]]:
    from pipelines.audit import training_examples

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        return training_examples(cfg, s, lang)


@audit_app.command("sample")
def audit_sample(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key.")],
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM (local calendar).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Items at most.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same sample.")] = 0,
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help=".xlsx or .csv (default out/audit-…xlsx).")
    ] = None,
) -> None:
    """Write a month's items, stratified by the model's label, for a person to label."""
    from pipelines.audit import sample_month
    from reports.audit_file import write_audit_file

    cfg = state.config()
    cfg.indicator(indicator)
    year, mon = parse_month(month)
    path = out_path or Path("out") / f"audit-{indicator}-{month}.xlsx"
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise UserError(f"--out: expected a .xlsx or .csv file name, got {path.name!r}")
    _check_writable(path)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        sample = sample_month(cfg, s, indicator, year, mon, n, seed)
    write_audit_file(sample, path)
    drawn = ", ".join(f"{k} {v}" for k, v in sorted(sample.drawn.items())) or "nothing"
    out.print(
        f"audit file written: {path} ({len(sample.items)} items: {drawn})",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("import")
def audit_import(
    file: Annotated[Path, typer.Argument(help="A filled-in audit file (.xlsx or .csv).")],
    annotator: Annotated[
        str | None, typer.Option(help="Annotator for rows that leave the column empty.")
    ] = None,
) -> None:
    """Store the human labels of a filled-in audit file: every row or none (model results are
    never changed)."""
    from pipelines.audit import import_rows
    from reports.audit_file import read_audit_file

    cfg = state.config()
    columns, rows = read_audit_file(file)
    _, sessions = _sessions(cfg)
    got = import_rows(cfg, sessions, file, columns, rows, annotator)
    out.print(
        f"imported {file.name}: {got.labelled} labelled rows ({got.new} new, {got.updated} "
        f"updated, {got.unchanged} unchanged), {got.skipped} rows without a label skipped",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("report")
def audit_report_cmd(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """The model's confusion matrix, accuracy and macro-F1 on the audited items, per model."""
    from pipelines.audit import AUDIT_MIN_ITEMS, audit_report
    from pipelines.correction import LABELS

    if fmt not in ("table", "json"):
        raise UserError(f"--format: expected table or json, got {fmt!r}")
    cfg = state.config()
    cfg.indicator(indicator)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        models = audit_report(cfg, s, indicator)
    if fmt == "json":
        doc = {
            "indicator": indicator,
            "labels": list(LABELS),
            "min_items_for_correction": AUDIT_MIN_ITEMS,
            "models": [
                {
                    "model_id": m.model_id,
                    "current": m.current,
                    "n": m.n,
                    "accuracy": round(m.accuracy, 4),
                    "macro_f1": round(m.macro_f1, 4),
                    "confusion": {"rows_gold_cols_pred": [list(r) for r in m.counts]},
                    "annotator_ties": m.ties,
                }
                for m in models
            ],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        return
    if not models:
        out.print(f"no audited {indicator} items yet (meiyu audit sample, then import)")
        return
    for m in models:
        table = Table(title=f"{indicator} · {m.model_id}" + (" (current)" if m.current else ""))
        table.add_column("human ↓ / model →")
        for label in LABELS:
            table.add_column(label, justify="right")
        for label, row in zip(LABELS, m.counts, strict=True):
            table.add_row(label, *(str(v) for v in row))
        _show(table)
        use = ""
        if m.current:
            later = "" if m.n >= AUDIT_MIN_ITEMS else f" from n = {AUDIT_MIN_ITEMS} on"
            use = "  · corrects the share" + later
        ties = f"  ({m.ties} items left out: annotators split evenly)" if m.ties else ""
        out.print(
            f"n {m.n}  accuracy {m.accuracy:.3f}  macro-F1 {m.macro_f1:.3f}{ties}{use}",
            highlight=False,
            soft_wrap=True,
        )


def main() -> None:
    try:
        app()  # standalone: usage errors are one line and exit 2 (click's own handling)
    except MeiyuError as exc:
        # the message is text, not markup: "[[sources]]" must reach the user as written
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except DBAPIError as exc:  # outside the stages' units of work (reads, migrations)
        from storage.db import one_line

        reason = escape(one_line(exc))
        err.print(f"[red]error:[/red] database error: {reason}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
