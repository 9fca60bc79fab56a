"""The alert rules as definitions: their keys, their Chinese names and how a period reads.
Detection and delivery are `pipelines.alerts`; reports and the CLI show stored alerts."""

from __future__ import annotations

NEGATIVE_SPIKE, SHARE_DROP, VOLUME_SURGE = "negative_spike", "share_drop", "volume_surge"
RULES = (NEGATIVE_SPIKE, SHARE_DROP, VOLUME_SURGE)
RULE_NAMES = {
    NEGATIVE_SPIKE: "负面条目激增",
    SHARE_DROP: "正面占比下降",
    VOLUME_SURGE: "报道量激增",
}


def period_text(start: str, end: str) -> str:
    return start if start == end else f"{start} 至 {end}"
