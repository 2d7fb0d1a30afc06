-- +goose NO TRANSACTION
-- +goose Up
-- Inbox rows are pruned once no stream can redeliver their message (handlers/housekeeping).
-- Built concurrently: a plain CREATE INDEX would hold back every consumer's inbox insert for
-- as long as the build of a table never pruned before takes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at);

-- +goose Down
-- Forward-only.
