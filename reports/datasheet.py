"""DATASHEET.md beside an export: what is in the file, where it came from, what is missing, and
on what terms, so a researcher can cite and judge it without reading meiyu's code."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kernel
from kernel.config import Config
from nlp.model_evaluation import load_evaluation
from storage.exports import CrawlHistory, ExportFilter, Row
from storage.exports import columns as export_columns

COLUMN_NOTES = {
    "document_id": "meiyu's id of the document (stable within this database)",
    "url": "canonical URL (rel=canonical, tracking parameters removed): the document's identity",
    "source": "the configured source that stored it first",
    "source_kind": "rss, sitemap or the search engine / API kind",
    "outlet": "publisher as named by the feed or search result",
    "language": "zh or ko (the source's language)",
    "title": "headline",
    "text": "main text extracted from the page (trafilatura), or the feed summary",
    "published_at": "publication time, UTC (null: no date found)",
    "fetched_at": "when meiyu stored it, UTC",
    "content_hash": "sha256 of the text: equal hashes are exact copies",
    "feed_url": "the feed or search page that listed it",
    "text_origin": "article (page text extracted) or feed (only the feed summary was usable)",
    "crawl_run_id": "the crawl run that stored it (crawl_runs table)",
    "cluster_id": "reprint cluster (转载/전재): the smallest document id among its near-copies",
    "mentions": "every (source, indicator, query, snippet, found_at) that found it",
    "indicators": "one entry per indicator that matched it, with the fields below",
    "indicator": "indicator key",
    "definition_version": "hash of the indicator's terms, language, kind and sources",
    "terms": "the indicator terms found in title or text",
    "literal": "the plan's literal definition holds (all term groups present)",
    "relevant": "the text speaks of the place (relevance check, nlp.relevance)",
    "sentiment_model": "model id of the sentiment fields (the current model only)",
    "sentiment_label": "positive, neutral or negative, for the place",
    "sentiment_score": "probability of positive",
    "sentiment_probabilities": "negative / neutral / positive probabilities",
    "sentiment_evidence": "the sentences that were scored, one per line",
    "html": "raw page from Scrapy's HTTP cache, decoded (null: not in the cache)",
}


@dataclass
class IndicatorCounts:
    rows: int = 0
    literal: int = 0
    relevant: int = 0
    unscored_relevant: int = 0  # relevant, but no result of the current model
    labels: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)


@dataclass
class ExportStats:
    """Counted from the rows as they are written, so the datasheet describes exactly the file."""

    tz: dt.tzinfo
    rows: int = 0
    sources: Counter[tuple[str, str]] = field(default_factory=Counter)  # (name, kind)
    languages: Counter[str] = field(default_factory=Counter)
    years: Counter[int] = field(default_factory=Counter)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    undated: int = 0
    feed_only: int = 0
    html_found: int = 0
    indicators: dict[str, IndicatorCounts] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows += 1
        self.sources[(row["source"], row["source_kind"])] += 1
        self.languages[row["language"]] += 1
        published = row["published_at"]
        if published is None:
            self.undated += 1
        else:
            self.years[published.astimezone(self.tz).year] += 1
            self.first = published if self.first is None else min(self.first, published)
            self.last = published if self.last is None else max(self.last, published)
        if row["text_origin"] == "feed":
            self.feed_only += 1
        if row.get("html") is not None:
            self.html_found += 1
        for m in row.get("indicators", [row]):
            c = self.indicators.setdefault(m["indicator"], IndicatorCounts())
            c.rows += 1
            c.literal += bool(m["literal"])
            c.relevant += bool(m["relevant"])
            c.versions[m["definition_version"]] += 1
            if m["sentiment_label"] is not None:
                c.labels[m["sentiment_label"]] += 1
            elif m["relevant"]:
                c.unscored_relevant += 1


@dataclass(frozen=True)
class DatasheetInput:
    cfg: Config
    filter: ExportFilter
    fmt: str
    file: Path
    size: int
    sha256: str
    with_html: bool
    stats: ExportStats
    models: dict[str, str]  # indicator → model id of the sentiment fields
    model_paths: dict[str, str]  # indicator → model name or local folder
    crawl: CrawlHistory
    outlets: dict[str, str]  # source name → outlet, for sources no longer configured


def _day(t: dt.datetime | None, tz: dt.tzinfo) -> str:
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M") if t else "—"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")  # term alternatives are written a|b


def _table(header: list[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]


def model_evaluation(path: str) -> dict[str, Any] | None:
    """The held-out in-domain figures meiyu measured for a shipped or local model."""
    try:
        ev = load_evaluation(path)
    except (OSError, ValueError):
        return None
    held = ev.raw.get("domain_heldout") if ev else None
    return held if isinstance(held, dict) else None


def model_licences(path: str) -> str | None:
    """The model card's stated training-data licences (its "Licences:" line)."""
    try:
        card = (Path(path) / "MODEL_CARD.md").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in card.splitlines():
        text = line.strip().lstrip("-* ").strip()
        if text.lower().startswith("licences:") or text.lower().startswith("licenses:"):
            return text.split(":", 1)[1].strip()
    return None


