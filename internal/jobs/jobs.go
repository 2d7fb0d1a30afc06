// Package jobs holds the periodic work of a worker process: the sweeper that drives orders no
// message will move any more, and the housekeeper that prunes the inbox. Each is a ticker over
// one call; a failed run is logged and tried again at the next tick.
package jobs

import (
	"context"
	"log/slog"
	"time"
)

// every runs fn at once and then every interval until ctx ends; it returns nil then. A failed
// run is logged as what, and tried again at the next tick.
func every(ctx context.Context, interval time.Duration, log *slog.Logger, what string, fn func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, what+" failed; retrying next run", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
