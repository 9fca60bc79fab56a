"""The alerts page and /api/v1/alerts against a real server: the stored episodes newest first,
their items (a link only for http(s), hostile text as text) and each channel's delivery state,
for any account; bad parameters are 422."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.config import load_config
from storage.alerts import AlertRecord, record_delivery, save_alert
from storage.db import make_engine, session_factory, transaction
from tests.helpers_web import Site, running_site

HOSTILE = '<script>alert("x")</script>威海'


def seed_alerts(config: Path) -> None:
    """Two episodes of a29: an older one sent to one channel and failed on another, and a
    newer, undelivered one whose item has a hostile title and a javascript: link."""
    cfg = load_config(config)
    engine = make_engine(cfg.database.url)
    with transaction(session_factory(engine)) as s:
        old, _ = save_alert(
            s,
            AlertRecord(
                "negative_spike", "a29", "2023-11-03", "2023-11-04", 9.0, 2.5, 0.001,
                "威海负面报道激增", [
                    {"document_id": 1, "url": "http://zh.test/1", "title": "威海海鲜 1",
                     "published_at": "2023-11-03T09:00:00+08:00", "label": "negative"}
                ],
            ),
        )  # fmt: skip
        record_delivery(s, old, "wecom", None)
        record_delivery(s, old, "email", "smtp: connection refused")
        save_alert(
            s,
            AlertRecord(
                "volume_surge", "a29", "2023-12-10", "2023-12-10", 40.0, 12.0, 0.0001,
                HOSTILE, [
                    {"document_id": 2, "url": "javascript:alert(1)", "title": HOSTILE,
                     "published_at": "2023-12-10T02:00:00+00:00", "label": None}
                ],
            ),
        )  # fmt: skip
    engine.dispose()


@pytest.fixture
def site(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    with running_site(db_url, tmp_path, caplog, seed=seed_alerts) as running:
        yield running


def test_alerts_newest_first_with_items_and_deliveries(site: Site) -> None:
    browser = site.client()
    assert browser.login("kim").status == 303  # a viewer sees them
    page = browser.get("/alerts")
    assert page.status == 200, page.body
    newer, older = (
        page.body.index('data-rule="volume_surge"'),
        page.body.index('data-rule="negative_spike"'),
    )
    assert newer < older
    assert "报道量激增" in page.body and "负面报道激增" in page.body
    assert 'data-channel="wecom" data-status="sent"' in page.body
    assert 'data-channel="email" data-status="failed"' in page.body
    assert "smtp: connection refused" in page.body and "尚未发送" in page.body
    assert "<script>" not in page.body and "&lt;script&gt;" in page.body
    assert 'href="javascript:' not in page.body and "<code>javascript:alert(1)</code>" in page.body
    assert 'href="http://zh.test/1"' in page.body and 'href="/items/1"' in page.body
    # the items' stored ISO times on the config's clock (Asia/Shanghai), whatever their offset
    assert "<td>2023-11-03 09:00</td>" in page.body and "<td>2023-12-10 10:00</td>" in page.body
    # since: only the episodes ending on or after the day
    later = browser.get("/alerts?since=2023-12-01").body
    assert "volume_surge" in later and "negative_spike" not in later
    assert "没有预警" in browser.get("/alerts?indicator=a67").body

    api = browser.get("/api/v1/alerts")
    assert api.status == 200
    rows = json.loads(api.body)
    assert [r["rule"] for r in rows] == ["volume_surge", "negative_spike"]
    assert rows[1]["deliveries"]["wecom"]["status"] == "sent"
    assert rows[1]["deliveries"]["email"]["attempts"] == 1
    assert rows[0]["items"][0]["title"] == HOSTILE and rows[0]["deliveries"] == {}
    one = json.loads(browser.get("/api/v1/alerts?since=2023-12-01&limit=5").body)
    assert [r["rule"] for r in one] == ["volume_surge"]

    for query in ("since=2023-13-01", "since=yesterday", "limit=0", "limit=x", "since=" + "1" * 11):
        assert browser.get("/alerts?" + query).status == 422, query
        assert browser.get("/api/v1/alerts?" + query).status == 422, query
