"""The human audit loop on a real database: a stratified sample written as XLSX/CSV, filled in
with openpyxl as a person would, imported, reported (confusion matrix, macro-F1 by hand), used
by the series once large enough; a bad file is rejected whole with its row number."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, load_config
from kernel.errors import UserError
from pipelines.aggregate import aggregate_all, definition_version
from pipelines.analyze import model_for, model_id
from pipelines.audit import (
    AuditFileError,
    allocate,
    audit_confusion,
    audit_report,
    import_rows,
    sample_month,
    training_examples,
)
from pipelines.audit_intake import read_audit_file
from reports.audit_file import write_audit_file
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.models import AuditLabel, SentimentResult
from storage.queries import value_series
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ensure_source,
    record_sentiment,
    replace_matches,
    upsert_document,
)
from tests.conftest import REPO, run_meiyu, write_config

SH = ZoneInfo("Asia/Shanghai")
SEOUL = ZoneInfo("Asia/Seoul")
KO = "중국 산둥성 웨이하이를 찾은 한국인 관광객이 늘었다."
ZH = "威海海鲜市场今天购销两旺。"


class World:
    def __init__(self, cfg: Config, sessions: sessionmaker[Session], path: Path) -> None:
        self.cfg, self.sessions, self.config_path = cfg, sessions, path
        self.ko_march: dict[int, str] = {}  # document id → the current model's label
        self.zh_march: dict[int, str] = {}
        self.ko_february: int = 0
        self.mid_ko = model_id(model_for(cfg.indicators["a67"]))
        self.mid_zh = model_id(model_for(cfg.indicators["a29"]))

    def cli(self, *args: str) -> Any:
        return run_meiyu("--config", str(self.config_path), *args)


def _record(n: int, lang: str, when: dt.datetime) -> DocumentRecord:
    text = (KO if lang == "ko" else ZH) + str(n)
    return DocumentRecord(
        url=f"http://{lang}.test/{n}",
        source=f"{lang}-{'a' if n % 4 else 'b'}",  # two sources, 3:1
        outlet=f"Outlet {lang}",
        title=f"{'웨이하이' if lang == 'ko' else '威海海鲜'} {n}",
        text=text,
        language=lang,
        published_at=when,
        fetched_at=dt.datetime(2023, 4, 5, tzinfo=dt.UTC),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> World:
    engine = make_engine(db_url)
    upgrade(engine)
    cfg = load_config(REPO / "meiyu.toml", env={})
    w = World(
        cfg, session_factory(engine), write_config(tmp_path / "m.toml", db_url=db_url, proxy=None)
    )
    # a67: 40 March items (Shanghai calendar): 24 positive, 10 neutral, 6 negative; the last
    # one is 31 March 23:30 in Shanghai, already April in Seoul
    ko_labels = ["positive"] * 24 + ["neutral"] * 10 + ["negative"] * 6
    with transaction(w.sessions) as s:
        ko_ids, zh_ids = [], []
        for n, label in enumerate(ko_labels):
            when = dt.datetime(2023, 3, 1 + n % 28, 9, tzinfo=SEOUL)
            if n == 0:
                when = dt.datetime(2023, 3, 31, 23, 30, tzinfo=SH)
            d = _record(n, "ko", when)
            doc = upsert_document(s, d, ensure_source(s, d.source, "rss", "ko", "O"), None)[1]
            ko_ids.append(doc)
            w.ko_march[doc] = label
        # 28 February 23:30 in Shanghai (1 March in Seoul): not a March item
        feb = _record(99, "ko", dt.datetime(2023, 2, 28, 23, 30, tzinfo=SH))
        w.ko_february = upsert_document(
            s, feb, ensure_source(s, feb.source, "rss", "ko", "O"), None
        )[1]
        irrelevant = _record(98, "ko", dt.datetime(2023, 3, 9, tzinfo=SH))
        irr_source = ensure_source(s, irrelevant.source, "rss", "ko", "O")
        irr = upsert_document(s, irrelevant, irr_source, None)[1]
        for n, label in enumerate(["positive", "neutral", "negative"] * 4):
            d = _record(n, "zh", dt.datetime(2023, 3, 2 + n, 9, tzinfo=SH))
            doc = upsert_document(s, d, ensure_source(s, d.source, "rss", "zh", "O"), None)[1]
            zh_ids.append(doc)
            w.zh_march[doc] = label
        replace_matches(
            s,
            "a67",
            "v",
            [MatchRecord(i, ["웨이하이"]) for i in [*ko_ids, w.ko_february]]
            + [MatchRecord(irr, ["위해"], literal=False, relevant=False)],
        )
        replace_matches(s, "a29", "v", [MatchRecord(i, ["威海", "海鲜"]) for i in zh_ids])
        for doc, label in w.ko_march.items():
            record_sentiment(s, doc, w.mid_ko, "a67", label, {label: 0.9}, f"웨이하이 문장 {doc}")
            record_sentiment(s, doc, "old-model@1", "a67", "neutral", {"neutral": 0.5}, "")
        record_sentiment(s, w.ko_february, w.mid_ko, "a67", "negative", {}, "")
        record_sentiment(s, irr, w.mid_ko, "a67", "negative", {}, "")
        for doc, label in w.zh_march.items():
            record_sentiment(s, doc, w.mid_zh, "a29", label, {label: 0.8}, f"威海海鲜句子 {doc}")
    return w


def _snapshot(w: World) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with w.sessions() as s:
        audit = [
            (a.document_id, a.indicator, a.annotator, a.human_label, a.labelled_at, a.note)
            for a in s.scalars(select(AuditLabel).order_by(AuditLabel.id))
        ]
        results = [
            (r.document_id, r.model_id, r.target, r.label, r.evidence)
            for r in s.scalars(select(SentimentResult).order_by(SentimentResult.id))
        ]
    return audit, results


def _sheet_rows(path: Path) -> tuple[list[str], list[list[Any]]]:
    ws = openpyxl.load_workbook(path)["audit"]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return [str(c) for c in rows[0]], rows[1:]


def _fill(path: Path, labels: dict[int, str], annotator: str = "kim") -> None:
    """What a person does: type a label (and name) on the rows they judged."""
    wb = openpyxl.load_workbook(path)
    ws = wb["audit"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) + 1 for name in ("document_id", "human_label", "annotator")}
    for r in range(2, ws.max_row + 1):
        doc = int(ws.cell(r, col["document_id"]).value)
        if doc in labels:
            ws.cell(r, col["human_label"]).value = labels[doc]
            ws.cell(r, col["annotator"]).value = annotator
    wb.save(path)


# what the person decides, per model label, in the order the items appear: 6 of each label
HUMAN = {
    "negative": ["negative"] * 4 + ["neutral"] * 2,
    "neutral": ["neutral"] * 5 + ["positive"],
    "positive": ["positive"] * 3 + ["neutral"] * 2 + ["negative"],
}
ALIASES = {"positive": "正面", "neutral": "중립", "negative": "负面"}


def test_allocation_gives_rare_labels_equal_shares() -> None:
    order = ["negative", "neutral", "positive"]
    assert allocate(18, {"positive": 24, "neutral": 10, "negative": 6}, order) == {
        "positive": 6,
        "neutral": 6,
        "negative": 6,
    }
    # a small stratum's rest goes to the others; an odd remainder to the rare label first
    assert allocate(20, {"positive": 24, "neutral": 10, "negative": 3}, order) == {
        "positive": 8,
        "neutral": 9,
        "negative": 3,
    }
    assert allocate(2, {"positive": 5, "neutral": 5, "negative": 5}, order) == {
        "positive": 0,
        "neutral": 1,
        "negative": 1,
    }
    assert allocate(100, {"positive": 2, "neutral": 1}, order) == {"positive": 2, "neutral": 1}


def test_audit_round_trip(world: World, tmp_path: Path) -> None:
    w = world
    before_results = _snapshot(w)[1]
    # the month's candidates: the Shanghai calendar, relevant items only
    with w.sessions() as s:
        everything = sample_month(w.cfg, s, "a67", 2023, 3, 1000)
        again = sample_month(w.cfg, s, "a67", 2023, 3, 18, seed=7)
        same = sample_month(w.cfg, s, "a67", 2023, 3, 18, seed=7)
    assert {i.document_id for i in everything.items} == set(w.ko_march)
    assert [i.document_id for i in again.items] == [i.document_id for i in same.items]

    xlsx = tmp_path / "audit-a67.xlsx"
    got = w.cli(
        "audit", "sample", "-i", "a67", "--month", "2023-03", "--n", "18", "--out", str(xlsx)
    )
    assert got.returncode == 0, got.stderr
    header, rows = _sheet_rows(xlsx)
    assert header[:3] == ["document_id", "indicator", "published"] and "human_label" in header
    assert "说明" in openpyxl.load_workbook(xlsx).sheetnames
    c = {name: header.index(name) for name in header}
    assert len(rows) == 18
    shown = {int(r[c["document_id"]]): r[c["model_label"]] for r in rows}
    assert set(shown) <= set(w.ko_march) and all(w.ko_march[d] == lab for d, lab in shown.items())
    # equal strata, so the 6 negatives of the month are all audited
    assert sorted(shown.values()) == ["negative"] * 6 + ["neutral"] * 6 + ["positive"] * 6
    assert all(r[c["sentences"]] == f"웨이하이 문장 {r[c['document_id']]}" for r in rows)
    assert all(r[c["human_label"]] in (None, "") for r in rows)

    seen: dict[str, int] = {}
    decided: dict[int, str] = {}
    for doc in sorted(shown):
        label = shown[doc]
        human = HUMAN[label][seen.setdefault(label, 0)]
        seen[label] += 1
        decided[doc] = ALIASES[human] if doc % 3 == 0 else human  # 正面 / 중립 / 负面 too
    _fill(xlsx, decided)
    got = w.cli("audit", "import", str(xlsx))
    assert got.returncode == 0, got.stderr
    assert "18 labelled rows (18 new, 0 updated, 0 unchanged)" in got.stdout

    # the matrix by hand: rows human (neg, neu, pos), columns model (neg, neu, pos)
    matrix = [[4, 0, 1], [2, 5, 2], [0, 1, 3]]
    f1 = (8 / 11 + 10 / 15 + 6 / 10) / 3  # per label 2tp / (2tp + fp + fn)
    report = w.cli("audit", "report", "-i", "a67", "--format", "json")
    assert report.returncode == 0, report.stderr
    models = {m["model_id"]: m for m in json.loads(report.stdout)["models"]}
    cur = models[w.mid_ko]
    assert cur["current"] and cur["n"] == 18
    assert cur["confusion"]["rows_gold_cols_pred"] == matrix
    assert cur["accuracy"] == pytest.approx(12 / 18, abs=1e-4)
    assert cur["macro_f1"] == pytest.approx(f1, abs=1e-4)
    # the old model scored the same items (all neutral): its own matrix, per model version
    old = models["old-model@1"]
    assert old["confusion"]["rows_gold_cols_pred"] == [[0, 5, 0], [0, 9, 0], [0, 4, 0]]
    table = w.cli("audit", "report", "-i", "a67")
    assert f"macro-F1 {f1:.3f}" in table.stdout and "n 18" in table.stdout

    # the same file again changes nothing; a corrected label updates that person's row
    before = _snapshot(w)[0]
    assert _import(w, xlsx)[3:] == (0, 0, 18) and _snapshot(w)[0] == before
    first = min(decided)
    _fill(xlsx, {first: "negative" if decided[first] != "negative" else "positive"})
    assert _import(w, xlsx)[3:] == (0, 1, 17)
    assert len(_snapshot(w)[0]) == 18
    assert _snapshot(w)[1] == before_results  # model results are never touched

    # Chinese items (a29), same code: a CSV this time, labels typed in Chinese
    path = tmp_path / "a29.csv"
    with w.sessions() as s:
        zh = sample_month(w.cfg, s, "a29", 2023, 3, 6, seed=3)
    assert (
        sorted(i.model_label for i in zh.items)
        == ["negative"] * 2 + ["neutral"] * 2 + ["positive"] * 2
    )
    write_audit_file(zh, path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        table_rows = list(csv.DictReader(fh))
    assert [int(r["document_id"]) for r in table_rows] == [i.document_id for i in zh.items]
    for r in table_rows:
        r["human_label"] = {"positive": "正面", "neutral": "中性", "negative": "负面"}[
            r["model_label"]
        ]
    table_rows[0]["human_label"] = ""  # not judged: skipped
    _write_csv(path, table_rows)
    assert _import(w, path, annotator="王") == (6, 5, 1, 5, 0, 0)  # one row left empty
    with w.sessions() as s:
        [zh_model] = audit_report(w.cfg, s, "a29")
    assert zh_model.n == 5 and zh_model.accuracy == 1.0 and zh_model.current
    # --include-audit's rows: one per item, title and sentences with the human label
    with w.sessions() as s:
        zh_train = training_examples(w.cfg, s, "zh")
        ko_train = training_examples(w.cfg, s, "ko")
    assert len(zh_train) == 5 and len(ko_train) == 18
    assert all(t.startswith("威海海鲜 ") and "威海海鲜句子" in t for t, _ in zh_train)
    assert {lab for _, lab in ko_train} == {"positive", "neutral", "negative"}


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _corrected_source(w: World) -> str:
    aggregate_all(w.cfg, w.sessions)
    with w.sessions() as s:
        month = value_series(s, "a67", definition_version(w.cfg.indicators["a67"]))["2023-03"]
    assert month.details.corrected is not None
    return month.details.corrected.confusion


def _import(w: World, path: Path, annotator: str | None = None) -> tuple[int, ...]:
    columns, rows = read_audit_file(path)
    got = import_rows(w.cfg, w.sessions, path, columns, rows, annotator)
    return (got.rows, got.labelled, got.skipped, got.new, got.updated, got.unchanged)


def test_series_use_the_audit_matrix_from_30_items(world: World, tmp_path: Path) -> None:
    w = world
    assert "evaluation.json" in _corrected_source(w)
    first = tmp_path / "r1.xlsx"
    with w.sessions() as s:
        write_audit_file(sample_month(w.cfg, s, "a67", 2023, 3, 18, seed=1), first)
    shown = {int(r[0]): r[7] for r in _sheet_rows(first)[1]}
    by_label: dict[str, list[int]] = {}
    for doc in sorted(shown):
        by_label.setdefault(shown[doc], []).append(doc)
    decided = {d: HUMAN[lab][i] for lab, docs in by_label.items() for i, d in enumerate(docs)}
    _fill(first, decided)
    _import(w, first)
    # round two leaves out what is audited: the 4 neutral left and 8 positive
    second = tmp_path / "r2.xlsx"
    with w.sessions() as s:
        sample = sample_month(w.cfg, s, "a67", 2023, 3, 12, seed=1)
        write_audit_file(sample, second)
    assert sample.drawn == {"neutral": 4, "positive": 8}
    assert not {i.document_id for i in sample.items} & set(shown)
    rest = {i.document_id: i.model_label for i in sample.items}
    last = max(rest)
    _fill(second, {d: lab for d, lab in rest.items() if d != last})
    _import(w, second)  # 29 items: not yet
    assert "evaluation.json" in _corrected_source(w)
    _fill(second, {last: rest[last]})
    _import(w, second)
    assert _corrected_source(w).startswith("audit of a67 (n=30")
    # weighted to the month: each audited positive stands for 24/14 items, the others for 1,
    # then scaled back to 30 items (factor 30/40)
    with w.sessions() as s:
        confusion = audit_confusion(s, "a67", w.mid_ko, w.cfg.tz)
    assert confusion is not None
    expected = [[3, 0, 0.75 * 12 / 7], [1.5, 6.75, 0.75 * 24 / 7], [0, 0.75, 0.75 * 132 / 7]]
    for got_row, want_row in zip(confusion.counts, expected, strict=True):
        assert list(got_row) == pytest.approx(want_row, abs=1e-9)


def test_bad_files_change_nothing(world: World, tmp_path: Path) -> None:
    w = world
    good = tmp_path / "good.xlsx"
    with w.sessions() as s:
        write_audit_file(sample_month(w.cfg, s, "a67", 2023, 3, 8), good)
    ids = [int(r[0]) for r in _sheet_rows(good)[1]]
    _fill(good, {d: "neutral" for d in ids})
    _import(w, good)
    before = _snapshot(w)

    def broken(name: str, edit: Any) -> Path:
        path = tmp_path / name
        wb = openpyxl.load_workbook(good)
        edit(wb["audit"])
        wb.save(path)
        return path

    def rejected(path: Path, *needles: str) -> None:
        with pytest.raises(AuditFileError) as caught:
            _import(w, path)
        for needle in needles:
            assert needle in str(caught.value)
        assert _snapshot(w) == before

    def label(ws: Any, row: int, value: str) -> None:
        ws.cell(row, 9).value = value  # human_label

    def relabel_all(ws: Any) -> None:  # valid changes everywhere, one bad label in row 5
        for r in range(2, 10):
            label(ws, r, "positive")
        label(ws, 5, "good")

    bad_label = broken("bad-label.xlsx", relabel_all)
    got = w.cli("audit", "import", str(bad_label))
    assert got.returncode == 2
    assert "row 5: human_label 'good' is not one of positive/neutral/negative" in got.stderr
    assert "nothing imported" in got.stderr and _snapshot(w) == before
    rejected(
        broken("unknown.xlsx", lambda ws: setattr(ws.cell(3, 1), "value", 999999)),
        "row 3: document_id 999999 is not in the database",
    )
    rejected(
        broken("feb.xlsx", lambda ws: setattr(ws.cell(4, 2), "value", "a29")),
        "row 4: document",
        "is not a relevant item of a29",
    )
    rejected(
        broken("shown.xlsx", lambda ws: setattr(ws.cell(6, 8), "value", "bogus")),
        "row 6: model_label 'bogus' is not the stored result",
    )
    rejected(broken("nocol.xlsx", lambda ws: ws.delete_cols(9)), "missing column(s): human_label")

    # CSV: a duplicated row and an unknown indicator, both named; an empty file
    path = tmp_path / "dup.csv"
    with w.sessions() as s:
        write_audit_file(sample_month(w.cfg, s, "a67", 2023, 3, 4), path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["human_label"], r["annotator"] = "negative", "lee"
    rows.append(dict(rows[0]))
    rows[1]["indicator"] = "a99"
    _write_csv(path, rows)
    rejected(
        path, "row 6: document", "already on row 2", "row 3: indicator 'a99' is not configured"
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        read_audit_file(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("document_id,indicator,model_id,model_label,human_label,annotator\n")
    rejected(header_only, "no rows")
    # the same CSV, fixed, goes in whole
    rows[1]["indicator"] = "a67"
    _write_csv(path, rows[:4])
    _import(w, path)
    assert len(_snapshot(w)[0]) == len(before[0]) + 4 and _snapshot(w)[1] == before[1]
