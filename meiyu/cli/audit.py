"""`meiyu audit`: the human audit of the sentiment labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kernel.config import parse_month
from kernel.errors import UserError
from meiyu.cli import _common
from meiyu.cli._common import _check_writable, _sessions, _show, state

audit_app = typer.Typer(no_args_is_help=True, help="Human audit of the sentiment labels.")


def _audit_training_rows(lang: str) -> list[tuple[str, str]]:
    from pipelines.audit import training_examples

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        return training_examples(cfg, s, lang)


@audit_app.command("sample")
def audit_sample(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key.")],
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM (local calendar).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Items at most.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same sample.")] = 0,
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help=".xlsx or .csv (default out/audit-…xlsx).")
    ] = None,
) -> None:
    """Write a month's items, stratified by the model's label, for a person to label."""
    from pipelines.audit import sample_month
    from reports.audit_file import write_audit_file

    cfg = state.config()
    cfg.indicator(indicator)
    year, mon = parse_month(month)
    path = out_path or Path("out") / f"audit-{indicator}-{month}.xlsx"
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise UserError(f"--out: expected a .xlsx or .csv file name, got {path.name!r}")
    _check_writable(path)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        sample = sample_month(cfg, s, indicator, year, mon, n, seed)
    write_audit_file(sample, path)
    drawn = ", ".join(f"{k} {v}" for k, v in sorted(sample.drawn.items())) or "nothing"
    _common.out.print(
        f"audit file written: {path} ({len(sample.items)} items: {drawn})",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("import")
def audit_import(
    file: Annotated[Path, typer.Argument(help="A filled-in audit file (.xlsx or .csv).")],
    annotator: Annotated[
        str | None, typer.Option(help="Annotator for rows that leave the column empty.")
    ] = None,
) -> None:
    """Store the human labels of a filled-in audit file: every row or none (model results are
    never changed)."""
    from pipelines.audit import import_rows
    from pipelines.audit_intake import read_audit_file

    cfg = state.config()
    columns, rows = read_audit_file(file)
    _, sessions = _sessions(cfg)
    got = import_rows(cfg, sessions, file, columns, rows, annotator)
    _common.out.print(
        f"imported {file.name}: {got.labelled} labelled rows ({got.new} new, {got.updated} "
        f"updated, {got.unchanged} unchanged), {got.skipped} rows without a label skipped",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("report")
def audit_report_cmd(
    indicator: Annotated[str, typer.Option("--indicator", "-i", help="Indicator key.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """The model's confusion matrix, accuracy and macro-F1 on the audited items, per model."""
    from pipelines.audit import AUDIT_MIN_ITEMS, audit_report
    from pipelines.correction import LABELS

    if fmt not in ("table", "json"):
        raise UserError(f"--format: expected table or json, got {fmt!r}")
    cfg = state.config()
    cfg.indicator(indicator)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        models = audit_report(cfg, s, indicator)
    if fmt == "json":
        doc = {
            "indicator": indicator,
            "labels": list(LABELS),
            "min_items_for_correction": AUDIT_MIN_ITEMS,
            "models": [
                {
                    "model_id": m.model_id,
                    "current": m.current,
                    "n": m.n,
                    "accuracy": round(m.accuracy, 4),
                    "macro_f1": round(m.macro_f1, 4),
                    "confusion": {"rows_gold_cols_pred": [list(r) for r in m.counts]},
                    "annotator_ties": m.ties,
                }
                for m in models
            ],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
        return
    if not models:
        _common.out.print(f"no audited {indicator} items yet (meiyu audit sample, then import)")
        return
    for m in models:
        table = Table(title=f"{indicator} · {m.model_id}" + (" (current)" if m.current else ""))
        table.add_column("human ↓ / model →")
        for label in LABELS:
            table.add_column(label, justify="right")
        for label, row in zip(LABELS, m.counts, strict=True):
            table.add_row(label, *(str(v) for v in row))
        _show(table)
        use = ""
        if m.current:
            later = "" if m.n >= AUDIT_MIN_ITEMS else f" from n = {AUDIT_MIN_ITEMS} on"
            use = "  · corrects the share" + later
        ties = f"  ({m.ties} items left out: annotators split evenly)" if m.ties else ""
        _common.out.print(
            f"n {m.n}  accuracy {m.accuracy:.3f}  macro-F1 {m.macro_f1:.3f}{ties}{use}",
            highlight=False,
            soft_wrap=True,
        )
