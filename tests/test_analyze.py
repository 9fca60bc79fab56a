"""The sentiment stage at scale: committed batch by batch, resumable after a crash, on the
device the config asks for."""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, config_from_dict
from kernel.errors import ConfigError
from meiyu.demo.fixturesite.corpus import World
from pipelines.analyze import analyze_all, device_for, model_for, model_id, pending_documents
from pipelines.match import match_all
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.models import SentimentResult
from storage.writes import DocumentRecord, ensure_source, upsert_document
from tests.conftest import REPO, write_config
from tests.helpers_cli import meiyu_in_process

BATCH = 7


def _config(db_url: str, **nlp: object) -> Config:
    """The shipped config's a67 alone (its Korean model is what is exercised here)."""
    raw = tomllib.loads((REPO / "meiyu.toml").read_text(encoding="utf-8"))
    raw["database"] = {"url": db_url}
    raw["indicators"] = {"a67": raw["indicators"]["a67"]}
    raw["nlp"] = {**raw.get("nlp", {}), **nlp}
    return config_from_dict(raw, env={})


def _korean_weihai_items(world: World, n: int = 60) -> list[DocumentRecord]:
    forms = ("웨이하이", "위해시", "威海", "Weihai")
    articles = [
        a
        for a in world.articles
        if a.outlet.language == "ko" and a.page == "ok" and any(f in a.full_text for f in forms)
    ][:n]
    return [
        DocumentRecord(
            url=a.url,
            source=a.outlet.source,
            outlet=a.outlet.name,
            title=a.title,
            text="\n".join(a.paragraphs),
            language="ko",
            published_at=a.published,
            fetched_at=dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
            content_hash=hashlib.sha256(a.full_text.encode()).hexdigest(),
        )
        for a in articles
    ]


@pytest.fixture
def matched(db_url: str, world: World) -> Iterator[tuple[Config, sessionmaker[Session], list[int]]]:
    """~60 Korean items about Weihai, stored and matched; the relevant ones are pending."""
    cfg = _config(db_url)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    docs = _korean_weihai_items(world)
    assert len(docs) == 60
    with transaction(sessions) as s:
        for d in docs:
            sid = ensure_source(s, d.source, "rss", "ko", d.outlet or d.source)
            upsert_document(s, d, sid, None)
    match_all(cfg, sessions)
    with sessions() as s:
        pending = pending_documents(s, "a67", model_id(model_for(cfg.indicators["a67"])))
    assert len(pending) > 4 * BATCH  # enough for a crash after two batches to leave work
    yield cfg, sessions, pending
    engine.dispose()


def _results(sessions: sessionmaker[Session]) -> dict[int, tuple[str, dict[str, float]]]:
    with sessions() as s:
        rows = s.execute(
            select(
                SentimentResult.document_id, SentimentResult.label, SentimentResult.probabilities
            )
        ).all()
    return {doc: (label, probs) for doc, label, probs in rows}


class Crash(Exception):
    pass


@pytest.mark.slow
def test_killed_run_resumes_with_the_unscored_documents(
    matched: tuple[Config, sessionmaker[Session], list[int]],
) -> None:
    cfg, sessions, pending = matched
    seen: list[tuple[str, int, int]] = []

    def crash_after_two_batches(indicator: str, done: int, total: int) -> None:
        seen.append((indicator, done, total))
        if done == 2 * BATCH:
            raise Crash

    with pytest.raises(Crash):
        analyze_all(cfg, sessions, crash_after_two_batches, batch_size=BATCH)
    assert [done for _, done, _ in seen] == [0, BATCH, 2 * BATCH]
    assert {(indicator, total) for indicator, _, total in seen} == {("a67", len(pending))}
    # the two committed batches are kept: the first documents in id order
    assert sorted(_results(sessions)) == pending[: 2 * BATCH]

    seen.clear()
    (summary,) = analyze_all(cfg, sessions, lambda *a: seen.append(a), batch_size=BATCH)
    rest = len(pending) - 2 * BATCH
    assert (summary.scored, summary.already) == (rest, 2 * BATCH)
    assert seen[0] == ("a67", 0, rest) and seen[-1] == ("a67", rest, rest)
    resumed = _results(sessions)
    assert sorted(resumed) == pending
    with sessions() as s:
        rows = s.scalar(select(func.count()).select_from(SentimentResult))
    assert rows == len(pending)  # one result per document, none twice

    # nothing left: a third run scores nothing
    (again,) = analyze_all(cfg, sessions, batch_size=BATCH)
    assert (again.scored, again.already) == (0, len(pending))

    # the same as one uninterrupted run (other batch boundaries: results do not depend on them)
    with transaction(sessions) as s:
        s.query(SentimentResult).delete()
    (whole,) = analyze_all(cfg, sessions)
    assert whole.scored == len(pending)
    single = _results(sessions)
    assert {d: r[0] for d, r in single.items()} == {d: r[0] for d, r in resumed.items()}
    for doc, (_, probs) in single.items():
        assert probs == pytest.approx(resumed[doc][1], abs=1e-4)
    assert len({label for label, _ in single.values()}) > 1  # the items are not all alike


def test_device_auto_is_what_torch_sees(tmp_path: Path) -> None:
    cfg = _config(f"sqlite:///{tmp_path / 'x.db'}", device="auto")
    assert device_for(cfg) == ("cuda" if torch.cuda.is_available() else "cpu")
    assert device_for(_config(f"sqlite:///{tmp_path / 'x.db'}", device="cpu")) == "cpu"
    with pytest.raises(ConfigError, match=r"nlp\.device"):
        _config(f"sqlite:///{tmp_path / 'x.db'}", device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_one_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "meiyu.toml", db_url=f"sqlite:///{tmp_path / 'm.db'}", proxy=None)
    done = meiyu_in_process("--config", str(cfg), "analyze", env={"MEIYU_NLP__DEVICE": '"cuda"'})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nlp.device" in lines[0] and "no CUDA device" in lines[0], lines
