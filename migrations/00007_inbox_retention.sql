-- +goose Up
-- Inbox rows are pruned once no stream can redeliver their message (handlers/housekeeping).
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);

-- +goose Down
-- Forward-only.
