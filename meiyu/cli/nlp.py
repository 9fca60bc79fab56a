"""`meiyu nlp`: match, score and train on JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kernel.errors import UserError
from meiyu.cli import _common
from meiyu.cli._common import state
from meiyu.cli.audit import _audit_training_rows

if TYPE_CHECKING:
    from nlp.sentiment import Scorer


nlp_app = typer.Typer(no_args_is_help=True, help="Text analysis on JSON lines (stdin → stdout).")


@nlp_app.command("match")
def nlp_match(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key, e.g. a29.")],
) -> None:
    """Read {"id","text"} lines; write {"id","literal","relevant","terms"} lines."""
    from meiyu.jsonl import match_rows, read_requests, write_lines

    ind = state.config().indicator(indicator)
    rows = read_requests(sys.stdin)
    write_lines(match_rows(rows, ind.language, ind.all_of, ind.ambiguous), sys.stdout)


@nlp_app.command("sentiment")
def nlp_sentiment(
    lang: Annotated[str, typer.Option("--lang", help="ko or zh (its shipped model).")],
    model: Annotated[
        str | None, typer.Option("--model", help="Hugging Face model id or local path instead.")
    ] = None,
) -> None:
    """Read {"id","text"} lines; write {"id","label","scores"} lines (3 classes)."""
    from meiyu.jsonl import read_requests, write_lines

    if lang not in ("ko", "zh"):
        raise UserError(f"--lang: expected ko or zh, got {lang!r}")
    rows = read_requests(sys.stdin)
    scorer = _sentiment_model(model or lang)
    scored = scorer.predict([r["text"] for r in rows]) if rows else []
    write_lines(
        (
            {"id": r["id"], "label": s.label, "scores": s.scores}
            for r, s in zip(rows, scored, strict=True)
        ),
        sys.stdout,
    )


def _sentiment_model(name: str) -> Scorer:
    from nlp.sentiment import load

    try:
        return load(name)
    except OSError as exc:
        raise UserError(
            f"sentiment model {name!r} cannot be loaded: {exc}".splitlines()[0]
        ) from None


@nlp_app.command("train-sentiment")
def nlp_train_sentiment(
    lang: Annotated[str, typer.Option("--lang", help="ko or zh.")],
    data: Annotated[Path, typer.Option("--data", help="Review corpus folder (../shared/data/…).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Model folder to write.")],
    arch: Annotated[
        str,
        typer.Option(
            help="probe: a head on the frozen pretrained encoder (shipped); "
            "scratch: the small BERT trained from scratch."
        ),
    ] = "probe",
    epochs: Annotated[int, typer.Option(help="scratch only: passes over the rows.")] = 3,
    reviews: Annotated[
        int | None,
        typer.Option(help="Review rows sampled for training (probe 4000, scratch 60000)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 13,
    include_audit: Annotated[
        bool,
        typer.Option(
            "--include-audit", help="Add the audited items (the configured database) to training."
        ),
    ] = False,
) -> None:
    """Train a sentiment model (head on the pretrained encoder, or from scratch) and write it
    with its evaluation.json and MODEL_CARD.md."""
    if lang not in ("ko", "zh"):
        raise UserError(f"--lang: expected ko or zh, got {lang!r}")
    if arch not in ("probe", "scratch"):
        raise UserError(f"--arch: expected probe or scratch, got {arch!r}")
    if not data.is_dir():
        raise UserError(f"--data: {data} is not a folder")
    audit_rows = _audit_training_rows(lang) if include_audit else []
    if include_audit:
        _common.out.print(f"{len(audit_rows)} audited {lang} items added to the training rows")
    if arch == "probe":
        from nlp.encoder import EncoderError
        from nlp.train_probe import train as train_probe

        try:
            ev = train_probe(
                lang, data, out_dir, reviews=reviews or 4000, seed=seed, audit_rows=audit_rows
            )
        except EncoderError as exc:
            raise UserError(str(exc)) from None
    else:
        from nlp.train_sentiment import train

        ev = train(
            lang,
            data,
            out_dir,
            epochs=epochs,
            reviews=reviews or 60000,
            seed=seed,
            audit_rows=audit_rows,
        )
    keys = ("real_news", "domain_heldout", "review_test")
    _common.out.print(
        json.dumps(
            {
                k: {f: ev[k][f] for f in ("n", "accuracy", "macro_f1", "pos_vs_neg_accuracy")}
                for k in keys
                if k in ev
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    _common.out.print(f"model written: {out_dir} ({ev['training']['seconds']} s)")
