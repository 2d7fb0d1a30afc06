package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/webhook"
)

// CreateWebhookEndpoint stores a new endpoint with its signing secret.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e webhook.Endpoint, secret string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, storefront, url, events, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.ID, e.Storefront, e.URL, nonNil(e.Events), secret, e.CreatedAt)
	if err != nil {
		return fmt.Errorf("create webhook endpoint: %w", unavailable(err))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const endpointColumns = `id, storefront, url, events, created_at, disabled_at`

func scanEndpoint(row pgx.Row) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	err := row.Scan(&e.ID, &e.Storefront, &e.URL, &e.Events, &e.CreatedAt, &e.DisabledAt)
	if len(e.Events) == 0 {
		e.Events = nil
	}
	return e, err
}

// ListWebhookEndpoints lists a storefront's endpoints, or every one for storefront "", oldest
// first. Secrets are never read.
func (s *Store) ListWebhookEndpoints(ctx context.Context, storefront string) ([]webhook.Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE $1 = '' OR storefront = $1 ORDER BY created_at, id`, storefront)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", unavailable(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Endpoint, error) { return scanEndpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", unavailable(err))
	}
	return out, nil
}

// GetWebhookEndpoint returns an endpoint, or an error wrapping webhook.ErrNotFound.
func (s *Store) GetWebhookEndpoint(ctx context.Context, id string) (webhook.Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return webhook.Endpoint{}, fmt.Errorf("webhook endpoint %s: %w", id, webhook.ErrNotFound)
	}
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("get webhook endpoint %s: %w", id, unavailable(err))
	}
	return e, nil
}

// DeleteWebhookEndpoint removes an endpoint and its delivery log.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook endpoint %s: %w", id, webhook.ErrNotFound)
	}
	return nil
}

// RotateWebhookSecret makes next the endpoint's secret; the one it replaces keeps signing
// until webhook.RotationGrace after now.
func (s *Store) RotateWebhookSecret(ctx context.Context, id, next string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints
		SET previous_secret = secret, previous_until = $3, secret = $2 WHERE id = $1`,
		id, next, now.Add(webhook.RotationGrace))
	if err != nil {
		return fmt.Errorf("rotate webhook secret of %s: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook endpoint %s: %w", id, webhook.ErrNotFound)
	}
	return nil
}

// EnableWebhookEndpoint enables a disabled endpoint: its waiting deliveries go at once.
func (s *Store) EnableWebhookEndpoint(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = NULL, failing_since = NULL WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("enable webhook endpoint %s: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook endpoint %s: %w", id, webhook.ErrNotFound)
	}
	_, err = s.pool.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $1 AND status = 'pending'`, id)
	if err != nil {
		return fmt.Errorf("enable webhook endpoint %s: %w", id, unavailable(err))
	}
	return nil
}

// WebhookBacklog reports the age of the oldest pending delivery to an enabled endpoint (0
// when none is pending) and how many endpoints are disabled.
func (s *Store) WebhookBacklog(ctx context.Context) (oldest time.Duration, disabled int, err error) {
	var secs float64
	err = s.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT extract(epoch FROM now() - min(d.requested_at)) FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL WHERE d.status = 'pending'), 0),
		(SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL)`).Scan(&secs, &disabled)
	if err != nil {
		return 0, 0, fmt.Errorf("webhook backlog: %w", unavailable(err))
	}
	return time.Duration(secs * float64(time.Second)), disabled, nil
}
