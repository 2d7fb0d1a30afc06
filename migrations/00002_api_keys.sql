-- +goose Up
-- API keys, stored only as SHA-256 hashes of the plaintext (see domain/access).
CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    key_hash   bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    role       text NOT NULL CHECK (role IN ('storefront', 'admin')),
    storefront text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_keys_storefront_matches_role CHECK ((role = 'admin') = (storefront = ''))
);

CREATE INDEX orders_storefront_idx ON orders (storefront, id);

-- +goose Down
-- Forward-only.
