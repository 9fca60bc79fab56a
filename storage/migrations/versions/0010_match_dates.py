"""Matches carry their document's publication date, with an index in the items list's order
per indicator: the dashboard's list of an indicator's items (newest first, a page far down,
counted up to a cap) then reads one index range instead of walking every document by date and
probing its matches (167 ms → about 1 ms for a29 page 100 of a million documents).
storage.writes keeps the copy equal to documents.published_at.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_indicator_matches_listing"


def upgrade() -> None:
    with op.batch_alter_table("indicator_matches") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE indicator_matches SET published_at = "
        "(SELECT d.published_at FROM documents d WHERE d.id = indicator_matches.document_id)"
    )
    # PostgreSQL sorts NULLs first in a DESC index unless told; SQLite's NULLs are the
    # smallest value, last in DESC already, and it has no NULLS LAST in an index
    nulls = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.create_index(
        INDEX,
        "indicator_matches",
        ["indicator", sa.text(f"published_at DESC{nulls}"), sa.text("document_id DESC")],
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="indicator_matches")
    with op.batch_alter_table("indicator_matches") as batch:
        batch.drop_column("published_at")
