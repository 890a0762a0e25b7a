-- The least-privilege role for `lotline ingest` (docs/store.md).
-- It may read and append events and record consumed offsets; it can never change or remove an event
-- (no UPDATE/DELETE/TRUNCATE privilege on events; the triggers reject them for every role besides).
-- Run as the database owner after `lotline db upgrade`, e.g.:
--   psql "$DB" -v password="$LOTLINE_INGEST_PASSWORD" -f deploy/sql/ingest-role.sql
CREATE ROLE lotline_ingest LOGIN PASSWORD :'password';
GRANT USAGE ON SCHEMA public TO lotline_ingest;
GRANT SELECT, INSERT ON events TO lotline_ingest;
GRANT SELECT, INSERT, UPDATE ON ingest_offsets TO lotline_ingest;
GRANT SELECT, INSERT ON ingest_topics TO lotline_ingest;
