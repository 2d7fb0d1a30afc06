-- +goose Up
-- Lets the metrics collector find the oldest order in each status without a scan.
CREATE INDEX orders_status_updated_idx ON orders (status, updated_at);
DROP INDEX orders_status_idx;

-- +goose Down
-- Forward-only.
