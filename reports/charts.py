"""Trend charts as PNG bytes (static, so the same image serves HTML, print and PDF)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from reports.fonts import cjk_font_family


def _month_labels(months: Sequence[str]) -> list[str]:
    """'2023-01' → '23-01'; with more than 12 months only every other label, so they fit."""
    step = 1 if len(months) <= 12 else 2
    return [m[2:] if (len(months) - 1 - i) % step == 0 else "" for i, m in enumerate(months)]


def _legend_below(ax: Any, columns: int) -> None:
    """Under the month labels, where it never hides a point."""
    ax.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=columns,
        frameon=False,
        handlelength=1.8,
    )


def _finish(fig: Any, ax: Any, title: str, crop: bool) -> bytes:
    """Title, open frame, layout, PNG bytes; crop: trim the margins (legend below the axes)."""
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    if crop:
        fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.08)
    else:
        fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def trend_png(
    title: str,
    months: Sequence[str],
    values: Sequence[float | None],
    ylabel: str,
    highlight: str | None = None,
    band: Sequence[tuple[float, float] | None] | None = None,
    baseline: tuple[str, float] | None = None,
    target: tuple[str, float | None] | None = None,
    percent: bool = False,
) -> bytes:
    """A monthly series as a line with its 95% band, the baseline level and the target.

    `values` None: no data that month (a gap, not a zero). `baseline` and `target` are
    (legend label, level); a target without a level (the plan's "明显提升") is named in the
    legend only. `percent`: values are shares, drawn as %.
    """
    cjk_font_family()
    scale = 100.0 if percent else 1.0
    fig, ax = plt.subplots(figsize=(7.2, 2.9), dpi=130)
    xs = list(range(len(months)))
    ys = [np.nan if v is None else v * scale for v in values]
    if band is not None:
        lo = [np.nan if b is None else b[0] * scale for b in band]
        hi = [np.nan if b is None else b[1] * scale for b in band]
        ax.fill_between(xs, lo, hi, color="#c9daf0", linewidth=0, label="95% 区间")
    ax.plot(xs, ys, color="#1f5fa8", marker="o", markersize=3.2, linewidth=1.4, label=ylabel)
    if baseline is not None:
        ax.axhline(
            baseline[1] * scale, color="#8a5a00", linestyle="--", linewidth=1.1, label=baseline[0]
        )
    if target is not None:
        label, level = target
        if level is None:
            ax.plot([], [], linestyle="none", label=label)
        else:
            ax.axhline(level * scale, color="#1b7a3a", linestyle=":", linewidth=1.3, label=label)
    if highlight in months:
        i = months.index(highlight)
        ax.axvspan(i - 0.4, i + 0.4, color="#f3e2b3", zorder=0)
        if not np.isnan(ys[i]):
            text = f"{ys[i]:.0f}%" if percent else f"{ys[i]:g}"
            ax.annotate(
                text,
                (i, ys[i]),
                xytext=(-4, 7),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color="#1f5fa8",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
    if all(v is None for v in values):
        ax.text(0.5, 0.5, "无数据", transform=ax.transAxes, ha="center", color="#7b8794")
    ax.set_xticks(xs, _month_labels(months), fontsize=7)
    ax.set_xlim(-0.6, len(months) - 0.4)
    top = np.nanmax([*ys, *(hi if band is not None else []), 0.0])
    if baseline is not None:
        top = max(top, baseline[1] * scale)
    ax.set_ylim(0, 105 if percent else max(1.0, float(top)) * 1.18)
    ax.set_ylabel(ylabel + ("（%）" if percent else ""), fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    _legend_below(ax, 4)
    return _finish(fig, ax, title, crop=True)


def tone_png(
    title: str,
    months: Sequence[str],
    positive: Sequence[int],
    neutral: Sequence[int],
    negative: Sequence[int],
    highlight: str | None = None,
) -> bytes:
    """Scored items per month stacked by sentiment, so a share is read with its size."""
    cjk_font_family()
    fig, ax = plt.subplots(figsize=(7.2, 2.5), dpi=130)
    xs = np.arange(len(months))
    pos, neu, neg = (np.asarray(v, dtype=float) for v in (positive, neutral, negative))
    ax.bar(xs, pos, 0.7, color="#3f9a5b", label="正面")
    ax.bar(xs, neu, 0.7, bottom=pos, color="#b9c2cc", label="中性")
    ax.bar(xs, neg, 0.7, bottom=pos + neu, color="#c8453c", label="负面")
    if highlight in months:
        i = months.index(highlight)
        ax.axvspan(i - 0.45, i + 0.45, color="#f3e2b3", zorder=0)
    ax.set_xticks(xs, _month_labels(months), fontsize=7)
    ax.set_xlim(-0.6, len(months) - 0.4)
    ax.set_ylim(0, max(1.0, float((pos + neu + neg).max(initial=0))) * 1.25)
    ax.set_ylabel("已评分条目", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    _legend_below(ax, 3)
    return _finish(fig, ax, title, crop=True)


def share_png(
    title: str,
    periods: Sequence[str],
    shares: Sequence[float | None],
    intervals: Sequence[tuple[float, float] | None],
    counts: Sequence[int],
    highlight: str | None = None,
) -> bytes:
    """A share per period as points with their 95% interval bars and the number of items
    under each point, so a swing on three items does not look like a trend."""
    cjk_font_family()
    fig, ax = plt.subplots(figsize=(7.2, 2.8), dpi=110)
    for i, (period, share, ci) in enumerate(zip(periods, shares, intervals, strict=True)):
        colour = "#1f5fa8" if period == highlight else "#6f9ccf"
        if share is not None and ci is not None:
            ax.errorbar(
                i,
                share * 100,
                yerr=[[max(0.0, (share - ci[0]) * 100)], [max(0.0, (ci[1] - share) * 100)]],
                fmt="o",
                color=colour,
                ecolor="#b8cce4",
                elinewidth=3,
                capsize=0,
                markersize=5,
            )
            ax.annotate(
                f"{share:.0%}",
                (i, share * 100),
                xytext=(5, 2),
                textcoords="offset points",
                fontsize=7,
            )
    ax.set_xticks(
        range(len(periods)),
        [f"{p[2:]}\nn={n}" for p, n in zip(periods, counts, strict=True)],
        fontsize=7,
    )
    ax.set_ylim(-5, 105)
    ax.set_ylabel("正面占比（%）", fontsize=8)
    return _finish(fig, ax, title, crop=False)
