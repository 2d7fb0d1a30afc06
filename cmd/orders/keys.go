package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/telemetry"
)

const keysUsage = `usage:
  orders keys create --role storefront --storefront <name>
  orders keys create --role admin
  orders keys list
  orders keys revoke <id>

The database comes from DATABASE_URL (or DATABASE_URL_FILE).`

// keysCommand manages API keys. A created key is printed once and stored only as a hash.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return usageError("keys: no subcommand given")
	}
	cfg, err := parseConfig("keys", nil, getenv, stderr)
	if err != nil {
		return err
	}
	open := func() (*postgres.Store, func(), error) {
		store, pool, err := openStore(ctx, cfg, telemetry.Off(), nil)
		if err != nil {
			return nil, nil, err
		}
		return store, pool.Close, nil
	}
	switch args[0] {
	case "create":
		return createKey(ctx, args[1:], open, stdout, stderr)
	case "list":
		if len(args) != 1 {
			return usageError("keys list takes no arguments")
		}
		store, done, err := open()
		if err != nil {
			return err
		}
		defer done()
		return listKeys(ctx, store, stdout)
	case "revoke":
		if len(args) != 2 {
			fmt.Fprintln(stderr, keysUsage)
			return usageError("keys revoke takes one key id")
		}
		store, done, err := open()
		if err != nil {
			return err
		}
		defer done()
		if err := store.RevokeKey(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", args[1])
		return nil
	default:
		fmt.Fprintln(stderr, keysUsage)
		return usageError(fmt.Sprintf("keys: unknown subcommand %q", args[0]))
	}
}

func createKey(ctx context.Context, args []string, open func() (*postgres.Store, func(), error), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orders keys create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "storefront or admin")
	storefront := fs.String("storefront", "", "the storefront a storefront key acts for")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("keys create: unexpected arguments %q", fs.Args()))
	}
	plaintext, k, err := access.Generate(rand.Reader, access.Role(*role), *storefront)
	if err != nil {
		return usageError(err.Error())
	}
	store, done, err := open()
	if err != nil {
		return err
	}
	defer done()
	if _, err := store.CreateKey(ctx, k); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "id:  %s\nkey: %s\n", k.ID, plaintext)
	fmt.Fprintln(stderr, "The key is shown once and stored only as a hash: keep it now.")
	return nil
}

func listKeys(ctx context.Context, store *postgres.Store, stdout io.Writer) error {
	keys, err := store.ListKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSTOREFRONT\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		sf := k.Storefront
		if sf == "" {
			sf = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, sf, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}
