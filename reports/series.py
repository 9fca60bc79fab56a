"""`meiyu series`: one indicator's stored series as flat rows (table, CSV or JSON), the one
source the reports' numbers must agree with."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from sqlalchemy.orm import Session

from kernel.config import IndicatorConfig
from kernel.periods import period_start
from nlp.identity import definition_version
from storage.queries import value_series

VOLUME_COLUMNS = [
    "period",
    "items",
    "items_lo95",
    "items_hi95",
    "stories",
    "relevant",
    "relevant_stories",
    "coverage_documents",
    "coverage_share",
    "coverage_lo95",
    "coverage_hi95",
]
TONE_COLUMNS = ["scored", "positive", "neutral", "negative"]
SHARE_COLUMNS = [
    "positive_share",
    "share_lo95",
    "share_hi95",
    "corrected_share",
    "corrected_lo95",
    "corrected_hi95",
]


def columns(ind: IndicatorConfig) -> list[str]:
    tail = TONE_COLUMNS + (SHARE_COLUMNS if ind.kind == "positive_share" else [])
    return VOLUME_COLUMNS + tail + ["definition_version"]


def series_rows(
    session: Session,
    key: str,
    ind: IndicatorConfig,
    period_type: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Rows of stored values, oldest first; periods starting in [since, until] only."""
    version = definition_version(ind)
    rows = []
    for period, v in sorted(value_series(session, key, version, period_type).items()):
        start = period_start(period_type, period)
        if (since and start < since) or (until and start > until):
            continue
        d = v.details
        lo, hi = d.interval
        cov = d.coverage
        row: dict[str, Any] = {
            "period": period,
            "items": v.n_items,
            "items_lo95": lo,
            "items_hi95": hi,
            "stories": v.n_stories,
            "relevant": d.relevant,
            "relevant_stories": d.relevant_stories,
            "coverage_documents": cov.documents if cov else None,
            "coverage_share": cov.share if cov else None,
            "coverage_lo95": cov.share_interval[0] if cov else None,
            "coverage_hi95": cov.share_interval[1] if cov else None,
        }
        for label in TONE_COLUMNS:
            row[label] = getattr(d, label)
        if ind.kind == "positive_share":
            slo, shi = d.share_interval or (None, None)
            corr = d.corrected
            row.update(
                positive_share=None if v.value is None else round(v.value, 4),
                share_lo95=slo,
                share_hi95=shi,
                corrected_share=corr.share if corr else None,
                corrected_lo95=corr.interval[0] if corr else None,
                corrected_hi95=corr.interval[1] if corr else None,
            )
        row["definition_version"] = v.definition_version
        rows.append(row)
    return rows


def _count(x: float) -> str:
    """An interval bound of a count: two significant digits below 10, whole numbers above."""
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"


def compact(rows: list[dict[str, Any]], kind: str) -> tuple[list[str], list[list[str]]]:
    """The terminal's default view (fits 80 columns): period, items with their 95% interval,
    stories, relevant items and, for a share indicator, the positive share with its Wilson
    95% interval. Everything else: `--wide`, or the CSV and JSON formats."""
    head = ["period", "items (95%)", "stories", "relevant"]
    if kind == "positive_share":
        head.append("positive (95%)")
    body = []
    for r in rows:
        items = str(r["items"])
        if r.get("items_lo95") is not None and r.get("items_hi95") is not None:
            items += f" ({_count(r['items_lo95'])}–{_count(r['items_hi95'])})"
        cells = [
            str(r["period"]),
            items,
            "—" if r.get("stories") is None else str(r["stories"]),
            "—" if r.get("relevant") is None else str(r["relevant"]),
        ]
        if kind == "positive_share":
            share, lo, hi = r.get("positive_share"), r.get("share_lo95"), r.get("share_hi95")
            if share is None:
                cells.append("—")
            elif lo is None or hi is None:
                cells.append(f"{share:.1%}")
            else:
                cells.append(f"{share:.1%} ({lo * 100:.1f}–{hi * 100:.1f}%)")
        body.append(cells)
    return head, body


def to_csv(rows: list[dict[str, Any]], cols: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_json(
    rows: list[dict[str, Any]], key: str, ind: IndicatorConfig, period_type: str, timezone: str
) -> str:
    doc = {
        "indicator": key,
        "name": ind.name,
        "definition": ind.definition,
        "kind": ind.kind,
        "period_type": period_type,
        "timezone": timezone,
        "definition_version": definition_version(ind),
        "notes": {
            "items_lo95/hi95": "exact Poisson (Garwood) 95% interval of the count",
            "coverage_share": "items / all dated documents of the same language and sources",
            "share_lo95/hi95": "Wilson 95% interval of positive / scored",
            "corrected_share": "corrected for the model's held-out confusion matrix, "
            "parametric bootstrap 95%",
        },
        "rows": rows,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1)
