"""The identity of the topic each consumer group's stored offsets belong to.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE ingest_topics (
            group_id  text        NOT NULL,
            topic     text        NOT NULL,
            topic_id  text        NOT NULL,
            bound_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (group_id, topic)
        )
        """
    )
    op.execute("COMMENT ON TABLE ingest_topics IS 'The broker''s id of the topic whose offsets ingest_offsets holds "
               "for the group: a topic deleted and created again under the same name has another id, and its "
               "stored offsets are refused instead of skipping events.'")
    op.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lotline_ingest') THEN "
               "GRANT SELECT, INSERT ON ingest_topics TO lotline_ingest; END IF; END $$")


def downgrade() -> None:
    op.execute("DROP TABLE ingest_topics")
