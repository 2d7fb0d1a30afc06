// Command loadgen is a storefront simulator: it stocks SKUs, places orders at a constant rate
// or as fast as it can, retries idempotently on 503 and timeouts, follows every accepted order
// until it settles, and reports what it measured. --verify checks the invariants afterwards.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		stop()
		os.Exit(exitCode(err))
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bare" {
		return serveBare(ctx, args[1:], stderr)
	}
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	res, err := newRunner(cfg, stderr).run(ctx)
	if err != nil {
		return err
	}
	if cfg.verify {
		res.Verify = verify(ctx, cfg, res)
	}
	if err := report(stdout, cfg, res); err != nil {
		return err
	}
	if res.Verify != nil && !res.Verify.OK {
		return fmt.Errorf("verification failed: %v", res.Verify.Problems)
	}
	return nil
}

// usageError is a command-line misuse: exit code 2.
type usageError string

func (e usageError) Error() string { return string(e) }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}
