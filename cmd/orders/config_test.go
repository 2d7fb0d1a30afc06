package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	env := map[string]string{"HTTP_ADDR": "nope", "LOG_FORMAT": "xml", "RATE_LIMIT": "fast", "ORDERS_BOOTSTRAP_KEYS": "admin::ordk_secretbutshort", "INBOX_RETENTION": "24h",
		"GROUP_COMMIT_MAX": "0", "GROUP_COMMITTERS": "10"} // 4 × 10 connections: over half of DB_MAX_CONNS' 40
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"api"}, func(k string) string { return env[k] }, &stderr, &stderr)
	if exitCode(err) != 2 {
		t.Fatalf("exit code %d (%v), want 2", exitCode(err), err)
	}
	for _, want := range []string{"HTTP_ADDR", "LOG_FORMAT", "RATE_LIMIT", "NATS_URL is required", "ORDERS_BOOTSTRAP_KEYS", "INBOX_RETENTION", "GROUP_COMMIT_MAX", "GROUP_COMMITTERS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ordk_secretbutshort") {
		t.Error("the error repeats a key")
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "db")
	if err := os.WriteFile(file, []byte("postgres://u:p@h/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("run", nil, func(k string) string { return map[string]string{"DATABASE_URL_FILE": file}[k] }, &bytes.Buffer{})
	if err != nil || cfg.DatabaseURL != "postgres://u:p@h/db" {
		t.Fatalf("DATABASE_URL_FILE: %q, %v", cfg.DatabaseURL, err)
	}
	both := map[string]string{"DATABASE_URL_FILE": file, "DATABASE_URL": "postgres://x/y"}
	if _, err := parseConfig("run", nil, func(k string) string { return both[k] }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("DATABASE_URL and DATABASE_URL_FILE: %v, want an error", err)
	}
	missing := map[string]string{"NATS_PASSWORD_FILE": filepath.Join(dir, "absent")}
	if _, err := parseConfig("run", nil, func(k string) string { return missing[k] }, &bytes.Buffer{}); err == nil {
		t.Error("a missing secret file was accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve"}, func(string) string { return "" }, &out, &out); exitCode(err) != 2 || !strings.Contains(out.String(), "usage") {
		t.Errorf("unknown command: %v, %q", err, out.String())
	}
	if err := run(context.Background(), nil, func(string) string { return "" }, &out, &out); exitCode(err) != 2 {
		t.Errorf("no command: %v", err)
	}
}
