package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopflow/orders/internal/broker"
)

const deadLettersUsage = `usage:
  orders deadletters list [-limit N]
  orders deadletters redrive SEQ [SEQ…]
  orders deadletters redrive -all

Reaches NATS at NATS_URL (with NATS_USER, NATS_PASSWORD… as for the service). For an
"orders run" with its embedded server, start it with NATS_LISTEN=127.0.0.1:4223 and set
NATS_URL=nats://127.0.0.1:4223 here.`

// deadLettersCommand lets an operator inspect the dead-letter stream and send messages back
// to where they came from once the cause is fixed.
func deadLettersCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		fmt.Fprintln(stderr, deadLettersUsage)
		return usageError("deadletters: want list or redrive")
	}
	fs := flag.NewFlagSet("orders deadletters "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	limit := fs.Int("limit", 100, "how many to list")
	all := fs.Bool("all", false, "redrive every dead letter")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	cfg, err := parseConfig("deadletters", nil, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.NATSURL == "" {
		fmt.Fprintln(stderr, deadLettersUsage)
		return usageError("deadletters needs NATS_URL")
	}
	nc, err := nats.Connect(cfg.NATSURL, natsAuthOptions(cfg.NATS)...)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		return listDeadLetters(ctx, js, *limit, stdout)
	}
	return redrive(ctx, js, fs.Args(), *all, stdout)
}

func listDeadLetters(ctx context.Context, js jetstream.JetStream, limit int, stdout io.Writer) error {
	dls, err := broker.ListDeadLetters(ctx, js, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tNAME\tORDER\tFROM\tREASON")
	for _, d := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.At.UTC().Format(time.RFC3339), orDash(d.Name), orDash(d.OrderID), orDash(d.Topic), d.Reason)
	}
	return tw.Flush()
}

func redrive(ctx context.Context, js jetstream.JetStream, seqs []string, all bool, stdout io.Writer) error {
	var targets []uint64
	if all {
		dls, err := broker.ListDeadLetters(ctx, js, 1<<30)
		if err != nil {
			return err
		}
		for _, d := range dls {
			targets = append(targets, d.Seq)
		}
	}
	for _, s := range seqs {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return usageError(fmt.Sprintf("deadletters redrive: %q is not a sequence number", s))
		}
		targets = append(targets, n)
	}
	if len(targets) == 0 {
		return usageError("deadletters redrive: give sequence numbers or -all")
	}
	for _, seq := range targets {
		if err := broker.Redrive(ctx, js, seq); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "redriven %d\n", seq)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
