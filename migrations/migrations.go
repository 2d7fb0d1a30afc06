// Package migrations embeds the numbered, forward-only SQL migrations so the binary carries
// its schema. goose applies them (see internal/postgres).
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
