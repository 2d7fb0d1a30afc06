-- +goose Up
-- Receivers a storefront registered. The secret signs deliveries, so it is stored as it is (a
-- hash could not sign); it is never listed nor logged. previous_secret signs too until
-- previous_until, so a receiver has a day to switch after a rotation.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    storefront      text NOT NULL,
    url             text NOT NULL,
    events          text[] NOT NULL DEFAULT '{}',
    secret          text NOT NULL,
    previous_secret text NOT NULL DEFAULT '',
    previous_until  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    failing_since   timestamptz, -- the first failed attempt since the last success
    disabled_at     timestamptz  -- set after DisableAfter of failures; nothing is sent until re-enabled
);
CREATE INDEX webhook_endpoints_storefront_idx ON webhook_endpoints (storefront, created_at);

-- The last order version the notifier planned deliveries for: each event message only says
-- "this order changed", and the order's history says what to announce, in version order,
-- whichever message arrives first.
CREATE TABLE webhook_order_cursors (
    order_id uuid PRIMARY KEY,
    version  int NOT NULL
);

-- One row per (endpoint, order version): recorded with the inbox row of the event that
-- revealed it, so a crash loses none. tries counts attempts since the last (re)delivery
-- request and picks the back-off; attempts numbers the log.
CREATE TABLE webhook_deliveries (
    seq             bigserial UNIQUE,
    id              text PRIMARY KEY,
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    order_id        uuid NOT NULL,
    version         int NOT NULL,
    event_type      text NOT NULL,
    payload         bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    tries           int NOT NULL DEFAULT 0,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    requested_at    timestamptz NOT NULL DEFAULT now(), -- created, or asked again (redeliver)
    finished_at     timestamptz,
    UNIQUE (endpoint_id, order_id, version)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (endpoint_id, seq);

CREATE TABLE webhook_attempts (
    delivery_id text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     int NOT NULL,
    at          timestamptz NOT NULL,
    duration_ms int NOT NULL,
    http_status int,
    error       text NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
-- Forward-only.
