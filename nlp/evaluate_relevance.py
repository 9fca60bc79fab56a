"""Measure literal and relevance accuracy on the labelled sets under tests/data/, and the
Korean relevance on real news (the ko_wihae set) where its local copy is present.

    .venv/bin/python -m nlp.evaluate_relevance [--write] [--write-realnews-manifest]

--write stores the figures in nlp/data/relevance_eval.json, the floor the evaluation test
holds every later change to. `ko_backends` compares the two Korean analysers (Kiwi, Okt):
the more accurate is the default `[nlp] korean_analyser`; its speed figures are this
machine's at the time of writing, not a floor.

The real-news set (nlp.realnews): sentences with 위해 copied from public web pages, each
labelled with its sense (city / harm / for). Their text is third-party, so it stays in a
git-ignored local copy, data/realnews/ko_wihae.tsv (or the folder named by
MEIYU_REALNEWS_DIR), and only the manifest nlp/data/realnews/ko_wihae.tsv (id, url, sense,
sha256, chars) is committed; every row is checked against it before it is measured. Without
the local copy that measurement is skipped with a message. The odd rows (rw001, rw003 …) are
the rows the rules were written on; the even rows, from other pages, were first measured as
held out (see nlp/data/README.md). --write-realnews-manifest rewrites the manifest from the
local copy (after a deliberate change to the set).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, get_args

from nlp.korean import AnalyserName
from nlp.relevance import chinese, korean
from nlp.resources import DATA

SETS = Path(__file__).resolve().parents[1] / "tests" / "data"
TERMS = {
    "a29": [["威海"], ["海鲜"]],
    "a68": [["刘公岛"], ["海洋文化"]],
    "a67": [["웨이하이", "위해시", "威海", "Weihai"]],
}
EVAL_FILE = DATA / "relevance_eval.json"
REALNEWS_SET = "ko_wihae"
SENSES = ("city", "harm", "for")


def _rows(name: str) -> list[dict[str, str]]:
    with (SETS / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def evaluate_korean(analyser: AnalyserName = "kiwi") -> dict[str, Any]:
    rows = _rows("ko_relevance.tsv")
    right = sum(
        int(korean(r["text"], TERMS["a67"], ["위해"], analyser).relevant) == int(r["relevant"])
        for r in rows
    )
    return {"n": len(rows), "relevance_accuracy": round(right / len(rows), 4)}


def korean_backends() -> dict[str, Any]:
    """Both Korean analysers on the same set: accuracy, and speed (sentences/s once warm; the
    first call, which loads Kiwi's model or starts Okt's JVM, is timed on its own)."""
    from nlp.korean import analyser as korean_analyser
    from nlp.korean import kiwi

    kiwi.cache_clear()  # time Kiwi's model load too, as Okt's JVM start is timed
    texts = [r["text"] for r in _rows("ko_relevance.tsv")]
    out: dict[str, Any] = {}
    for name in get_args(AnalyserName):
        t0 = time.perf_counter()
        korean_analyser(name).readings("위해")
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        for text in texts:
            korean(text, TERMS["a67"], ["위해"], name)
        rate = len(texts) / (time.perf_counter() - t1)
        out[name] = {
            **evaluate_korean(name),
            "startup_s": round(startup, 2),
            "sentences_per_s": round(rate, 1),
        }
    out["default"] = max(get_args(AnalyserName), key=lambda n: out[n]["relevance_accuracy"])
    return out


def evaluate_korean_real(
    analyser: AnalyserName = "kiwi", folder: str | Path | None = None
) -> dict[str, Any] | None:
    """Relevance on the real-news 위해 set (city → relevant, harm/for → not): overall, on the
    odd rows (the rules were written on them) and on the even rows (other pages). None when the
    local copy is absent; nlp.realnews.RealNewsError when it disagrees with the manifest."""
    from nlp import realnews

    if not realnews.available(REALNEWS_SET, folder):
        return None
    rows = realnews.load(REALNEWS_SET, folder)
    right = [
        korean(r.text, TERMS["a67"], ["위해"], analyser).relevant == (r.label == "city")
        for r in rows
    ]

    def part(flags: list[bool]) -> dict[str, Any]:
        return {"n": len(flags), "relevance_accuracy": round(sum(flags) / len(flags), 4)}

    return {
        **part(right),
        "pages": len({r.url for r in rows}),
        "senses": {s: sum(r.label == s for r in rows) for s in SENSES},
        "odd_rows": part(right[0::2]),
        "even_rows": part(right[1::2]),
    }


def write_realnews_manifest(folder: str | Path | None = None) -> Path:
    """nlp/data/realnews/ko_wihae.tsv from the local copy: id, url, sense, sha256 of the
    UTF-8 text, its length in characters."""
    from nlp import realnews

    path = realnews.local_dir(folder) / f"{REALNEWS_SET}.tsv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = realnews.MANIFESTS / f"{REALNEWS_SET}.tsv"
    lines = ["id\turl\tsense\tsha256\tchars"]
    for r in rows:
        if r["sense"] not in SENSES:
            raise ValueError(f"{path}: row {r['id']} has the sense {r['sense']!r}")
        digest = hashlib.sha256(r["text"].encode("utf-8")).hexdigest()
        lines.append(f"{r['id']}\t{r['url']}\t{r['sense']}\t{digest}\t{len(r['text'])}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


WINDOWS = (10, 15, 20, 30, 45, 60, 100, 300)


def choose_window() -> dict[str, Any]:
    """The co-occurrence window, chosen on the odd rows (tune) and reported on the even rows
    (held out), so the figure is not measured on what it was chosen by."""
    rows = _rows("zh_relevance.tsv")
    tune, held = rows[0::2], rows[1::2]

    def acc(part: list[dict[str, str]], w: int) -> float:
        ok = sum(
            int(chinese(r["text"], TERMS[r["indicator"]], window=w).relevant) == int(r["relevant"])
            for r in part
        )
        return ok / len(part)

    scores = {w: acc(tune, w) for w in WINDOWS}
    best = max(WINDOWS, key=lambda w: (scores[w], -w))
    return {
        "window_chars": best,
        "tune_accuracy": {str(w): round(a, 4) for w, a in scores.items()},
        "held_out_accuracy": round(acc(held, best), 4),
        "tune_rows": len(tune),
        "held_out_rows": len(held),
    }


def evaluate_chinese(window: int | None = None) -> dict[str, Any]:
    rows = _rows("zh_relevance.tsv")
    literal = relevant = 0
    for r in rows:
        result = chinese(r["text"], TERMS[r["indicator"]], window=window)
        literal += int(result.literal) == int(r["literal"])
        relevant += int(result.relevant) == int(r["relevant"])
    return {
        "n": len(rows),
        "literal_accuracy": round(literal / len(rows), 4),
        "relevance_accuracy": round(relevant / len(rows), 4),
    }


def main() -> None:
    from nlp.realnews import RealNewsError

    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--write-realnews-manifest", action="store_true")
    args = ap.parse_args()
    if args.write_realnews_manifest:
        print(f"wrote {write_realnews_manifest()}")
    try:
        real = evaluate_korean_real()
    except RealNewsError as exc:
        print(f"error: the real-news set: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    if real is None:
        print(f"{REALNEWS_SET}: no local copy of the real-news set, skipped", file=sys.stderr)
    else:
        print(json.dumps({"ko_a67_realnews": real}, indent=1))
    figures = {
        "ko_a67": evaluate_korean(),
        "zh_a29_a68": evaluate_chinese(),
        "zh_window_choice": choose_window(),
        "ko_backends": korean_backends(),
    }
    if real is not None:
        figures["ko_a67_realnews"] = {**real, "measured_on": dt.date.today().isoformat()}
    elif EVAL_FILE.is_file():  # keep the last real-news measurement where there is no copy
        kept = json.loads(EVAL_FILE.read_text(encoding="utf-8")).get("ko_a67_realnews")
        if kept:
            figures["ko_a67_realnews"] = kept
    print(json.dumps(figures, indent=1))
    if args.write:
        EVAL_FILE.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
