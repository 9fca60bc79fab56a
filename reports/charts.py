"""Trend charts as PNG bytes (static, so the same image serves HTML, print and PDF)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt

from reports.fonts import cjk_font_family


def trend_png(
    title: str,
    months: Sequence[str],
    values: Sequence[float | None],
    ylabel: str,
    highlight: str | None = None,
) -> bytes:
    """Bars per month; the report month drawn darker; months without data left empty."""
    cjk_font_family()
    fig, ax = plt.subplots(figsize=(7.2, 2.6), dpi=110)
    xs = range(len(months))
    heights = [v if v is not None else 0 for v in values]
    colours = ["#1f5fa8" if m == highlight else "#8fb3dc" for m in months]
    bars = ax.bar(xs, heights, color=colours, width=0.7)
    for bar, v in zip(bars, values, strict=True):
        label = "—" if v is None else f"{v:g}"
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(list(xs), [m[2:].replace("-", "年") + "月" for m in months], fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(0, max(heights + [1]) * 1.2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
