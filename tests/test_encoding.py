"""Decoding real-world bytes: declared, undeclared and lying charsets; our bytes and ../shared's."""

from __future__ import annotations

import hashlib
from pathlib import Path

import feedparser
import pytest

from crawlers.encoding import as_utf8_xml, decode
from tests.conftest import SHARED

ZH = "威海国际海鲜美食节开幕，游客品尝当季海鲜。"
KO = "인천과 웨이하이를 잇는 카페리 노선이 운항을 재개했다."


def test_declared_gbk_and_gb2312_are_read_as_gb18030() -> None:
    for declared in ("gbk", "gb2312", "GB2312"):
        page = f'<html><head><meta charset="{declared}"></head><body>{ZH}</body></html>'
        assert ZH in decode(page.encode("gb18030"))


def test_euc_kr_from_the_http_header_and_undeclared_with_language_hint() -> None:
    body = f"<html><body>{KO}</body></html>".encode("cp949")
    assert KO in decode(body, header_charset="euc-kr")
    assert KO in decode(body, language="ko")  # no declaration at all
    assert ZH in decode(ZH.encode("gb18030"), language="zh")


def test_utf8_bytes_win_over_a_lying_meta_tag() -> None:
    page = f'<html><head><meta charset="euc-kr"></head><body>{KO}</body></html>'
    assert KO in decode(page.encode("utf-8"))


def test_bom_wins() -> None:
    assert decode(b"\xef\xbb\xbf" + KO.encode()) == KO


def test_feed_in_gbk_parses_after_re_encoding() -> None:
    xml = (
        f'<?xml version="1.0" encoding="gbk"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{ZH}</title><link>http://x.test/1</link></item></channel></rss>"
    )
    parsed = feedparser.parse(as_utf8_xml(decode(xml.encode("gbk"), language="zh")))
    assert parsed.entries[0].title == ZH


RSS = SHARED / "fixtures" / "sources" / "rss"


@pytest.mark.parametrize(
    ("name", "language", "expect"),
    [
        ("acnnewswire_press_rss_2005_gb2312.xml", "zh", "中国银联"),
        ("acnnewswire_press_rss_2005_euc-kr.xml", "ko", None),
        ("critique_or_kr_blog_rss_2005_euc-kr.xml", "ko", None),
    ],
)
def test_real_legacy_feeds_from_shared(name: str, language: str, expect: str | None) -> None:
    path = RSS / name
    if not path.exists():
        pytest.skip("../shared fixtures not present")
    text = decode(path.read_bytes(), language=language)
    assert "\ufffd" not in text
    parsed = feedparser.parse(as_utf8_xml(text))
    assert parsed.entries, "no entries parsed"
    titles = " ".join(e.title for e in parsed.entries)
    if expect:
        assert expect in titles
    else:  # Korean feeds: titles are Hangul, not mojibake
        assert any("\uac00" <= ch <= "\ud7a3" for ch in titles)


def test_real_meta_lies_page_from_shared() -> None:
    path = SHARED / "fixtures" / "sources" / "articles"
    page = path / "naver_news_section_page_2022-12-29_meta-euc-kr_but_utf-8_bytes.html"
    if not page.exists():
        pytest.skip("../shared fixtures not present")
    text = decode(page.read_bytes(), language="ko")
    assert "\ufffd" not in text and "뉴스" in text
    undeclared = path / "euc-kr_html_no_charset_decl_snippet.html"
    assert any("\uac00" <= ch <= "\ud7a3" for ch in decode(undeclared.read_bytes(), language="ko"))


def test_nothing_from_shared_is_copied_into_the_project() -> None:
    if not SHARED.exists():
        pytest.skip("../shared not present")
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    shared = {digest(p) for p in (SHARED / "fixtures").rglob("*") if p.is_file()}
    repo = Path(__file__).resolve().parents[1]
    skip = {".venv", ".git", "data", "out", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
    copied = [
        p
        for p in repo.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(repo).parts) and digest(p) in shared
    ]
    assert not copied
