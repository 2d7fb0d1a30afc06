// Command orders is the order-processing backend: one binary whose subcommands run the whole
// service in one process (run) or its pieces for fleets (api, worker), and operator tasks.
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
		fmt.Fprintln(os.Stderr, "orders:", err)
		stop()
		os.Exit(exitCode(err))
	}
}

const usage = `usage: orders <command> [flags]

commands:
  run       the API and every worker role in one process (embedded NATS when NATS_URL is unset)
  api       the HTTP API only (needs NATS_URL)
  worker    workers only, every role unless --roles names some of:
            inventory,payment,relay,reporting,sweeper,notifier (needs NATS_URL)
  migrate   create the database if missing and apply migrations, then exit
  keys      create, list and revoke API keys
  attention    resolve an order parked in needs_attention once its cause is fixed
  webhooks     list an endpoint's deliveries, redeliver one
  projections  rebuild the read side from the event store (safe while the service runs)
  deadletters  list the dead-letter stream, redrive messages to where they came from

Run "orders <command> -h" for the flags; each flag also reads the environment variable in its help.
Operator commands (keys, attention, projections) never migrate: run "orders migrate" first.`

// run is the composition root: it parses the command line and environment, wires the
// adapters and runs until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run", "api", "worker":
		cfg, err := parseConfig(cmd, rest, getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, getenv, stdout)
	case "migrate":
		cfg, err := parseConfig(cmd, rest, getenv, stderr)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg)
	case "keys":
		return keysCommand(ctx, rest, getenv, stdout, stderr)
	case "attention":
		return attentionCommand(ctx, rest, getenv, stdout, stderr)
	case "webhooks":
		return webhooksCommand(ctx, rest, getenv, stdout, stderr)
	case "projections":
		return projectionsCommand(ctx, rest, getenv, stdout, stderr)
	case "deadletters":
		return deadLettersCommand(ctx, rest, getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return usageError(fmt.Sprintf("unknown command %q", cmd))
	}
}

// usageError is a command-line misuse: exit code 2, like the flag package.
type usageError string

func (e usageError) Error() string { return string(e) }

func exitCode(err error) int {
	if _, ok := err.(usageError); ok {
		return 2
	}
	return 1
}
