"""Parquet for `meiyu export`: a fixed, typed schema (timestamps in UTC, lists and structs
as such) written one row group per batch, so a reader gets types, not strings."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.exports import SENTIMENT_CLASSES, Row, columns

_TIME = pa.timestamp("us", tz="UTC")
_MATCH_TYPES: list[tuple[str, pa.DataType]] = [
    ("indicator", pa.string()),
    ("definition_version", pa.string()),
    ("terms", pa.list_(pa.string())),
    ("literal", pa.bool_()),
    ("relevant", pa.bool_()),
    ("sentiment_model", pa.string()),
    ("sentiment_label", pa.string()),
    ("sentiment_score", pa.float64()),
    ("sentiment_probabilities", pa.struct([(c, pa.float64()) for c in SENTIMENT_CLASSES])),
    ("sentiment_evidence", pa.string()),
]
_DOCUMENT_TYPES: list[tuple[str, pa.DataType]] = [
    ("document_id", pa.int64()),
    ("url", pa.string()),
    ("source", pa.string()),
    ("source_kind", pa.string()),
    ("outlet", pa.string()),
    ("language", pa.string()),
    ("title", pa.string()),
    ("text", pa.string()),
    ("published_at", _TIME),
    ("fetched_at", _TIME),
    ("content_hash", pa.string()),
    ("feed_url", pa.string()),
    ("text_origin", pa.string()),
    ("crawl_run_id", pa.int64()),
    ("cluster_id", pa.int64()),
    (
        "mentions",
        pa.list_(
            pa.struct(
                [
                    ("source", pa.string()),
                    ("indicator", pa.string()),
                    ("query", pa.string()),
                    ("snippet", pa.string()),
                    ("found_at", _TIME),
                ]
            )
        ),
    ),
]


def arrow_schema(indicator: str | None, with_html: bool) -> pa.Schema:
    fields = list(_DOCUMENT_TYPES)
    fields += _MATCH_TYPES if indicator else [("indicators", pa.list_(pa.struct(_MATCH_TYPES)))]
    if with_html:
        fields.append(("html", pa.string()))
    schema = pa.schema(fields)
    assert schema.names == columns(indicator, with_html)
    return schema


_NO_STATISTICS = {"title", "text", "html", "mentions", "indicators", "sentiment_evidence", "url"}


# A row group is written when this many rows or bytes are buffered: few row groups keep the
# footer small (Parquet holds every row group's metadata in memory until the file is closed),
# the byte cap keeps the buffer bounded when texts are long.
ROW_GROUP_ROWS = 50_000
ROW_GROUP_BYTES = 64 << 20


class ParquetRows:
    """Row groups of up to 50,000 rows or 64 MB, against a fixed schema (an empty export still
    has its columns)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema
        # Min/max statistics only where they help a reader skip row groups, not on texts.
        stats = [n for n in schema.names if n not in _NO_STATISTICS]
        self.writer = pq.ParquetWriter(path, schema, compression="zstd", write_statistics=stats)
        self.pending: list[pa.Table] = []
        self.rows = self.bytes = 0

    def write(self, rows: list[Row]) -> None:
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self.pending.append(table)
        self.rows += table.num_rows
        self.bytes += table.nbytes
        if self.rows >= ROW_GROUP_ROWS or self.bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=self.rows)
        self.pending, self.rows, self.bytes = [], 0, 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.writer.close()