def render(d: DatasheetInput) -> str:
    cfg, f, s, tz = d.cfg, d.filter, d.stats, d.cfg.tz
    configured = {src.name: src for src in cfg.sources}
    lines = [
        f"# DATASHEET — {d.file.name}",
        "",
        f"Written by meiyu {kernel.__version__} on {_day(dt.datetime.now(dt.UTC), tz)} "
        f"({cfg.timezone}). **{s.rows:,} rows, one per document**; format {d.fmt}; "
        f"{d.size:,} bytes; sha256 `{d.sha256}`.",
        "",
        "## Selection",
        "",
    ]
    if f.indicator:
        ind = cfg.indicators[f.indicator]
        lines.append(
            f"- indicator: **{f.indicator}** {ind.name} ({ind.definition}): only the documents "
            "it matched, with its decision and sentiment as flat columns"
        )
    else:
        lines.append("- every stored document; each indicator's decision in `indicators`")
    lines.append(f"- sources: {', '.join(f.sources) if f.sources else 'all'}")
    lines.append(f"- language: {f.language or 'all'}")
    if f.start or f.end:
        until = (f.end.astimezone(tz) - dt.timedelta(days=1)).date() if f.end else "—"
        since = f.start.astimezone(tz).date() if f.start else "—"
        lines.append(
            f"- published: {since} to {until} (local days, {cfg.timezone}); "
            "undated documents are left out"
        )
    else:
        lines.append("- published: any time; undated documents included")
    if d.with_html:
        lines.append(
            f"- raw HTML: from Scrapy's HTTP cache, found for {s.html_found:,} of {s.rows:,} rows"
        )
    lines += ["", "## What a row holds", ""]
    cols = export_columns(f.indicator, d.with_html)
    lines += _table(["column", "meaning"], [[f"`{c}`", COLUMN_NOTES.get(c, "")] for c in cols])
    if d.fmt == "csv":
        lines += [
            "",
            "CSV: UTF-8 without BOM, RFC 4180 quoting (fields with commas, quotes or newlines "
            "are quoted); lists and nested fields are JSON text; times are ISO 8601 UTC.",
        ]
    elif d.fmt == "jsonl":
        lines += ["", "JSON lines, UTF-8; times are ISO 8601 strings in UTC."]
    else:
        lines += ["", "Parquet (zstd); times are timestamp[us, tz=UTC]; lists and structs typed."]

    lines += [
        "",
        "## Counts",
        "",
        f"Published {_day(s.first, tz)} to {_day(s.last, tz)} ({cfg.timezone}); "
        f"{s.undated:,} rows have no publication date.",
        "",
    ]
    lines += _table(
        ["source", "kind", "outlet", "rows"],
        [
            [
                name,
                kind,
                configured[name].outlet if name in configured else d.outlets.get(name, ""),
                f"{n:,}",
            ]
            for (name, kind), n in sorted(s.sources.items())
        ],
    )
    lines.append("")
    lines += _table(
        ["language", "rows"], [[lang, f"{n:,}"] for lang, n in sorted(s.languages.items())]
    )
    lines.append("")
    years = [[y, f"{n:,}"] for y, n in sorted(s.years.items())]
    lines += _table(["year (local)", "rows"], years + [["undated", f"{s.undated:,}"]])
    lines += ["", "## Indicators", ""]
    lines += _indicators(d)
    lines += ["", "## Collection method", ""]
    lines += _collection(d)
    lines += ["", "## Known gaps", ""]
    lines += _gaps(d)
    lines += ["", "## Terms of use", ""]
    lines += _terms(d)
    return "\n".join(lines) + "\n"


