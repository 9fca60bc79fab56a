"""Full recompute of every series for a million stored documents, on SQLite and PostgreSQL.

    .venv/bin/python bench/compute.py [--documents 1000000] [--backends sqlite,postgresql]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json bench/results.json]

Generates the documents straight into a fresh database (2020-2023, Chinese and Korean, with
reprint clusters, indicator matches at realistic rates and a67 sentiment results), then times
`aggregate_all` — the stage behind `meiyu compute` that builds day, week, month, quarter and
year values of a29, a68 and a67 with intervals, coverage and tone: first run (empty values
table), a second full recompute (every row rewritten), and a `--since` recompute of the last
year. The match and sentiment stages are measured in bench/nlp.py (documents/s); here their
results are generated so that the series stage is measured alone. PostgreSQL gets its own
scratch database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results import record  # noqa: E402
from scratch import scratch_postgres  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from kernel.config import load_config  # noqa: E402
from kernel.identity import model_id  # noqa: E402
from nlp.identity import definition_version, model_for  # noqa: E402
from pipelines.aggregate import aggregate_all  # noqa: E402
from storage.db import make_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Document,
    IndicatorMatch,
    IndicatorValue,
    SentimentResult,
    Source,
)

START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
SPAN_S = int((dt.datetime(2024, 1, 1, tzinfo=dt.UTC) - START).total_seconds())
# share of documents of a language that an indicator matches (literal), and of those relevant
RATES = {"a29": ("zh", 0.06, 0.93), "a68": ("zh", 0.02, 1.0), "a67": ("ko", 0.15, 0.97)}
LABELS = ("positive", "neutral", "negative")


def generate(url: str, n: int, seed: int = 7, batch: int = 20_000) -> None:
    """n documents (70% zh, 30% ko) over four outlets, matches and sentiment, in batches."""
    rng = random.Random(seed)
    engine = make_engine(url)
    upgrade(engine)
    cfg = load_config(REPO / "meiyu.toml", env={})
    versions = {k: cfg.indicators[k].version() for k in RATES}
    mid = model_id(model_for(cfg.indicators["a67"]))
    fetched = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    with engine.begin() as conn:
        sources = {}
        for name, lang in (("zh-a", "zh"), ("zh-b", "zh"), ("ko-a", "ko"), ("ko-b", "ko")):
            sources[name] = conn.execute(
                insert(Source)
                .values(name=name, kind="rss", language=lang, outlet=name)
                .returning(Source.id)
            ).scalar_one()
    docs, matches, sentiments = [], [], []
    next_id = 1
    cluster_of_last: int | None = None

    def flush() -> None:
        with engine.begin() as conn:
            if docs:
                conn.execute(insert(Document), docs)
            if matches:
                conn.execute(insert(IndicatorMatch), matches)
            if sentiments:
                conn.execute(insert(SentimentResult), sentiments)
        docs.clear()
        matches.clear()
        sentiments.clear()

    for _ in range(n):
        doc_id = next_id
        next_id += 1
        lang = "zh" if rng.random() < 0.7 else "ko"
        source = rng.choice(("zh-a", "zh-b") if lang == "zh" else ("ko-a", "ko-b"))
        # a reprint joins the previous document's cluster 20% of the time
        reprint = cluster_of_last is not None and rng.random() < 0.2
        cluster = cluster_of_last if reprint and cluster_of_last else doc_id
        cluster_of_last = cluster
        body = f"{lang} document {doc_id} {rng.random():.12f}"
        docs.append(
            {
                "id": doc_id,
                "url": f"http://{source}.bench/{doc_id}.html",
                "source_id": sources[source],
                "outlet": source,
                "title": f"title {doc_id}",
                "text": body,
                "language": lang,
                "published_at": START + dt.timedelta(seconds=rng.randrange(SPAN_S)),
                "fetched_at": fetched,
                "content_hash": hashlib.sha256(body.encode()).hexdigest(),
                "text_origin": "article",
                "cluster_id": cluster,
            }
        )
        for key, (ind_lang, rate, relevant_rate) in RATES.items():
            if ind_lang != lang or rng.random() >= rate:
                continue
            relevant = rng.random() < relevant_rate
            matches.append(
                {
                    "indicator": key,
                    "document_id": doc_id,
                    "terms": ["bench"],
                    "definition_version": versions[key],
                    "matched_at": fetched,
                    "literal": True,
                    "relevant": relevant,
                    "published_at": docs[-1]["published_at"],  # the copy storage.writes keeps
                }
            )
            if key == "a67" and relevant:
                label = rng.choices(LABELS, weights=(0.45, 0.45, 0.10))[0]
                sentiments.append(
                    {
                        "document_id": doc_id,
                        "model_id": mid,
                        "target": key,
                        "label": label,
                        "score": 0.5,
                        "probabilities": {},
                        "evidence": "",
                        "created_at": fetched,
                    }
                )
        if len(docs) >= batch:
            flush()
    flush()
    engine.dispose()


def timed(label: str, fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    seconds = time.perf_counter() - t0
    print(f"  {label:<44} {seconds:8.1f} s", flush=True)
    return seconds


def bench(url: str, n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    generate(url, n)
    print(f"  generated {n:,} documents in {time.perf_counter() - t0:.0f} s", flush=True)
    cfg = load_config(REPO / "meiyu.toml", env={})
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        docs = s.scalar(select(func.count()).select_from(Document))
        matched = s.scalar(select(func.count()).select_from(IndicatorMatch))
    print(f"  {docs:,} documents, {matched:,} indicator matches", flush=True)
    figures = {
        "first": timed("full compute, empty values table", lambda: aggregate_all(cfg, sessions)),
        "again": timed(
            "full recompute (every value rewritten)", lambda: aggregate_all(cfg, sessions)
        ),
        "since": timed(
            "recompute --since 2023-06-01 (last year only)",
            lambda: aggregate_all(cfg, sessions, since=dt.date(2023, 6, 1)),
        ),
    }
    with sessions() as s:
        values = s.scalar(select(func.count()).select_from(IndicatorValue))
        a67 = s.scalar(
            select(func.count())
            .select_from(IndicatorValue)
            .where(IndicatorValue.definition_version == definition_version(cfg.indicators["a67"]))
        )
    print(f"  {values:,} values stored ({a67:,} of a67)", flush=True)
    engine.dispose()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "MEIYU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument("--json", type=Path, help="Merge the figures into this results file.")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    for backend in args.backends.split(","):
        print(f"{backend}:", flush=True)
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results[backend] = bench(f"sqlite:///{tmp}/bench.db", args.documents)
        else:
            with scratch_postgres(args.postgres) as url:
                results[backend] = bench(url, args.documents)
    print(f"\nseconds per full recompute of all series, {args.documents:,} documents:")
    for backend, f in results.items():
        print(
            f"  {backend:<11} first {f['first']:.1f} s · recompute {f['again']:.1f} s · "
            f"--since last year {f['since']:.1f} s"
        )
    if args.json:
        params = {"documents": args.documents, "backends": args.backends.split(",")}
        if "postgresql" in results:
            params["postgresql"] = _server_version(args.postgres)
        record(args.json, "compute", {k: _rounded(v) for k, v in results.items()}, params)


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in figures.items()}


def _server_version(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        version = str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
    engine.dispose()
    return version


if __name__ == "__main__":
    main()
