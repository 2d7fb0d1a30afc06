-- +goose Up
-- The simulated payment gateway's own record of calls (internal/gateway/simulated). It lives
-- here so that it survives a crash of the process that made the call, like a real gateway's.
CREATE TABLE gateway_sim_operations (
    idempotency_key    text PRIMARY KEY,
    operation          text NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
    order_id           text NOT NULL,
    authorization_id   text NOT NULL DEFAULT '',
    amount             bigint NOT NULL DEFAULT 0,
    currency           text NOT NULL DEFAULT '',
    outcome            text NOT NULL DEFAULT '' CHECK (outcome IN ('', 'approved', 'declined')),
    decline_reason     text NOT NULL DEFAULT '',
    transient_failures int NOT NULL DEFAULT 0,
    replays            int NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_sim_operations_auth_idx ON gateway_sim_operations (authorization_id, operation);

-- +goose Down
-- Forward-only.
