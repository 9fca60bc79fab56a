"""Google News RSS search (news.google.com/rss/search?q=…&hl=ko&gl=KR&ceid=KR:ko).

Follows the real capture
../shared/fixtures/sources/google-news-rss/google_news_rss_search_q-TCS_hl-en-IN_2026-09-06_EXCERPT.xml:
RSS 2.0 on one line; an item's `title` is "headline - Outlet" (the suffix is cut using the
`<source>` text), `link` is an opaque news.google.com/rss/articles/CBMi…?oc=5 redirect, not the
publisher's URL (the spider follows it), `pubDate` is RFC 822 GMT, `<source url="…">` names
the outlet and `description` is escaped HTML (`<a>headline</a>&nbsp;&nbsp;<font>Outlet</font>`,
or an `<ol><li>` list for a story cluster). There is no hit count and no paging: a response
holds at most ~100 items, so the spider keeps each window small enough.
"""

from __future__ import annotations

from lxml import etree
from parsel import Selector

from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size

CAP = 100  # items Google News returns for one query at most

# Google's anti-abuse answer: an HTML page under /sorry/ instead of the feed.
_SORRY_MARKERS = ("/sorry/", "unusual traffic", "g-recaptcha")


def _child(item: etree._Element, tag: str) -> str:
    node = item.find(tag)
    return (node.text or "").strip() if node is not None else ""


def headline(title: str, outlet: str | None) -> str:
    """The title without Google's " - Outlet" suffix."""
    if outlet and title.endswith(f" - {outlet}"):
        return title[: -len(f" - {outlet}")].rstrip()
    return title


def description_text(description: str) -> str:
    """The description's text without the outlet names Google appends (`<font>`)."""
    if not description:
        return ""
    sel = Selector(text=f"<div>{description}</div>")
    for font in sel.css("font"):
        font.drop()
    return " ".join("".join(sel.css("div ::text").getall()).replace("\xa0", " ").split())


def parse(body: bytes, url: str) -> SearchPage:
    check_size(body)
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        text = body[:20_000].decode("utf-8", "replace")
        if "/sorry/" in url or any(m in text for m in _SORRY_MARKERS):
            return SearchPage(blocked="Google 'unusual traffic' page")
        raise ParseError("HTML where the RSS feed was expected")
    try:
        root = etree.fromstring(
            body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        )
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not XML: {exc}") from exc
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ParseError(f"not an RSS feed (root <{root.tag}>)")
    mentions = []
    for item in channel.iterfind("item"):
        link = _child(item, "link")
        if not link:
            continue
        source = item.find("source")
        outlet = (source.text or "").strip() if source is not None else ""
        title = headline(_child(item, "title"), outlet)
        mentions.append(
            Mention(
                url=link,
                title=title,
                snippet=description_text(_child(item, "description")),
                outlet=outlet or None,
                published=_child(item, "pubDate") or None,
            )
        )
    return SearchPage(mentions=mentions)
