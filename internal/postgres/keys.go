package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/access"
)

// CreateKey stores k unless a key with the same hash exists; it reports whether it was new.
// A revoked key is not revived: creating it again leaves it revoked.
func (s *Store) CreateKey(ctx context.Context, k access.Key) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, key_hash, role, storefront) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key_hash) DO NOTHING`, k.ID, k.Hash, string(k.Role), k.Storefront)
	if err != nil {
		return false, fmt.Errorf("create key %s: %w", k.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// LookupKey returns the principal of an active key with this hash, or an error wrapping
// access.ErrUnauthenticated when there is none or it is revoked.
func (s *Store) LookupKey(ctx context.Context, hash []byte) (access.Principal, error) {
	var p access.Principal
	var role string
	err := s.pool.QueryRow(ctx, `SELECT id, role, storefront FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, hash).
		Scan(&p.KeyID, &role, &p.Storefront)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Principal{}, access.ErrUnauthenticated
	}
	if err != nil {
		return access.Principal{}, fmt.Errorf("look up key: %w", unavailable(err))
	}
	p.Role = access.Role(role)
	return p, nil
}

// KeyInfo is what `orders keys list` shows: never the hash.
type KeyInfo struct {
	ID         string
	Role       access.Role
	Storefront string
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, role, storefront, created_at, revoked_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (KeyInfo, error) {
		var k KeyInfo
		var role string
		err := r.Scan(&k.ID, &role, &k.Storefront, &k.CreatedAt, &k.RevokedAt)
		k.Role = access.Role(role)
		return k, err
	})
}

// RevokeKey revokes the key with id; it returns an error wrapping access.ErrKeyNotFound when
// there is none. Revoking twice is fine.
func (s *Store) RevokeKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %s: %w", id, access.ErrKeyNotFound)
	}
	return nil
}
