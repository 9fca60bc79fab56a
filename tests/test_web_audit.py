"""The audit page against a real server: an analyst labels a67's stratified sample of a month
in the browser, item by item, through the checks and writes of `meiyu audit import` (labels
beside the model's results, never over them); a viewer, a forged form, a token and bad
parameters store nothing; the confusion matrix below is `meiyu audit report`'s."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kernel.config import load_config
from nlp.identity import model_for
from pipelines.analyze import model_id
from pipelines.audit import sample_month
from storage.audit import labels
from storage.db import make_engine, session_factory, transaction
from storage.models import AuditLabel, SentimentResult
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ensure_source,
    record_sentiment,
    replace_matches,
    upsert_document,
)
from tests.helpers_web import Client, Site, running_site

SEOUL = ZoneInfo("Asia/Seoul")
HOSTILE = '<img src=x onerror="alert(1)">웨이하이'
# 12 March 2023 items of a67: 6 positive, 4 neutral, 2 negative by the model
MODEL = ["positive"] * 6 + ["neutral"] * 4 + ["negative"] * 2


def seed_a67(config: Path) -> None:
    """12 relevant a67 items of March 2023 (Seoul) scored by a67's current model, the first
    with a hostile title and a javascript: link."""
    cfg = load_config(config)
    mid = model_id(model_for(cfg.indicators["a67"]))
    engine = make_engine(cfg.database.url)
    with transaction(session_factory(engine)) as s:
        ids = []
        for n, label in enumerate(MODEL):
            text = f"웨이하이 관광객 {n}"
            d = DocumentRecord(
                url="javascript:alert(1)" if n == 0 else f"http://ko.test/{n}",
                source=f"ko-{'a' if n % 3 else 'b'}",
                outlet="Outlet ko",
                title=HOSTILE if n == 0 else f"웨이하이 {n}",
                text=text,
                language="ko",
                published_at=dt.datetime(2023, 3, 1 + n, 9, tzinfo=SEOUL),
                fetched_at=dt.datetime(2023, 4, 5, tzinfo=dt.UTC),
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
            doc = upsert_document(s, d, ensure_source(s, d.source, "rss", "ko", "O"), None)[1]
            ids.append(doc)
            record_sentiment(s, doc, mid, "a67", label, {label: 0.9}, f"웨이하이 문장 {n}")
        replace_matches(s, "a67", "v", [MatchRecord(i, ["웨이하이"]) for i in ids])
    engine.dispose()


@pytest.fixture
def site(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    with running_site(db_url, tmp_path, caplog, seed=seed_a67) as running:
        yield running


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meiyu.db'}"


PAGE = "/audit?indicator=a67&month=2023-03"


def _shown(body: str) -> int:
    found = re.search(r'id="audit-item" data-document-id="(\d+)"', body)
    assert found, body
    return int(found.group(1))


def _form(body: str) -> dict[str, str]:
    """The hidden fields of the label form, as a browser would send them."""
    form = body[body.index('id="audit-form"') :]
    form = form[: form.index("</form>")]
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }


def _results(site: Site) -> list[tuple[Any, ...]]:
    with site.sessions() as s:
        return [
            (r.document_id, r.model_id, r.target, r.label, r.probabilities, r.evidence)
            for r in s.scalars(select(SentimentResult).order_by(SentimentResult.id))
        ]


def _analyst(site: Site) -> Client:
    browser = site.client()
    assert browser.login("li").status == 303
    return browser


def test_an_analyst_labels_the_sample_item_by_item(site: Site) -> None:
    viewer = site.client()
    assert viewer.login("kim").status == 303
    denied = viewer.get(PAGE)
    assert denied.status == 403 and "需要 analyst 权限" in denied.body

    browser = _analyst(site)
    page = browser.get(PAGE)
    assert page.status == 200, page.body
    assert "已标注 0 / 12" in page.body
    assert 'src="/static/audit.js"' in page.body
    for key in ("positive", "neutral", "negative", "skip"):
        assert f'data-label="{key}"' in page.body
    # the items are `meiyu audit sample`'s (same seed): shown in the sample's order
    cfg = load_config(site.config)
    with site.sessions() as s:
        sample = sample_month(cfg, s, "a67", 2023, 3, 200, 0)
    order = [x.document_id for x in sample.items]
    assert len(order) == 12 and _shown(page.body) == order[0]
    before = _results(site)

    given = ["negative", "neutral", "positive"]
    for k, label in enumerate(given):
        form = {**_form(page.body), "label": label}
        assert form["document_id"] == str(order[k])
        reply = browser.request("POST", "/audit", form)
        assert reply.status == 303, reply.body
        page = browser.get(reply.header("location") or "")
        assert f"已标注 {k + 1} / 12" in page.body
        assert _shown(page.body) == order[k + 1]  # the sample stays the same under the labels

    with site.sessions() as s:
        stored = {r.document_id: (r.annotator, r.human_label) for r in labels(s, "a67")}
        rows = list(s.scalars(select(AuditLabel).order_by(AuditLabel.id)))
    assert stored == {order[k]: ("li", label) for k, label in enumerate(given)}
    shown = {x.document_id: x for x in sample.items}
    for r in rows:  # as `meiyu audit import` stores a row: the shown model result beside it
        assert (r.model_id, r.model_label) == (sample.model_id, shown[r.document_id].model_label)
        assert r.source_file == "dashboard" and r.labelled_at is not None
    assert _results(site) == before  # the model's results untouched

    # skip: nothing stored, the next item shows, the skipped one comes back at the end
    reply = browser.request("POST", "/audit", {**_form(page.body), "label": "skip"})
    assert reply.status == 303 and site.count("audit_labels") == 3
    page = browser.get(reply.header("location") or "")
    assert _shown(page.body) == order[4] and "已标注 3 / 12" in page.body

    # the report: three audited items of the current model, too few to correct the share
    assert 'data-model-id="' + sample.model_id + '"' in page.body
    assert '条目数 <span class="n">3</span>' in page.body
    assert "审核标注不足 30 条" in page.body
    # and what it does to the month's share: 6 of 12 positive by the model
    assert 'data-share="raw">50.0%' in page.body and 'data-share="audit">—' in page.body
    assert re.search(r'data-share="held-out">\d+\.\d%', page.body)  # the model's own matrix


def test_forged_or_tokened_posts_store_nothing(site: Site) -> None:
    browser = _analyst(site)
    page = browser.get(PAGE)
    form = {**_form(page.body), "label": "positive"}
    for bad in ({k: v for k, v in form.items() if k != "csrf"}, {**form, "csrf": "forged"}):
        reply = browser.request("POST", "/audit", bad)
        assert reply.status == 403 and "表单已失效" in reply.body
    # an API token has no browser session, so no form to post, even with a real token
    scripted = site.client(Authorization=f"Bearer {site.token('li')}")
    assert scripted.request("POST", "/audit", form).status == 403
    # a viewer's own valid token does not make it an analyst
    viewer = site.client()
    assert viewer.login("kim").status == 303
    assert viewer.request("POST", "/audit", {**form, "csrf": viewer.page_csrf()}).status == 403
    assert site.count("audit_labels") == 0


def test_hostile_text_and_bad_parameters(site: Site) -> None:
    browser = _analyst(site)
    page = browser.get(PAGE)
    # walk to the hostile item by skipping
    for _ in range(12):
        if "onerror" in page.body:
            break
        reply = browser.request("POST", "/audit", {**_form(page.body), "label": "skip"})
        page = browser.get(reply.header("location") or "")
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;웨이하이" in page.body
    assert "<img" not in page.body
    assert 'href="javascript:' not in page.body and "<code>javascript:alert(1)</code>" in page.body

    for query in (
        "indicator=a99&month=2023-03",
        "indicator=a67&month=2023-13",
        "indicator=a67&month=march",
        "indicator=a67&month=2023-03&seed=-1",
        "indicator=a67&month=2023-03&pos=x",
        "indicator=" + "a" * 41 + "&month=2023-03",
    ):
        reply = browser.get("/audit?" + query)
        assert reply.status == 422, (query, reply.status, reply.body)
    form = {**_form(page.body), "label": "positive"}
    for bad in (
        {"label": "great"},
        {"document_id": "999999"},
        {"document_id": "x"},
        {"month": "2023-3"},
        {"indicator": "a99"},
        {"seed": "-1"},
    ):
        reply = browser.request("POST", "/audit", {**form, **bad})
        assert reply.status == 422, (bad, reply.status, reply.body)
    assert site.count("audit_labels") == 0
    # no month yet: the form to choose one; the script is served
    assert 'id="audit-choose"' in browser.get("/audit").body
    script = browser.get("/static/audit.js")
    assert script.status == 200 and "requestSubmit" in script.body


def test_without_hooks_the_page_says_so(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_site(sqlite_url, tmp_path, caplog, audit=False) as bare:
        browser = _analyst(bare)
        page = browser.get(PAGE)
        assert page.status == 200 and "审核功能未启用" in page.body
        form = {"csrf": browser.page_csrf(), "indicator": "a67", "month": "2023-03"}
        reply = browser.request("POST", "/audit", {**form, "document_id": "1", "label": "positive"})
        assert reply.status == 404 and bare.count("audit_labels") == 0
