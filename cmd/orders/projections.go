package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/shopflow/orders/internal/telemetry"
)

// projectionsCommand runs operator work on the read side: `orders projections rebuild`.
func projectionsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, "usage: orders projections rebuild\n\nRebuilds every projection from the event store aside, then swaps it in; safe while the\nservice runs, resumable after an interruption. The database comes from DATABASE_URL.")
		return usageError("projections: want rebuild")
	}
	cfg, err := parseConfig("projections", nil, getenv, stderr)
	if err != nil {
		return err
	}
	store, pool, err := openStore(ctx, cfg, telemetry.Off(), nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	err = store.RebuildProjections(ctx, 0, func(done, total int64) {
		fmt.Fprintf(stderr, "\rreplayed %d of %d events (%.0f%%)", done, total, 100*float64(done)/float64(max(total, 1)))
	})
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "projections rebuilt and swapped in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}
