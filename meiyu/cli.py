"""The `meiyu` command. Every failure the user can act on ends as one line and an exit code:
0 done, 1 something outside went wrong (network, database), 2 the user's input is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from meiyu.config import Config, SourceConfig, load_config, parse_month
from meiyu.errors import CrawlFailed, MeiyuError, UserError

if TYPE_CHECKING:
    from nlp.sentiment import SentimentModel

app = typer.Typer(add_completion=False, no_args_is_help=True, help="美誉 media-reputation monitor")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration.")
nlp_app = typer.Typer(no_args_is_help=True, help="Text analysis on JSON lines (stdin → stdout).")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(nlp_app, name="nlp")

out = Console()
err = Console(stderr=True)


class State:
    config_path: str | None = None
    verbose: bool = False

    def config(self) -> Config:
        return load_config(self.config_path)


state = State()


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
    return engine, session_factory(engine)


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
    for col in ("key", "name", "language", "kind", "terms", "version"):
        table.add_column(col)
    for key, ind in cfg.indicators.items():
        terms = " + ".join("|".join(g) for g in ind.all_of)
        table.add_row(key, ind.name, ind.language, ind.kind, terms, ind.version())
    out.print(table)
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
) -> None:
    """Crawl the configured sources; search sources over a window (backfill with --since)."""
    cfg = state.config()
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
    out.print(table)


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


def _sentiment_model(name: str) -> SentimentModel:
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
    epochs: Annotated[int, typer.Option(help="Passes over the training rows.")] = 3,
    reviews: Annotated[int, typer.Option(help="Review rows sampled for training.")] = 60000,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 13,
) -> None:
    """Train the tokenizer and small transformer from scratch; write the model and evaluation."""
    from nlp.train_sentiment import train

    if lang not in ("ko", "zh"):
        raise UserError(f"--lang: expected ko or zh, got {lang!r}")
    if not data.is_dir():
        raise UserError(f"--data: {data} is not a folder")
    ev = train(lang, data, out_dir, epochs=epochs, reviews=reviews, seed=seed)
    out.print(
        json.dumps(
            {k: ev[k] for k in ("review_test", "domain_heldout")},
            indent=1,
            ensure_ascii=False,
            default=str,
        )[:3000]
    )
    out.print(f"model written: {out_dir} ({ev['training']['seconds']} s)")


@app.command()
def compute() -> None:
    """Match documents to indicators and recompute the monthly series (idempotent)."""
    cfg = state.config()
    _compute(cfg)


def _compute(cfg: Config) -> None:
    from pipelines.aggregate import aggregate_all
    from pipelines.analyze import analyze_all
    from pipelines.match import match_all
    from pipelines.reprints import cluster_all

    _, sessions = _sessions(cfg)
    clusters = cluster_all(sessions)
    out.print(
        "stories: "
        + ", ".join(f"{c.language} {c.documents} documents in {c.clusters}" for c in clusters)
    )
    matches = {m.indicator: m for m in match_all(cfg, sessions)}
    for a in analyze_all(cfg, sessions):
        out.print(f"sentiment {a.indicator}: {a.scored} items scored with {a.model_id}")
    table = Table(title="indicators")
    for col in ("indicator", "scanned", "matched", "months", "undated"):
        table.add_column(col, justify="right")
    for agg in aggregate_all(cfg, sessions):
        m = matches[agg.indicator]
        table.add_row(
            agg.indicator, str(m.scanned), str(m.matched), str(agg.months), str(agg.undated)
        )
    out.print(table)


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
    c = a.comparison
    table = Table(title=f"{a.indicator} {a.name}：{a.period} 对比基线 {a.baseline}")
    for col in ("", "条目数", "月数", "月均", "95% 区间（月均）"):
        table.add_column(col, justify="right")
    for label, k, months, (lo, hi) in (
        (f"基线 {a.baseline}", a.baseline_count, a.baseline_months, a.baseline_interval),
        (f"本期 {a.period}", a.current_count, a.current_months, a.current_interval),
    ):
        n = len(months)
        table.add_row(label, str(k), str(n), f"{k / n:.2f}", f"{lo / n:.2f} – {hi / n:.2f}")
    out.print(table)
    lo, hi = c.ratio_interval
    out.print(
        f"率比（本期/基线）{c.ratio:.2f}，95% 区间 {lo:.2f} – {hi:.2f}；"
        f"精确泊松检验 p = {c.p_value:.3g}"
    )
    if len(a.current_months) < 12:
        out.print(f"（按同期月份比较：{', '.join(a.baseline_months)}）")
    out.print(f"结论：[bold]{a.verdict}[/bold]")


@app.command()
def report(
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
) -> None:
    """Render the monthly HTML report."""
    cfg = state.config()
    year, mon = parse_month(month)
    path = _report(cfg, year, mon, out_dir)
    out.print(f"report written: {path}")


def _report(
    cfg: Config, year: int, month: int, out_dir: Path, demo_note: str | None = None
) -> Path:
    from reports.monthly import build_monthly, write_report

    _, sessions = _sessions(cfg)
    with sessions() as s:
        rep = build_monthly(cfg, s, year, month, demo_note=demo_note)
    return write_report(rep, out_dir)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/demo"),
) -> None:
    """Serve the generated demo corpus locally, crawl it, compute, and write the report."""
    from meiyu.demo import DEMO_NOTE, demo_config, write_manifest
    from meiyu.fixturesite.server import FixtureSite

    base = state.config()
    with FixtureSite() as site:
        cfg = demo_config(base, site)
        out.print(f"demo corpus served at {site.proxy_url} (HTTP proxy for *.test hosts)")
        _run_crawl(cfg, list(cfg.sources))
    _compute(cfg)
    year, month = 2023, 12
    path = _report(cfg, year, month, out_dir, demo_note=DEMO_NOTE)
    write_manifest(site.world, out_dir)
    out.print(f"[bold green]demo report:[/bold green] {path.resolve()}")


@app.command()
def schedule(
    once: Annotated[bool, typer.Option(help="Run crawl → compute → report once and exit.")] = False,
) -> None:
    """Run the unattended service (APScheduler) with the config's cron schedule."""
    import scheduler

    cfg = state.config()
    if once:
        scheduler.run_pipeline_once(state.config_path)
        return
    scheduler.serve(cfg, state.config_path)


def main() -> None:
    try:
        app()  # standalone: usage errors are one line and exit 2 (click's own handling)
    except MeiyuError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
