"""The human audit loop: a month's items sampled for people to label, their labels checked and
stored beside the model's, and the model's confusion matrix on them per model version.

The sample is stratified by the model's label with equal shares where the month allows (a
random sample of a month holds too few negatives to say how often the model misses them),
then proportionally by source. Because the strata are not sampled in proportion, each audited
item stands for N/n items of its month and label (N: the month's items with that label, n:
those audited) when the matrix is used to correct the positive share: that reweighting makes
row i of the matrix estimate P(predicted | true i) for the population, not for the sample.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from kernel.audit import AuditItem, AuditSample
from kernel.config import Config, IndicatorConfig
from kernel.errors import UserError
from kernel.identity import model_id
from kernel.periods import month_bounds, month_key
from nlp.identity import model_available, model_for
from pipelines.correction import LABELS, Confusion, load_confusion
from storage import audit as store
from storage.db import unit_of_work

# Fewer audited items than this for the current model: the held-out matrix corrects the share.
AUDIT_MIN_ITEMS = 30
REQUIRED_COLUMNS = ("document_id", "indicator", "model_id", "model_label", "human_label")
MAX_ERRORS_SHOWN = 8
LABEL_ALIASES = {
    **{label: label for label in LABELS},
    "正面": "positive",
    "中性": "neutral",
    "负面": "negative",
    "負面": "negative",
    "긍정": "positive",
    "중립": "neutral",
    "부정": "negative",
}


class AuditFileError(UserError):
    """An audit file that cannot be imported as a whole; nothing of it was stored."""


def normalise_label(value: str) -> str | None:
    """positive / 正面 / 긍정 (any case, spaces around) → positive; None when unknown."""
    return LABEL_ALIASES.get(value.strip().lower())


def allocate(n: int, sizes: dict[str, int], order: Sequence[str]) -> dict[str, int]:
    """Split n into equal shares over the strata, a full stratum's rest going to the others;
    an indivisible remainder goes to strata in `order` (rare labels first)."""
    alloc = {k: 0 for k in sizes}
    left = min(n, sum(sizes.values()))
    open_ = [k for k in order if sizes.get(k, 0) > 0]
    while left > 0 and open_:
        share = left // len(open_)
        if share == 0:
            for k in open_[:left]:
                alloc[k] += 1
            break
        for k in open_:
            take = min(share, sizes[k] - alloc[k])
            alloc[k] += take
            left -= take
        open_ = [k for k in open_ if alloc[k] < sizes[k]]
    return alloc


def _proportional(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """Largest-remainder split of n in proportion to sizes (ties by name)."""
    total = sum(sizes.values())
    if total == 0 or n == 0:
        return {k: 0 for k in sizes}
    exact = {k: n * v / total for k, v in sizes.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    rest = sorted(sizes, key=lambda k: (-(exact[k] - out[k]), k))
    for k in rest[: n - sum(out.values())]:
        out[k] += 1
    return out


def draw(cands: Sequence[store.Candidate], n: int, seed: int, salt: str) -> list[store.Candidate]:
    """Stratified by model label (equal shares), then by source (proportional); the same seed
    draws the same items."""
    rng = random.Random(f"{seed}|{salt}")
    by_label: dict[str, list[store.Candidate]] = defaultdict(list)
    for c in cands:
        by_label[c.label].append(c)
    order = [label for label in LABELS if label in by_label] + sorted(set(by_label) - set(LABELS))
    per_label = allocate(n, {k: len(v) for k, v in by_label.items()}, order)
    picked: list[store.Candidate] = []
    for label in order:
        by_source: dict[str, list[store.Candidate]] = defaultdict(list)
        for c in by_label[label]:
            by_source[c.source].append(c)
        per_source = _proportional(per_label[label], {s: len(v) for s, v in by_source.items()})
        for source in sorted(by_source):
            picked += rng.sample(by_source[source], per_source[source])
    rng.shuffle(picked)  # not grouped by label: the order should not hint at the answer
    return picked


def current_model(key: str, ind: IndicatorConfig) -> str:
    if not model_available(ind):
        raise UserError(f"{key} has no sentiment model: there is nothing to audit")
    return model_id(model_for(ind))


def sample_month(
    cfg: Config,
    session: Session,
    key: str,
    year: int,
    month: int,
    n: int,
    seed: int = 0,
    include_audited: bool = False,
) -> AuditSample:
    """The month's (local calendar) relevant items scored by the current model and not audited
    yet, `n` of them at most, stratified. With `include_audited` the labelled items stay in
    the draw, so the sample stays what it was before its first label (the dashboard's)."""
    ind = cfg.indicator(key)
    mid = current_model(key, ind)
    start, end = month_bounds(year, month, cfg.tz)
    cands = store.candidates(session, key, mid, start, end, include_audited)
    period = f"{year:04d}-{month:02d}"
    picked = draw(cands, n, seed, f"{key}|{period}")
    items = [
        AuditItem(
            document_id=c.document_id,
            indicator=key,
            published=c.published_at.astimezone(cfg.tz).date().isoformat(),
            outlet=c.outlet or "",
            source=c.source,
            title=c.title,
            sentences=c.evidence or "",
            model_label=c.label,
            model_id=mid,
        )
        for c in picked
    ]
    return AuditSample(
        key,
        period,
        mid,
        items,
        dict(Counter(c.label for c in cands)),
        dict(Counter(c.label for c in picked)),
    )


# --- import -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    labelled: int
    skipped: int  # rows without a human label (not filled in yet)
    new: int
    updated: int
    unchanged: int


def _document_id(raw: str) -> int | None:
    text = raw.strip()
    if text.endswith(".0"):  # a spreadsheet that turned the id into a number
        text = text[:-2]
    return int(text) if text.isdigit() else None


def check_rows(
    session: Session,
    cfg: Config,
    columns: Sequence[str],
    rows: Sequence[tuple[int, dict[str, str]]],
    annotator: str | None,
) -> tuple[list[store.AuditRecord], int]:
    """The file's labelled rows as records, or AuditFileError naming each bad row by its
    number in the file (the header is row 1, as a spreadsheet shows it)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if "annotator" not in columns and not annotator:
        missing.append("annotator")
    if missing:
        raise AuditFileError(f"missing column(s): {', '.join(missing)} (row 1 is the header)")
    if not rows:
        raise AuditFileError("the file has no rows below the header")
    ids = [i for _, r in rows if (i := _document_id(r.get("document_id", ""))) is not None]
    known = store.existing_documents(session, ids)
    results: dict[tuple[int, str], str] = {}
    matched: dict[str, set[int]] = {}
    for key in {r.get("indicator", "").strip() for _, r in rows} & set(cfg.indicators):
        results.update(
            {
                (d, f"{key}|{m}"): lab
                for (d, m), lab in store.model_labels(session, key, ids).items()
            }
        )
        matched[key] = store.matched_for(session, key, ids)
    errors: list[str] = []
    records: list[store.AuditRecord] = []
    seen: dict[tuple[int, str, str], int] = {}
    skipped = 0
    for number, r in rows:

        def bad(problem: str, number: int = number) -> None:
            errors.append(f"row {number}: {problem}")

        raw_id = r.get("document_id", "").strip()
        doc = _document_id(raw_id)
        key = r.get("indicator", "").strip()
        mid = r.get("model_id", "").strip()
        raw_human = r.get("human_label", "").strip()
        raw_model = r.get("model_label", "").strip()
        who = r.get("annotator", "").strip() or (annotator or "")
        if doc is None:
            bad(f"document_id {raw_id!r} is not a number")
            continue
        if doc not in known:
            bad(f"document_id {doc} is not in the database")
            continue
        if key not in cfg.indicators:
            bad(f"indicator {key!r} is not configured (known: {', '.join(cfg.indicators)})")
            continue
        if doc not in matched[key]:
            bad(f"document {doc} is not a relevant item of {key}")
            continue
        if not raw_human:
            skipped += 1
            continue
        human = normalise_label(raw_human)
        shown = normalise_label(raw_model)
        if human is None:
            bad(
                f"human_label {raw_human!r} is not one of positive/neutral/negative "
                "(正面/中性/负面, 긍정/중립/부정)"
            )
            continue
        stored = results.get((doc, f"{key}|{mid}"))
        if stored is None:
            bad(f"model {mid!r} has no {key} result for document {doc}")
            continue
        if shown != stored:
            bad(f"model_label {raw_model!r} is not the stored result ({stored}) of document {doc}")
            continue
        if not who:
            bad("annotator is empty (fill it in, or give --annotator)")
            continue
        if (doc, key, who) in seen:
            bad(f"document {doc} ({key}, {who}) is already on row {seen[(doc, key, who)]}")
            continue
        seen[(doc, key, who)] = number
        records.append(
            store.AuditRecord(doc, key, mid, stored, human, who, r.get("note", "").strip())
        )
    if errors:
        more = len(errors) - MAX_ERRORS_SHOWN
        shown_errors = "; ".join(errors[:MAX_ERRORS_SHOWN]) + (
            f"; … {more} more" if more > 0 else ""
        )
        raise AuditFileError(shown_errors)
    if not records:
        raise AuditFileError("no row has a human_label: nothing to import")
    return records, skipped


def import_rows(
    cfg: Config,
    sessions: sessionmaker[Session],
    path: Path,
    columns: Sequence[str],
    rows: Sequence[tuple[int, dict[str, str]]],
    annotator: str | None = None,
) -> ImportSummary:
    """Check every row, then store them: one transaction, all rows or none."""

    def work(session: Session) -> ImportSummary:
        records, skipped = check_rows(session, cfg, columns, rows, annotator)
        counts = store.store_labels(session, records, path.name)
        return ImportSummary(len(rows), len(records), skipped, **counts)

    try:
        return unit_of_work(sessions, work)
    except AuditFileError as exc:
        raise AuditFileError(f"{path.name} rejected, nothing imported: {exc}") from None


# --- confusion matrices -------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    document_id: int
    gold: str
    pred: str
    month: str | None


@dataclass(frozen=True)
class ModelAudit:
    """The audit of one model version of an indicator."""

    model_id: str
    current: bool
    n: int
    counts: tuple[tuple[int, ...], ...]  # rows gold, columns predicted, LABELS order
    accuracy: float
    macro_f1: float
    ties: int  # items whose annotators disagree evenly: left out


def gold_labels(
    rows: Sequence[store.LabelRow],
) -> tuple[dict[int, str], dict[int, dt.datetime | None], int]:
    """Per item, the annotators' majority label; even splits are left out (counted)."""
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    when: dict[int, dt.datetime | None] = {}
    for r in rows:
        votes[r.document_id][r.human_label] += 1
        when[r.document_id] = r.published_at
    gold, ties = {}, 0
    for doc, c in votes.items():
        top = c.most_common()
        if len(top) > 1 and top[0][1] == top[1][1]:
            ties += 1
        else:
            gold[doc] = top[0][0]
    return gold, when, ties


def pairs_by_model(session: Session, key: str, tz: ZoneInfo) -> tuple[dict[str, list[Pair]], int]:
    """Every model that scored audited items: its (human, model) label pairs."""
    gold, when, ties = gold_labels(store.labels(session, key))
    out: dict[str, list[Pair]] = defaultdict(list)
    for (doc, mid), pred in sorted(store.model_labels(session, key, gold).items()):
        published = when.get(doc)
        out[mid].append(Pair(doc, gold[doc], pred, month_key(published, tz) if published else None))
    return dict(out), ties


def confusion_counts(pairs: Sequence[Pair]) -> tuple[tuple[int, ...], ...]:
    m = [[0] * len(LABELS) for _ in LABELS]
    for p in pairs:
        if p.gold in LABELS and p.pred in LABELS:
            m[LABELS.index(p.gold)][LABELS.index(p.pred)] += 1
    return tuple(tuple(row) for row in m)


def accuracy_macro_f1(counts: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Accuracy and macro-F1 over the three labels (a label never right scores F1 0)."""
    total = sum(sum(row) for row in counts)
    k = len(counts)
    correct = sum(counts[i][i] for i in range(k))
    f1s = []
    for c in range(k):
        tp = counts[c][c]
        fp = sum(counts[g][c] for g in range(k)) - tp
        fn = sum(counts[c]) - tp
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return (correct / total if total else 0.0), sum(f1s) / k


def audit_report(cfg: Config, session: Session, key: str) -> list[ModelAudit]:
    """Per model version (the current one first): confusion matrix, accuracy, macro-F1, n."""
    ind = cfg.indicator(key)
    current = model_id(model_for(ind)) if model_available(ind) else None
    by_model, ties = pairs_by_model(session, key, cfg.tz)
    out = []
    for mid in sorted(by_model, key=lambda m: (m != current, m)):
        counts = confusion_counts(by_model[mid])
        acc, f1 = accuracy_macro_f1(counts)
        n = sum(map(sum, counts))
        out.append(ModelAudit(mid, mid == current, n, counts, acc, f1, ties))
    return out


def weighted_confusion(
    session: Session, key: str, mid: str, pairs: Sequence[Pair], tz: ZoneInfo
) -> tuple[tuple[float, ...], ...]:
    """Each pair weighted by N/n of its (month, model label) stratum, scaled back to len(pairs)
    items so the bootstrap sees the audit's real size."""
    cell: Counter[tuple[str | None, str]] = Counter((p.month, p.pred) for p in pairs)
    population: dict[str | None, dict[str, int]] = {}
    for month in {p.month for p in pairs}:
        if month is not None:
            start, end = month_bounds(int(month[:4]), int(month[5:7]), tz)
            population[month] = store.label_counts(session, key, mid, start, end)
    m = [[0.0] * len(LABELS) for _ in LABELS]
    for p in pairs:
        if p.gold not in LABELS or p.pred not in LABELS:
            continue
        big_n = population.get(p.month, {}).get(p.pred, 0)
        w = max(big_n, cell[(p.month, p.pred)]) / cell[(p.month, p.pred)]
        m[LABELS.index(p.gold)][LABELS.index(p.pred)] += w
    total = sum(map(sum, m))
    scale = len(pairs) / total if total else 0.0
    return tuple(tuple(x * scale for x in row) for row in m)


def audit_confusion(session: Session, key: str, mid: str, tz: ZoneInfo) -> Confusion | None:
    """The audit's matrix for this model, once it has AUDIT_MIN_ITEMS items and every true
    label among them (a row of zeros cannot be inverted)."""
    by_model, _ = pairs_by_model(session, key, tz)
    pairs = by_model.get(mid, [])
    if len(pairs) < AUDIT_MIN_ITEMS:
        return None
    counts = weighted_confusion(session, key, mid, pairs, tz)
    if any(sum(row) == 0 for row in counts):
        return None
    return Confusion(counts, f"audit of {key} (n={len(pairs)}, weighted to each month's labels)")


def correction_confusion(
    session: Session, key: str, ind: IndicatorConfig, mid: str, tz: ZoneInfo
) -> Confusion | None:
    """The matrix that corrects the share: the in-domain audit where it is large enough,
    else the held-out one beside the model."""
    return audit_confusion(session, key, mid, tz) or load_confusion(model_for(ind))


def training_examples(cfg: Config, session: Session, language: str) -> list[tuple[str, str]]:
    """Audited items of the language's indicators as (title and sentences, human label), one
    per item (the annotators' majority; even splits left out), for `--include-audit`."""
    keys = [k for k, ind in cfg.indicators.items() if ind.language == language]
    texts: dict[int, str] = {}
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for r in store.training_rows(session, keys):
        texts.setdefault(r.document_id, "\n".join(t for t in (r.title, r.evidence) if t))
        votes[r.document_id][r.human_label] += 1
    out = []
    for doc in sorted(votes):
        top = votes[doc].most_common()
        if len(top) == 1 or top[0][1] > top[1][1]:
            out.append((texts[doc], top[0][0]))
    return out
