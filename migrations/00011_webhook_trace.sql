-- +goose Up
-- A webhook delivery keeps the W3C trace context of the notifier step that recorded it, so its
-- attempts are spans of the order's trace (issue 14); NULL when the step had none. A nullable
-- addition without a default: no table rewrite, no long lock.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS trace jsonb;

-- +goose Down
-- Forward-only.
