"""The JSON-lines contract of `meiyu nlp …`: {"id": …, "text": …} in, one line out per input.

Bad input is a user error naming its line number (exit 2), raised before anything is written,
so a caller never gets half an answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from kernel.errors import UserError


def read_requests(stream: TextIO) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"stdin line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("text"), str):
            raise UserError(f'stdin line {number}: expected {{"id": …, "text": "…"}}')
        rows.append(row)
    return rows


def write_lines(rows: Iterable[dict[str, Any]], stream: TextIO) -> None:
    for row in rows:
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def match_rows(
    rows: list[dict[str, Any]], language: str, all_of: list[list[str]], ambiguous: list[str]
) -> Iterator[dict[str, Any]]:
    from nlp.relevance import chinese, korean

    for row in rows:
        if language == "ko":
            result = korean(row["text"], all_of, ambiguous)
        else:
            result = chinese(row["text"], all_of)
        yield {
            "id": row["id"],
            "literal": result.literal,
            "relevant": result.relevant,
            "terms": result.terms,
        }
