-- +goose Up
-- Stock levels. available is derived, so on_hand = available + reserved holds by construction;
-- the CHECKs make oversell impossible whatever the code does.
CREATE TABLE stock (
    sku        text PRIMARY KEY,
    on_hand    bigint NOT NULL CHECK (on_hand >= 0),
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    available  bigint GENERATED ALWAYS AS (on_hand - reserved) STORED,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_available_not_negative CHECK (on_hand - reserved >= 0)
);

CREATE TABLE orders (
    id            uuid PRIMARY KEY,
    storefront    text NOT NULL,
    customer_id   text NOT NULL,
    currency      char(3) NOT NULL,
    total         bigint NOT NULL CHECK (total >= 0),
    payment_token text NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'reserved', 'authorized', 'confirmed',
                      'rejected', 'cancelled', 'refunded', 'expired', 'needs_attention')),
    version       int NOT NULL CHECK (version >= 1),
    accepted_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX orders_status_idx ON orders (status);

CREATE TABLE order_lines (
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no    int NOT NULL,
    sku        text NOT NULL,
    quantity   bigint NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, line_no)
);

-- One row per transition: GET /v1/orders/{id} shows it as the order's history.
CREATE TABLE order_history (
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    version  int NOT NULL,
    status   text NOT NULL,
    reason   text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL,
    PRIMARY KEY (order_id, version)
);

-- Units held for an order in flight. The primary key makes a reservation applied twice fail.
CREATE TABLE reservations (
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    sku      text NOT NULL REFERENCES stock (sku),
    quantity bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);

-- Messages a consumer has applied, written in the same transaction as their effect.
CREATE TABLE inbox (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Events waiting for the relay. Rows are deleted once JetStream has stored them, so the relay
-- reads what is there rather than tracking an offset that a late commit could slip under.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    message_id     text NOT NULL,
    subject        text NOT NULL,
    name           text NOT NULL,
    order_id       uuid NOT NULL,
    correlation_id text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    payload        bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
-- Forward-only: the project never runs down migrations.
