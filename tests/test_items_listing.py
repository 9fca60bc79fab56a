"""storage.items.list_items against a plain Python reading of the same rows, on SQLite and
PostgreSQL: every filter path (an indicator's matches walked through their copy of the date,
the documents walked by date, a search, a label, a source) gives the same documents in the
same order with the same count, below and above the count's cap, on the first page, a far
page and one past the end; and the matches' copy of the date follows the documents."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine, session_factory
from storage.items import ItemFilter, list_items
from storage.migrate import downgrade, upgrade
from storage.models import Document, IndicatorMatch
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ensure_source,
    record_sentiment,
    replace_matches,
    upsert_document,
)

START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
FETCHED = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
SOURCES = (("zh-a", "zh"), ("zh-b", "zh"), ("ko-a", "ko"))
LABELS = ("positive", "neutral", "negative")


@dataclass(frozen=True)
class Row:
    id: int
    source: str
    language: str
    title: str
    published: dt.datetime | None
    cluster: int
    matches: dict[str, tuple[bool, bool]]  # indicator → (literal, relevant)
    labels: dict[str, str]  # indicator → label (model "m")


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def _seed(sessions: sessionmaker[Session], n: int = 240, seed: int = 3) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    with sessions.begin() as s:
        ids = {name: ensure_source(s, name, "rss", lang, name) for name, lang in SOURCES}
        found: dict[str, list[MatchRecord]] = {"a29": [], "a67": []}
        for i in range(n):
            source, language = rng.choice(SOURCES)
            # some undated, many sharing one instant (the order then falls back on the id)
            published = (
                None
                if rng.random() < 0.1
                else START + dt.timedelta(days=rng.randrange(60), hours=rng.choice((0, 0, 5)))
            )
            title = f"{rng.choice(('威海海鲜', '刘公岛', '웨이하이', 'other'))} {i % 17} 100%_x"
            record = DocumentRecord(
                url=f"https://x.example/{i}",
                source=source,
                outlet=None,
                title=title,
                text="",
                language=language,
                published_at=published,
                fetched_at=FETCHED,
                content_hash=f"h{i}",
            )
            doc_id = upsert_document(s, record, ids[source], None)[1]
            cluster = doc_id if i % 5 else max(1, doc_id - 1)
            s.execute(update(Document).where(Document.id == doc_id).values(cluster_id=cluster))
            matches: dict[str, tuple[bool, bool]] = {}
            labels: dict[str, str] = {}
            for ind in found:
                if rng.random() < 0.5:
                    literal, relevant = rng.random() < 0.8, rng.random() < 0.7
                    matches[ind] = (literal, relevant)
                    found[ind].append(MatchRecord(doc_id, ["t"], literal, relevant))
                    if rng.random() < 0.7:
                        labels[ind] = rng.choice(LABELS)
                        probs = {k: 1.0 if k == labels[ind] else 0.0 for k in LABELS}
                        record_sentiment(s, doc_id, "m", ind, labels[ind], probs, "")
            rows.append(Row(doc_id, source, language, title, published, cluster, matches, labels))
        for ind, records in found.items():
            replace_matches(s, ind, "v1", records)
    return rows


def _expected(rows: list[Row], f: ItemFilter) -> list[int]:
    def keep(r: Row) -> bool:
        if f.indicator is not None:
            if f.indicator not in r.matches:
                return False
            literal, relevant = r.matches[f.indicator]
            if (f.match == "literal" and not literal) or (f.match == "relevant" and not relevant):
                return False
        elif f.match != "any":
            wanted = 0 if f.match == "literal" else 1
            if not any(m[wanted] for m in r.matches.values()):
                return False
        if f.label is not None:
            names = [f.indicator] if f.indicator is not None else list(r.labels)
            if not any(r.labels.get(k) == f.label for k in names):
                return False
        if f.start is not None and (r.published is None or r.published < f.start):
            return False
        if f.end is not None and (r.published is None or r.published >= f.end):
            return False
        return (
            (f.source is None or r.source == f.source)
            and (f.language is None or r.language == f.language)
            and (f.cluster is None or r.cluster == f.cluster)
            and (not f.search or f.search in r.title)
        )

    kept = [r for r in rows if keep(r)]
    dated = sorted((r for r in kept if r.published), key=lambda r: (r.published, r.id))
    undated = sorted((r for r in kept if r.published is None), key=lambda r: r.id)
    return [r.id for r in reversed(dated)] + [r.id for r in reversed(undated)]


FILTERS = [
    ItemFilter(),
    ItemFilter(indicator="a29"),
    ItemFilter(indicator="a67", match="relevant"),
    ItemFilter(indicator="a29", match="literal", label="positive", model_id="m"),
    ItemFilter(indicator="a29", source="zh-b"),
    ItemFilter(indicator="a67", language="ko", search="웨이하이"),
    ItemFilter(
        indicator="a29",
        start=START + dt.timedelta(days=10),
        end=START + dt.timedelta(days=40),
    ),
    ItemFilter(search="威海"),
    ItemFilter(search="100%_x"),  # LIKE's own metacharacters, found literally
    ItemFilter(search="1"),  # shorter than a trigram
    ItemFilter(label="negative"),
    ItemFilter(match="relevant", language="zh"),
    ItemFilter(source="ko-a", start=START, end=START + dt.timedelta(days=30)),
    ItemFilter(indicator="a29", search="no such title"),
]


def test_every_filter_path_pages_like_the_reference(sessions: sessionmaker[Session]) -> None:
    rows = _seed(sessions)
    with sessions() as s:
        clusters = [r.cluster for r in rows if r.cluster != r.id][:1]
        filters = FILTERS + [ItemFilter(cluster=c) for c in clusters]
        for f, cap, size in itertools.product(filters, (10, 10_000), (7, 50)):
            want = _expected(rows, f)
            pages = max(1, -(-len(want) // size))
            for page in sorted({1, 2, pages, pages + 1}):
                got = list_items(s, f, page, size, cap)
                where = f"{f} cap {cap} size {size} page {page}"
                assert [r.id for r in got.rows] == want[(page - 1) * size : page * size], where
                assert got.total == min(len(want), cap + 1), where
                assert got.total_capped == (len(want) > cap), where
        some = list_items(s, ItemFilter(indicator="a29"), 1, 3, 10).rows[0]
        assert some.source in {name for name, _ in SOURCES} and some.title


def test_the_matches_keep_their_documents_date(sessions: sessionmaker[Session]) -> None:
    """replace_matches copies the date; a crawl that rewrites a document (new content, new date)
    moves its matches' copy with it; an unchanged one leaves it."""
    rows = _seed(sessions, n=30)

    def copies(s: Session) -> list[tuple[dt.datetime | None, dt.datetime | None]]:
        return [
            (a, b)
            for a, b in s.execute(
                select(IndicatorMatch.published_at, Document.published_at).join(
                    Document, Document.id == IndicatorMatch.document_id
                )
            )
        ]

    with sessions() as s:
        pairs = copies(s)
        assert pairs and all(a == b for a, b in pairs)
    target = next(r for r in rows if r.matches)
    moved = dt.datetime(2025, 5, 5, 5, tzinfo=dt.UTC)
    with sessions.begin() as s:
        source_id = ensure_source(s, target.source, "rss", target.language, target.source)
        record = DocumentRecord(
            url=f"https://x.example/{target.id - 1}",
            source=target.source,
            outlet=None,
            title="rewritten",
            text="new text",
            language=target.language,
            published_at=moved,
            fetched_at=FETCHED,
            content_hash="changed",
        )
        assert upsert_document(s, record, source_id, None) == ("updated", target.id)
    with sessions() as s:
        assert all(a == b for a, b in copies(s))
        first = list_items(s, ItemFilter(indicator=next(iter(target.matches))), 1, 1).rows
        assert [r.id for r in first] == [target.id]  # now the newest


def test_the_migration_copies_the_dates_and_goes_down(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    _seed(sessions, n=20)
    downgrade(engine, "0009")
    upgrade(engine)  # the copy is rebuilt from documents
    with sessions() as s:
        pairs = s.execute(
            select(IndicatorMatch.published_at, Document.published_at).join(
                Document, Document.id == IndicatorMatch.document_id
            )
        ).all()
        assert pairs and all(a == b for a, b in pairs)
        assert any(a is not None for a, _ in pairs)
    engine.dispose()
