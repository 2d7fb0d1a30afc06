-- +goose Up
-- The payment gateway's hold on an order's funds, set when the order is authorized.
ALTER TABLE orders ADD COLUMN authorization_id text NOT NULL DEFAULT '';

-- +goose Down
-- Forward-only.
