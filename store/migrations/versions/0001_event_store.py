"""The append-only event store and the ingest offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

EVENTS_DDL = """
CREATE TABLE events (
    position         bigint      PRIMARY KEY,
    recorded_at      timestamptz NOT NULL,
    event_key        text        NOT NULL,
    is_declaration   boolean     NOT NULL,
    event_id         text,
    event_type       text        NOT NULL,
    event_time       timestamptz NOT NULL,
    event_tz_offset  text        NOT NULL,
    biz_step         text,
    lot_keys         text[]      NOT NULL,
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    body             json        NOT NULL,
    row_hash         bytea       NOT NULL,
    CONSTRAINT events_identity UNIQUE (event_key, is_declaration)
)
"""

COMMENTS = {
    "events": "EPCIS events, append-only. UPDATE, DELETE and TRUNCATE are rejected by triggers; row_hash chains "
    "every row to the one before it (lotline store verify).",
    "events.position": "Global order: gapless, assigned under an advisory lock, commits in order.",
    "events.event_key": "Event identity: eventID, else the CBV 2.0 event hash ID.",
    "events.is_declaration": "True for an error declaration (same identity as the event it retracts).",
    "events.body": "The event as EPCIS 2.0 JSON-LD, stored byte for byte as written (json, not jsonb, so the "
    "hash chain covers the exact text).",
    "events.lot_keys": "Lots the event touches, as GTIN14/LOT.",
}

MUTATION_GUARD = """
CREATE FUNCTION lotline_reject_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event store is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'corrections are EPCIS error declarations, appended as new events';
END
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION lotline_reject_mutation();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION lotline_reject_mutation();
"""


def upgrade() -> None:
    op.execute(EVENTS_DDL)
    op.execute("CREATE INDEX events_lot_keys ON events USING gin (lot_keys)")
    op.execute("CREATE INDEX events_event_time ON events (event_time)")
    for target, text in COMMENTS.items():
        kind = "COLUMN" if "." in target else "TABLE"
        op.execute(f"COMMENT ON {kind} {target} IS '{text}'")
    op.execute(MUTATION_GUARD)
    op.execute(
        """
        CREATE TABLE ingest_offsets (
            group_id    text        NOT NULL,
            topic       text        NOT NULL,
            partition   integer     NOT NULL,
            next_offset bigint      NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (group_id, topic, partition)
        )
        """
    )
    op.execute("COMMENT ON TABLE ingest_offsets IS 'Next Kafka offset per partition, committed in the same "
               "transaction as the events it produced.'")


def downgrade() -> None:
    op.execute("DROP TABLE ingest_offsets")
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION lotline_reject_mutation()")
