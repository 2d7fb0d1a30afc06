-- +goose NO TRANSACTION
-- +goose Up
-- A CREATE INDEX CONCURRENTLY that is interrupted (or fails) leaves an INVALID index under its
-- name: never used by queries, still updated by every insert. 00007 then finds the name taken
-- (IF NOT EXISTS), is recorded as applied, and the index stays invalid for good. Set an
-- invalid one aside (a rename only, the one step that needs PL/pgSQL's IF), drop it without
-- blocking writers, and build it again. Every step may run again: an interruption anywhere
-- leaves this migration unrecorded, and the next start repeats it.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('inbox_processed_at_idx') AND NOT indisvalid) THEN
        ALTER INDEX inbox_processed_at_idx RENAME TO inbox_processed_at_idx_invalid;
    END IF;
END
$$;
-- +goose StatementEnd
DROP INDEX CONCURRENTLY IF EXISTS inbox_processed_at_idx_invalid;
CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at);

-- +goose Down
-- Forward-only.
