"""The Chinese text of an alert: what it saw, the rule it applied, the items behind it.

A stored message is line 1 the headline, line 2 the rule, then the items; the e-mail sends it
as it is, the WeCom/DingTalk robots get the same lines as markdown with the items linked.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from kernel.alerts import NEGATIVE_SPIKE, RULE_NAMES, SHARE_DROP, VOLUME_SURGE, period_text
from kernel.config import AlertsConfig
from pipelines.alerts.detect import (
    DayTest,
    Finding,
    WeekTest,
)
from storage.alerts import AlertRecord, AlertRow

TAG = "【舆情预警】"
TITLE_CHARS = 80  # robots cut long messages; a headline is enough to find the item

# Crawled text in a message line: control characters have no place there, and a bidi override
# or embedding in a title would reverse what follows it on the line, the link included.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Inside a markdown link's text: brackets would end the link, angle brackets open robot tags.
_MD_TEXT = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞"})
# Inside a markdown link's (…): what would end the URL or the line, percent-encoded.
_MD_URL = str.maketrans({c: f"%{ord(c):02X}" for c in "()[]<>\"' \t\r\n\\"})


def line_text(text: str) -> str:
    """Crawled text as one line of a message, without controls or bidi overrides."""
    return " ".join(_UNSAFE.sub("", text).split())


def md_link(title: str, url: str) -> str:
    """A markdown link whose title and URL cannot break out of it; an URL that is not
    http(s) (javascript:, data:) is left out and the title stays text."""
    text = line_text(title).translate(_MD_TEXT)
    href = _UNSAFE.sub("", url).translate(_MD_URL)
    if not href.lower().startswith(("http://", "https://")):
        return text
    return f"[{text}]({href})"


def rule_text(rule: str, a: AlertsConfig) -> str:
    """The rule in one line, with the thresholds in force when the alert was raised."""
    merge = f"相隔不超过 {a.merge_days} 天的预警日合并为一次预警"
    if rule == NEGATIVE_SPIKE:
        return (
            f"规则：单日负面条目数 k ≥ {a.negative_min_count} 且泊松尾概率 P(X≥k | λ) < "
            f"{a.alpha:g}，λ 为此前 {a.window_days} 天的日均负面条目数"
            f"（下限 {a.floor_per_window:g} 条/{a.window_days} 天）；{merge}。"
        )
    if rule == SHARE_DROP:
        return (
            f"规则：一周（周一至周日）已判定条目 ≥ {a.share_min_items} 条，正面占比比此前 "
            f"{a.share_weeks} 周合计低 {a.share_min_drop:.0%} 以上，且单侧双比例检验 p < "
            f"{a.share_alpha:g}；相邻预警周合并为一次预警。"
        )
    if rule == VOLUME_SURGE:
        return (
            f"规则：单日新报道数 k（转载与原稿算一篇）≥ {a.volume_min_count} 且泊松尾概率 "
            f"P(X≥k | λ) < {a.alpha:g}，λ 为此前 {a.window_days} 天的日均新报道数"
            f"（下限 {a.floor_per_window:g} 篇/{a.window_days} 天）；{merge}。"
        )
    raise ValueError(f"unknown rule {rule!r}")


def _per_day(items: list[dict[str, Any]], unit: str) -> str:
    days = Counter(i["day"] for i in items)
    if len(days) < 2:
        return ""
    return "（" + "，".join(f"{d[5:]} {n} {unit}" for d, n in sorted(days.items())) + "）"


def headline(f: Finding, name: str, a: AlertsConfig) -> str:
    where = f"{TAG}{name}（{f.indicator}）：{period_text(f.start.isoformat(), f.end.isoformat())}"
    p = f"p={f.p_value:.2g}"
    if f.rule == SHARE_DROP:
        weeks = [t for t in f.tests if isinstance(t, WeekTest)]
        x, n = sum(t.positive for t in weeks), sum(t.scored for t in weeks)
        x0, n0 = weeks[0].baseline_positive, weeks[0].baseline_scored
        return (
            f"{where} 正面占比 {x}/{n} = {f.observed:.0%}，此前 {a.share_weeks} 周为 "
            f"{x0}/{n0} = {f.expected:.0%}，下降 {f.expected - f.observed:.0%}"
            f"（单侧检验 {p}）。"
        )
    first = f.tests[0] if f.tests else None
    per_day_lambda = first.expected if isinstance(first, DayTest) else 0.0
    unit, what = ("条", "负面条目") if f.rule == NEGATIVE_SPIKE else ("篇", "新报道")
    return (
        f"{where} {what} {f.observed:.0f} {unit}{_per_day(f.items, unit)}，"
        f"此前 {a.window_days} 天日均 {per_day_lambda:.2f} {unit}，"
        f"同期应有约 {f.expected:.2f} {unit}（泊松尾概率 {p}）。"
    )


def _item_line(n: int, item: dict[str, Any]) -> str:
    title = line_text(item["title"])[:TITLE_CHARS]
    extra = f"（含转载共 {item['documents']} 篇）" if item.get("documents", 1) > 1 else ""
    outlet = f" {line_text(item['outlet'])}" if item.get("outlet") else ""
    return f"{n}. {item['day']}{outlet} {title}{extra} {line_text(item['url'])}"


def message(f: Finding, name: str, a: AlertsConfig) -> str:
    lines = [headline(f, name, a), rule_text(f.rule, a)]
    shown = f.items[: a.message_items]
    if shown:
        lines.append(f"相关条目（共 {len(f.items)} 条）：")
        lines += [_item_line(n, i) for n, i in enumerate(shown, start=1)]
        if len(f.items) > len(shown):
            lines.append(f"另有 {len(f.items) - len(shown)} 条未列出。")
    return "\n".join(lines)


def record(f: Finding, name: str, a: AlertsConfig) -> AlertRecord:
    return AlertRecord(
        rule=f.rule,
        indicator=f.indicator,
        period_start=f.start.isoformat(),
        period_end=f.end.isoformat(),
        observed=f.observed,
        expected=f.expected,
        p_value=f.p_value,
        message=message(f, name, a),
        items=f.items,
    )


def subject(alert: AlertRow, name: str) -> str:
    """E-mail subject and robot title, e.g. 【舆情预警】韩语“威海”美誉度（a67）负面条目激增：…"""
    rule = RULE_NAMES.get(alert.rule, alert.rule)
    return (
        f"{TAG}{name}（{alert.indicator}）{rule}："
        f"{period_text(alert.period_start, alert.period_end)}"
    )


def markdown(alert: AlertRow, limit: int, tz: ZoneInfo) -> str:
    """The message as robot markdown: bold headline, quoted rule, linked items."""
    head, rule = (alert.message.split("\n") + ["", ""])[:2]
    lines = [f"**{head}**", "", f"> {rule}", ""]
    shown = alert.items[:limit]
    for n, item in enumerate(shown, start=1):
        link = md_link(item["title"][:TITLE_CHARS], item["url"])
        outlet = (
            f"（{line_text(item['outlet']).translate(_MD_TEXT)}）" if item.get("outlet") else ""
        )
        lines.append(f"{n}. {item['day']} {link}{outlet}")
    if len(alert.items) > len(shown):
        lines.append(f"另有 {len(alert.items) - len(shown)} 条未列出。")
    lines += ["", footer(alert, tz)]
    return "\n".join(lines)


def footer(alert: AlertRow, tz: ZoneInfo) -> str:
    found = alert.detected_at.astimezone(tz)
    return f"meiyu 告警 #{alert.id}（{alert.rule}），发现于 {found:%Y-%m-%d %H:%M}"
