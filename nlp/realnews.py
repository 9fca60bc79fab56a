"""The real-news evaluation sets: sentences from public news pages, labelled by the team,
used to measure the models and never to train or tune them.

Third-party text stays out of the repository. `nlp/data/realnews/<set>.tsv` (committed) holds
per sentence the page address, the label, the sha256 of the exact text and its length; the
text itself sits in a local copy (`data/realnews/<set>.tsv`, git-ignored, or the folder named
by MEIYU_REALNEWS_DIR) with the same ids and a `text` column. Rows are checked against the
hashes when read, so a figure is always measured on exactly the sentences the manifest names.

    python -m nlp.realnews check [--dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nlp.resources import DATA

MANIFESTS = DATA / "realnews"
SETS = ("ko_sentiment", "zh_sentiment", "ko_wihae")
DEFAULT_LOCAL = Path("data") / "realnews"


class RealNewsError(ValueError):
    """The local copy disagrees with the manifest (one line naming the row)."""


@dataclass(frozen=True)
class Row:
    id: str
    url: str
    label: str  # sentiment label, or the sense of 위해 (city / harm / for)
    topic: str
    text: str


def local_dir(configured: str | Path | None = None) -> Path:
    return Path(configured or os.environ.get("MEIYU_REALNEWS_DIR") or DEFAULT_LOCAL)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def manifest(name: str) -> list[dict[str, str]]:
    return _read(MANIFESTS / f"{name}.tsv")


def available(name: str, folder: str | Path | None = None) -> bool:
    return (local_dir(folder) / f"{name}.tsv").is_file()


def load(name: str, folder: str | Path | None = None) -> list[Row]:
    """The set's rows with their text, each checked against the manifest's sha256 and length.
    FileNotFoundError when there is no local copy; RealNewsError when it disagrees."""
    path = local_dir(folder) / f"{name}.tsv"
    texts = {r["id"]: r for r in _read(path)}
    rows = []
    for m in manifest(name):
        local = texts.get(m["id"])
        if local is None:
            raise RealNewsError(f"{path}: row {m['id']} of the manifest is missing")
        text = local["text"]
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest != m["sha256"] or len(text) != int(m["chars"]):
            raise RealNewsError(f"{path}: row {m['id']} differs from the manifest's sha256")
        label = m.get("label") or m.get("sense") or ""
        rows.append(Row(m["id"], m["url"], label, m.get("topic", ""), text))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlp.realnews")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("--dir", help="folder of the local copy (default data/realnews)")
    args = parser.parse_args(argv)
    status = 0
    for name in SETS:
        if not (MANIFESTS / f"{name}.tsv").is_file():
            continue
        try:
            rows = load(name, args.dir)
        except FileNotFoundError:
            print(f"{name}: no local copy in {local_dir(args.dir)}")
            continue
        except RealNewsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        pages = len({r.url for r in rows})
        print(f"{name}: {len(rows)} rows from {pages} pages match the manifest")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