def _indicators(d: DatasheetInput) -> list[str]:
    s, cfg = d.stats, d.cfg
    if not s.indicators:
        return ["No row in this export matched an indicator (or `meiyu analyze` has not run)."]
    rows = []
    for key, c in sorted(s.indicators.items()):
        ind = cfg.indicators.get(key)
        current = ind.version() if ind else None
        versions = ", ".join(
            f"`{v}`" + ("" if v == current else " (not the current definition)")
            for v in sorted(c.versions)
        )
        terms = " + ".join("|".join(g) for g in ind.all_of) if ind else "(no longer configured)"
        labels = " / ".join(
            f"{c.labels.get(lb, 0):,}" for lb in ("positive", "neutral", "negative")
        )
        rows.append(
            [key, terms, f"{c.rows:,}", f"{c.literal:,}", f"{c.relevant:,}", labels, versions]
        )
    out = _table(
        [
            "indicator",
            "terms",
            "matched rows",
            "literal",
            "relevant",
            "positive / neutral / negative",
            "definition version",
        ],
        rows,
    )
    out += ["", "Sentiment models (results of other models are not exported):", ""]
    for key in sorted(s.indicators):
        mid = d.models.get(key)
        if mid is None:
            continue
        ev = model_evaluation(d.model_paths.get(key, "")) or {}
        try:
            measured = (
                f"held-out in-domain news: accuracy {float(ev['accuracy']):.3f}, macro-F1 "
                f"{float(ev['macro_f1']):.3f}, n = {int(ev['n'])} (evaluation.json)"
            )
        except (TypeError, KeyError, ValueError):
            measured = "no evaluation measured by meiyu for this model"  # e.g. a Hub model
        out.append(f"- {key}: `{mid}`; {measured}")
    return out


def _collection(d: DatasheetInput) -> list[str]:
    cfg, h = d.cfg, d.crawl
    out = [
        "Collected by meiyu's Scrapy spiders (robots.txt obeyed, 2 requests per host, "
        "AutoThrottle, retries with backoff). Outlet feeds and sitemaps are read in full and "
        "filtered by the indicators' terms afterwards; search engines and APIs are asked each "
        "indicator's query over date windows, and each hit is stored once (canonical URL) with "
        "a mention saying which source and query found it. Text is the page's main text "
        "(trafilatura); reprints are grouped by content hash and MinHash (Jaccard ≥ 0.8).",
        "",
    ]
    for src in cfg.sources:
        if src.feeds:
            how = "feeds: " + ", ".join(src.feeds)
        else:
            how = "queries: " + ", ".join(f"{k} “{q}”" for k, q in cfg.queries_for(src))
        out.append(f"- `{src.name}` ({src.kind}, {src.language}, {src.outlet}): {how}")
    status = ", ".join(f"{k} {v:,}" for k, v in sorted(h.by_status.items()))
    out += [
        "",
        f"Crawl runs: {h.runs:,} ({status or 'none'}), first started "
        f"{_day(h.first_started, cfg.tz)}, last finished {_day(h.last_finished, cfg.tz)}.",
        "Matching: all term groups in title or text (literal); relevance by sentence "
        "(jieba / Kiwi with rules, nlp.relevance); sentiment of the title and the sentences "
        "about the place, averaged.",
    ]
    return out


def _gaps(d: DatasheetInput) -> list[str]:
    s, h = d.stats, d.crawl
    out = [
        f"- {s.undated:,} rows have no publication date"
        + (" (left out by the date filter)." if d.filter.start or d.filter.end else "."),
        f"- {s.feed_only:,} rows hold only the feed or search summary (`text_origin` = feed): "
        "the article page failed or had no extractable text.",
    ]
    for key, c in sorted(s.indicators.items()):
        if c.unscored_relevant and key in d.models:
            out.append(
                f"- {key}: {c.unscored_relevant:,} relevant rows have no sentiment from the "
                "current model (`meiyu analyze` scores them)."
            )
    for name, (n, first_error) in sorted(h.troubled.items()):
        error = f": {first_error}" if first_error else ""
        out.append(f"- source `{name}`: {n:,} crawl run(s) failed or partial{error}")
    if d.with_html and s.html_found < s.rows:
        out.append(
            f"- {s.rows - s.html_found:,} rows without HTML: the page was not in the HTTP cache "
            "(fetched before the cache was on, failed, or never fetched)."
        )
    out.append(
        "- Coverage is what the configured feeds and search engines returned: engines cap and "
        "rank their results, feeds list recent items only. It is not a census of the media."
    )
    return out


def _terms(d: DatasheetInput) -> list[str]:
    out = [
        "- Titles, texts and pages belong to their publishers (copyright stays with them). "
        "This export is for research — text and data mining, statistics, quoting with "
        "attribution — not for republication of the texts.",
        "- Each source's own terms of use apply to what was collected from it (search engines' "
        "result pages and APIs included); cite the outlet and the URL.",
    ]
    licences: dict[str, list[str]] = {}  # stated licences → models (cards may share a line)
    for key in sorted(d.stats.indicators):
        path = d.model_paths.get(key)
        if key not in d.models or path is None:
            continue
        name = Path(path).name if Path(path).is_dir() else path
        models = licences.setdefault(model_licences(path) or "", [])
        if name not in models:
            models.append(name)
    for text, names in licences.items():
        which = ", ".join(f"`{n}`" for n in names)
        if text:
            out.append(f"- Sentiment model(s) {which}, training data: {text}")
        else:
            out.append(
                f"- Sentiment model(s) {which}: no licence stated to meiyu; see the model's card."
            )
    out.append("- meiyu itself is Apache-2.0.")
    return out
