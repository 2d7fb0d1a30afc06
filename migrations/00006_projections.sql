-- +goose Up
-- The event store: every event, appended in the same transaction as the state change and the
-- outbox row, never deleted. Projections are rebuilt from it.
CREATE TABLE event_log (
    seq         bigserial PRIMARY KEY,
    message_id  text NOT NULL UNIQUE,
    name        text NOT NULL,
    order_id    uuid NOT NULL,
    version     int NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     bytea NOT NULL,
    UNIQUE (order_id, version)
);

-- Read side (internal/postgres/projections.go). Each order's events are applied in version
-- order: a projected order remembers the version it reached.
CREATE TABLE proj_orders (
    id           uuid PRIMARY KEY,
    storefront   text NOT NULL,
    customer_id  text NOT NULL,
    currency     char(3) NOT NULL,
    total        bigint NOT NULL,
    status       text NOT NULL,
    lines        jsonb NOT NULL,
    history      jsonb NOT NULL,
    accepted_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    confirmed_on date,
    version      int NOT NULL
);
CREATE INDEX proj_orders_storefront_idx ON proj_orders (storefront, id DESC);
CREATE INDEX proj_orders_storefront_status_idx ON proj_orders (storefront, status, id DESC);

CREATE TABLE proj_sales_daily (
    day      date NOT NULL,
    sku      text NOT NULL,
    currency char(3) NOT NULL,
    orders   bigint NOT NULL,
    units    bigint NOT NULL,
    revenue  bigint NOT NULL,
    PRIMARY KEY (day, sku, currency)
);

CREATE TABLE proj_status_counts (
    status text PRIMARY KEY,
    orders bigint NOT NULL
);

-- Units held for orders in flight and units sold, per SKU, as the events tell them.
CREATE TABLE proj_stock (
    sku      text PRIMARY KEY,
    reserved bigint NOT NULL,
    sold     bigint NOT NULL
);

-- How far each projection got in the event store (the highest seq applied) and when.
CREATE TABLE projection_checkpoints (
    projection text PRIMARY KEY,
    position   bigint NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
-- Forward-only.
