"""Report rendering: web text is escaped, charts carry a CJK font that has the glyphs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fontTools.ttLib import TTFont
from matplotlib import font_manager

from meiyu.config import load_config
from pipelines.aggregate import aggregate_all
from pipelines.match import match_all
from reports.charts import trend_png
from reports.fonts import cjk_font_family
from reports.monthly import build_monthly, render_html
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.writes import DocumentRecord, ensure_source, upsert_document
from tests.conftest import REPO


def test_chart_font_covers_hanzi_and_hangul() -> None:
    family = cjk_font_family()
    path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    cmap = TTFont(path, fontNumber=0).getBestCmap()
    for ch in "海鲜之都美誉度刘公岛韩语威海웨이하이":
        assert ord(ch) in cmap, ch
    png = trend_png("a29 海鲜之都美誉度", ["2023-11", "2023-12"], [3.0, None], "条目数")
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_web_text_is_escaped_in_the_report(tmp_path: Path) -> None:
    cfg = load_config(REPO / "meiyu.toml", env={})
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    evil = '<script>alert("x")</script>威海海鲜'
    with transaction(sessions) as s:
        sid = ensure_source(s, "chinanews", "rss", "zh", "中国新闻网")
        upsert_document(
            s,
            DocumentRecord(
                url='http://x.test/a?q="><img src=x onerror=alert(1)>',
                source="chinanews",
                outlet="<b>outlet</b>",
                title=evil,
                text="威海海鲜",
                language="zh",
                published_at=dt.datetime(2023, 12, 5, tzinfo=dt.UTC),
                fetched_at=dt.datetime(2023, 12, 6, tzinfo=dt.UTC),
                content_hash="h",
            ),
            sid,
            None,
        )
    match_all(cfg, sessions)
    aggregate_all(cfg, sessions)
    with sessions() as s:
        html = render_html(build_monthly(cfg, s, 2023, 12))
    engine.dispose()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<b>outlet</b>" not in html and "onerror=alert(1)>" not in html
    assert 'data-indicator="a29" data-period="2023-12" data-items="1"' in html
