"""Indexes for the dashboard's items list on a large database: a narrow (id, published_at,
source_id) index for sorting a filter's documents; on PostgreSQL also one in the list's order
(published_at DESC NULLS LAST, id DESC) and a pg_trgm GIN index on titles, so that a search
of three or more characters need not read every row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
TRGM = "ix_documents_title_trgm"
OPS = "gin_trgm_ops"


def upgrade() -> None:
    op.create_index("ix_documents_listing", "documents", ["id", "published_at", "source_id"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.create_index(
        "ix_documents_recent",
        "documents",
        [sa.text("published_at DESC NULLS LAST"), sa.text("id DESC")],
    )
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it. Where
    # it is refused, the search still works, by reading every title.
    nested = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        bind.execute(
            sa.text(f"CREATE INDEX IF NOT EXISTS {TRGM} ON documents USING gin (title {OPS})")
        )
        nested.commit()
    except sa.exc.DBAPIError as exc:
        nested.rollback()
        log.warning("no trigram index on titles (the search reads every title): %s", exc.orig)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {TRGM}")
        op.drop_index("ix_documents_recent", table_name="documents")
    op.drop_index("ix_documents_listing", table_name="documents")
