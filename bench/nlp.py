"""Text-analysis throughput on this machine: literal matching vs the relevance check.

    .venv/bin/python bench/nlp.py [--repeat 3] [--sentences 2000] [--json bench/results.json]

Runs over the fixture world's article texts (Chinese for a29/a68, Korean for a67) and prints
documents/s and MB/s for the plan's literal match (the baseline, measured in the same run)
and for the relevance decision (jieba + rules for Chinese, Kiwi for Korean); then the shipped
sentiment models' sentences/s, beside the earlier from-scratch models in the same run, and,
for a67, documents/s of the analysis stage's own scoring
(the place's sentences picked with Kiwi, then the model, in batches as `meiyu analyze` does),
on the CPU with torch using every core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from results import record  # noqa: E402

from kernel.config import load_config  # noqa: E402
from meiyu.demo.fixturesite.corpus import Article, build_world  # noqa: E402
from nlp import relevance  # noqa: E402
from nlp.matching import match_all_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TERMS = {
    "a29": [["威海"], ["海鲜"]],
    "a68": [["刘公岛"], ["海洋文化"]],
    "a67": [["웨이하이", "위해시", "威海", "Weihai"]],
}


def rate(texts: list[str], fn: Callable[[str], object], repeat: int) -> tuple[float, float]:
    fn(texts[0])  # warm-up: dictionaries and models load once
    size = sum(len(t.encode("utf-8")) for t in texts) * repeat
    start = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            fn(text)
    seconds = time.perf_counter() - start
    return len(texts) * repeat / seconds, size / seconds / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=2000, help="Sentences per sentiment run.")
    ap.add_argument("--json", type=Path, help="Merge the figures into this results file.")
    args = ap.parse_args()
    world = build_world()
    zh = [a.full_text for a in world.articles if a.outlet.language == "zh"]
    ko = [a.full_text for a in world.articles if a.outlet.language == "ko"]
    results: dict[str, dict[str, float]] = {}
    cases = {
        "zh literal (a29)": (zh, lambda t: match_all_of(t, TERMS["a29"])),
        "zh relevance (a29, jieba + rules)": (zh, lambda t: relevance.chinese(t, TERMS["a29"])),
        "ko literal (a67)": (ko, lambda t: match_all_of(t, TERMS["a67"])),
        "ko relevance (a67, Kiwi)": (ko, lambda t: relevance.korean(t, TERMS["a67"], ["위해"])),
    }
    for name, (texts, fn) in cases.items():
        docs, mb = rate(texts, fn, args.repeat)
        results[name] = {"docs_per_s": round(docs, 1), "mb_per_s": round(mb, 3)}
        print(f"{name:38s} {docs:10.1f} docs/s {mb:8.3f} MB/s  ({len(texts)} documents)")
    from nlp.resources import MODELS
    from nlp.sentiment import load, set_threads, shipped

    threads = set_threads(None)
    for lang, texts in (("ko", ko), ("zh", zh)):
        if not shipped(lang):
            continue
        sentences = [p for t in texts for p in t.split("\n") if p][: args.sentences]
        rates = {}
        # The shipped model (pretrained encoder + head) beside the earlier from-scratch model.
        for name, model_path in (
            ("shipped model", lang),
            ("old from-scratch model", str(MODELS / f"{lang}-sentiment-scratch")),
        ):
            if name != "shipped model" and not Path(model_path).is_dir():
                continue
            model = load(model_path)
            model.predict(sentences[:64])
            start = time.perf_counter()
            model.predict(sentences, batch_size=64)
            rates[name] = len(sentences) / (time.perf_counter() - start)
            label = f"{lang} sentiment ({name}, batch 64)"
            results[label] = {"sentences_per_s": round(rates[name], 1)}
            print(f"{label:46s} {rates[name]:10.1f} sentences/s  ({len(sentences)} sentences)")
        if len(rates) == 2:
            ratio = rates["shipped model"] / rates["old from-scratch model"]
            results[f"{lang} sentiment shipped / old"] = {"ratio": round(ratio, 3)}
            print(f"{lang} sentiment: shipped model at {ratio:.3f}x the old model's speed")
    if shipped("ko"):
        docs, seconds = a67_documents(
            world_ko=[a for a in world.articles if a.outlet.language == "ko"]
        )
        results["ko sentiment (a67 documents: Kiwi + model)"] = {
            "docs_per_s": round(docs / seconds, 1)
        }
        print(
            f"{'ko sentiment (a67 documents: Kiwi + model)':46s} {docs / seconds:10.1f} docs/s"
            f"  ({docs} documents, torch threads {threads})"
        )
        docs, seconds = a67_documents(
            world_ko=[a for a in world.articles if a.outlet.language == "ko"],
            model_name=str(MODELS / "ko-sentiment-scratch"),
        )
        results["ko sentiment (a67 documents: Kiwi + old model)"] = {
            "docs_per_s": round(docs / seconds, 1)
        }
        print(
            f"{'ko sentiment (a67 documents: Kiwi + old model)':46s} {docs / seconds:10.1f} docs/s"
        )
    print(json.dumps(results, ensure_ascii=False))
    if args.json:
        params = {"repeat": args.repeat, "sentences": args.sentences, "torch_threads": threads}
        record(args.json, "nlp", results, params)


def a67_documents(world_ko: list[Article], model_name: str = "ko") -> tuple[int, float]:
    """The analysis stage's scoring of a67's items (pipelines.analyze, without the database):
    documents naming Weihai, in batches of `[nlp] batch_size`."""
    from nlp.sentiment import documents_sentiment, load
    from pipelines.analyze import place_sentences

    cfg = load_config(REPO / "meiyu.toml", env={})
    ind = cfg.indicators["a67"]
    docs = [a for a in world_ko if match_all_of(a.full_text, ind.all_of).matched]
    model = load(model_name)
    place_sentences(docs[0].full_text, ind)  # Kiwi and its user words load once
    batch = cfg.nlp.batch_size
    start = time.perf_counter()
    for i in range(0, len(docs), batch):
        chunk = docs[i : i + batch]
        documents_sentiment(
            model, [(a.title, place_sentences("\n".join(a.paragraphs), ind)) for a in chunk]
        )
    return len(docs), time.perf_counter() - start


if __name__ == "__main__":
    main()
