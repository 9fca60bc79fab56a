"""Measure literal and relevance accuracy on the labelled sets under tests/data/.

    .venv/bin/python -m nlp.evaluate_relevance [--write]

--write stores the figures in nlp/data/relevance_eval.json, the floor the evaluation test
holds every later change to. `ko_backends` compares the two Korean analysers (Kiwi, Okt):
the more accurate is the default `[nlp] korean_analyser`; its speed figures are this
machine's at the time of writing, not a floor.
"""

from __future__ import annotations

import argparse
import csv
import json
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
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    figures = {
        "ko_a67": evaluate_korean(),
        "zh_a29_a68": evaluate_chinese(),
        "zh_window_choice": choose_window(),
        "ko_backends": korean_backends(),
    }
    print(json.dumps(figures, indent=1))
    if args.write:
        EVAL_FILE.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
