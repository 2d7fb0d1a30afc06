-- +goose Up
-- One trace per order (issue 14). An outbox event keeps the W3C trace context (traceparent,
-- tracestate, baggage) of the step that recorded it, so the relay's publish and every consumer
-- downstream continue that step's trace; NULL when the step had none. The order keeps the id of
-- the trace its intake continued, so an operator can go from an order to its trace.
-- Both are nullable additions without defaults: no table rewrite, no long lock.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS trace jsonb;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS trace_id text;

-- +goose Down
-- Forward-only.
