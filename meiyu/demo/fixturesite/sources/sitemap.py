"""Outlet sitemaps of the fixture world: /sitemap.xml (index) → /sitemap-YYYY-MM.xml (URL sets
with the Google News extension). Other paths of the outlet hosts are its static pages."""

from __future__ import annotations

import html
from collections import defaultdict

from meiyu.demo.fixturesite.corpus import OUTLETS, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest

HOSTS = [o.host for o in OUTLETS]
XML = "application/xml"


def respond(world: World, request: FixtureRequest) -> Page | None:
    outlet = next(o for o in OUTLETS if o.host == request.host)
    months: dict[str, list] = defaultdict(list)
    for a in world.articles:
        if a.outlet == outlet:
            months[f"{a.published:%Y-%m}"].append(a)
    if request.path == "/sitemap.xml":
        items = "".join(
            f"<sitemap><loc>http://{outlet.host}/sitemap-{m}.xml</loc>"
            f"<lastmod>{max(a.published for a in arts).isoformat()}</lastmod></sitemap>"
            for m, arts in sorted(months.items())
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}'
            "</sitemapindex>"
        )
        return Page(body.encode(), XML)
    if request.path.startswith("/sitemap-") and request.path.endswith(".xml"):
        arts = months.get(request.path[len("/sitemap-") : -len(".xml")])
        if arts is None:
            return None
        items = "".join(
            f"<url><loc>{a.url}</loc><lastmod>{a.published.isoformat()}</lastmod><news:news>"
            f"<news:publication><news:name>{html.escape(outlet.name)}</news:name>"
            f"<news:language>{outlet.language}</news:language></news:publication>"
            f"<news:publication_date>{a.published.isoformat()}</news:publication_date>"
            f"<news:title>{html.escape(a.title)}</news:title></news:news></url>"
            for a in arts
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"{items}</urlset>"
        )
        return Page(body.encode(), XML)
    query = request.url.split("?", 1)
    path = request.path + (f"?{query[1]}" if len(query) > 1 else "")
    return world.pages.get((request.host, path)) or world.pages.get((request.host, request.path))
