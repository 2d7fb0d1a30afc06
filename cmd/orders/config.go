package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopflow/orders/domain/access"
	"github.com/shopflow/orders/internal/broker"
)

// Config is everything a process needs, from flags over environment over defaults.
type Config struct {
	Command         string
	HTTPAddr        string
	AdminAddr       string
	DatabaseURL     string
	NATSURL         string
	NATSListen      string
	DataDir         string
	Roles           []string
	LogFormat       string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
	InboxRetention  time.Duration // longer than any stream keeps a message
	Concurrency     int
	// GroupCommitMax and GroupCommitters size the store's group commit (postgres.GroupConfig).
	GroupCommitMax  int
	GroupCommitters int

	// MigrateDatabaseURL, when set, is the role that creates the database and applies
	// migrations; DatabaseURL then needs no DDL rights (see README, "Least privilege").
	MigrateDatabaseURL string
	BootstrapKeys      string // role:storefront:key,... (a secret)
	AuthCacheTTL       time.Duration
	ReadHeaderTimeout  time.Duration // a client that has not sent its headers by then is cut off
	RateLimit          float64       // requests per second per API key; 0 turns limiting off
	RateBurst          int
	NATS               NATSAuth
	NATSReplicas       int // stream replicas: 1 on one node, 3 (or 5) in a cluster
	DBMaxConns         int32
	Pprof              bool // serve /debug/pprof on the admin address
	Payment            PaymentConfig
	Webhooks           WebhookConfig
}

// PaymentConfig chooses the payment gateway and says how long orders may rest in a status.
type PaymentConfig struct {
	Gateway        string // simulated or stripe
	StripeAPIKey   string // a secret
	StripeBaseURL  string // empty: Stripe itself; stripe-mock in tests
	SimLatency     time.Duration
	SimFailureRate float64
	// SimExitAfterCaptures is fault injection for crash tests: the process exits right after the
	// simulated gateway recorded that many captures, before the caller commits.
	SimExitAfterCaptures int
	ReservationTTL       time.Duration
	StuckAfter           time.Duration
	SweepInterval        time.Duration
}

// NATSAuth holds how to authenticate to an external NATS server, and its TLS settings.
type NATSAuth struct {
	User, Password, Token              string
	CredsFile, NKeySeedFile            string
	TLSCAFile, TLSCertFile, TLSKeyFile string
}

var knownRoles = []string{"inventory", "payment", "relay", "reporting", "sweeper", "notifier"}

func parseConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := Config{Command: cmd}
	var errs []error
	secret := func(name, def string) string {
		v, err := secretEnv(getenv, name, def)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	fs := flag.NewFlagSet("orders "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.HTTPAddr, "http-addr", env("HTTP_ADDR", ":8080"), "API address (HTTP_ADDR)")
	fs.StringVar(&c.AdminAddr, "admin-addr", env("ADMIN_ADDR", ":8081"), "address of /metrics, /livez, /readyz (ADMIN_ADDR)")
	// Secrets come from the environment or from NAME_FILE, never from flags, which show in ps.
	c.DatabaseURL = secret("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders?sslmode=disable")
	c.MigrateDatabaseURL = secret("MIGRATE_DATABASE_URL", "")
	c.BootstrapKeys = secret("ORDERS_BOOTSTRAP_KEYS", "")
	c.Payment = PaymentConfig{
		Gateway: env("PAYMENT_GATEWAY", "simulated"), StripeAPIKey: secret("STRIPE_API_KEY", ""),
		StripeBaseURL:        env("STRIPE_BASE_URL", ""),
		SimLatency:           durationEnv(getenv, "SIM_GATEWAY_LATENCY", 0, &errs),
		SimFailureRate:       floatEnv(getenv, "SIM_GATEWAY_FAILURE_RATE", 0, &errs),
		SimExitAfterCaptures: int(floatEnv(getenv, "SIM_GATEWAY_EXIT_AFTER_CAPTURES", 0, &errs)),
		ReservationTTL:       durationEnv(getenv, "RESERVATION_TTL", 15*time.Minute, &errs),
		StuckAfter:           durationEnv(getenv, "STUCK_AFTER", 5*time.Minute, &errs),
		SweepInterval:        durationEnv(getenv, "SWEEP_INTERVAL", 5*time.Second, &errs),
	}
	c.NATS = NATSAuth{
		User: env("NATS_USER", ""), Password: secret("NATS_PASSWORD", ""), Token: secret("NATS_TOKEN", ""),
		CredsFile: env("NATS_CREDS_FILE", ""), NKeySeedFile: env("NATS_NKEY_SEED_FILE", ""),
		TLSCAFile: env("NATS_TLS_CA_FILE", ""), TLSCertFile: env("NATS_TLS_CERT_FILE", ""), TLSKeyFile: env("NATS_TLS_KEY_FILE", ""),
	}
	fs.StringVar(&c.NATSURL, "nats-url", env("NATS_URL", ""), "NATS server; empty: embedded JetStream server (NATS_URL)")
	fs.StringVar(&c.NATSListen, "nats-listen", env("NATS_LISTEN", ""), "address for the embedded server to accept other processes on; empty: in-process only (NATS_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", env("DATA_DIR", "./data"), "embedded JetStream storage (DATA_DIR)")
	roles := fs.String("roles", env("WORKER_ROLES", strings.Join(knownRoles, ",")), "worker roles, comma-separated: "+strings.Join(knownRoles, ",")+" (WORKER_ROLES)")
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", "auto"), "json, text, or auto: text on a terminal, json otherwise (LOG_FORMAT)")
	level := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to finish in-flight work on SIGTERM")
	fs.DurationVar(&c.InboxRetention, "inbox-retention", durationEnv(getenv, "INBOX_RETENTION", 31*24*time.Hour, &errs), "how long a consumer remembers a message it applied; longer than the streams keep messages (INBOX_RETENTION)")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "messages each consumer handles at once, at least; with group commit on, max(-concurrency, -group-commit-max)")
	// With grouping off every message in flight may hold a connection while its step waits on
	// the payment gateway: 4 consumers × -concurrency, plus the API, relay, sweeper and metrics.
	dbMax := fs.Int("db-max-conns", int(floatEnv(getenv, "DB_MAX_CONNS", 40, &errs)), "PostgreSQL connections per process; with -group-commit-max 1, at least 4 × -concurrency + 8 (DB_MAX_CONNS)")
	fs.IntVar(&c.GroupCommitMax, "group-commit-max", int(floatEnv(getenv, "GROUP_COMMIT_MAX", 32, &errs)), "units of work committed in one PostgreSQL transaction at most; 1 turns group commit off (GROUP_COMMIT_MAX)")
	fs.IntVar(&c.GroupCommitters, "group-committers", int(floatEnv(getenv, "GROUP_COMMITTERS", 1, &errs)), "group-commit transactions of one kind of work open at once, each on a connection (GROUP_COMMITTERS)")
	fs.BoolVar(&c.Pprof, "pprof", getenv("ADMIN_PPROF") == "true", "serve /debug/pprof on the admin address (ADMIN_PPROF=true)")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", int(floatEnv(getenv, "NATS_REPLICAS", 1, &errs)), "replicas of each stream: 3 in a cluster (NATS_REPLICAS)")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", durationEnv(getenv, "HTTP_READ_HEADER_TIMEOUT", 5*time.Second, &errs), "time a client has to send its request headers (HTTP_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&c.AuthCacheTTL, "auth-cache-ttl", durationEnv(getenv, "AUTH_CACHE_TTL", 10*time.Second, &errs), "how long a key lookup is cached; a revocation takes effect within it (AUTH_CACHE_TTL)")
	fs.Float64Var(&c.RateLimit, "rate-limit", floatEnv(getenv, "RATE_LIMIT", 50, &errs), "requests per second per API key, 0 for none (RATE_LIMIT)")
	fs.IntVar(&c.RateBurst, "rate-burst", int(floatEnv(getenv, "RATE_BURST", 100, &errs)), "burst per API key (RATE_BURST)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, usageError("help requested")
		}
		return Config{}, usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return Config{}, usageError(fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	c.Roles = splitList(*roles)
	var werr error
	if c.Webhooks, werr = webhookConfig(getenv); werr != nil {
		errs = append(errs, werr)
	}
	c.DBMaxConns = int32(min(max(*dbMax, 0), 1000))
	if *dbMax < 2 || *dbMax > 1000 {
		errs = append(errs, fmt.Errorf("DB_MAX_CONNS %d: want 2 to 1000", *dbMax))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", *level))
	}
	if err := c.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, usageError("invalid configuration:\n" + err.Error())
	}
	c.DataDir = filepath.Clean(c.DataDir)
	return c, nil
}

// validate reports every problem at once.
func (c Config) validate() error {
	var errs []error
	for name, addr := range map[string]string{"HTTP_ADDR": c.HTTPAddr, "ADMIN_ADDR": c.AdminAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if c.NATSListen != "" {
		// The embedded server has no authentication: other processes on this machine only.
		host, _, err := net.SplitHostPort(c.NATSListen)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("NATS_LISTEN %q: must be a loopback address such as 127.0.0.1:4223 (the embedded server has no authentication); run nats-server for a fleet across machines", c.NATSListen))
		}
	}
	if c.NATSReplicas != 1 && c.NATSReplicas != 3 && c.NATSReplicas != 5 || (c.NATSURL == "" && c.NATSReplicas != 1) {
		errs = append(errs, fmt.Errorf("NATS_REPLICAS %d: want 1, 3 or 5, and 1 with the embedded server", c.NATSReplicas))
	}
	if _, err := pgx.ParseConfig(c.DatabaseURL); err != nil {
		errs = append(errs, errors.New("DATABASE_URL: cannot be parsed as a PostgreSQL URL")) // the URL may hold a password: not echoed
	}
	if _, err := pgx.ParseConfig(c.MigrateDatabaseURL); c.MigrateDatabaseURL != "" && err != nil {
		errs = append(errs, errors.New("MIGRATE_DATABASE_URL: cannot be parsed as a PostgreSQL URL"))
	}
	if _, err := access.ParseBootstrap(c.BootstrapKeys); err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_BOOTSTRAP_KEYS: %w", err))
	}
	switch {
	case c.Payment.Gateway != "simulated" && c.Payment.Gateway != "stripe":
		errs = append(errs, fmt.Errorf("PAYMENT_GATEWAY %q: want simulated or stripe", c.Payment.Gateway))
	case c.Payment.Gateway == "stripe" && c.Payment.StripeAPIKey == "":
		errs = append(errs, errors.New("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY or STRIPE_API_KEY_FILE"))
	}
	if c.Payment.SimFailureRate < 0 || c.Payment.SimFailureRate > 1 {
		errs = append(errs, errors.New("SIM_GATEWAY_FAILURE_RATE must be between 0 and 1"))
	}
	if c.Payment.ReservationTTL <= 0 || c.Payment.StuckAfter <= 0 || c.Payment.SweepInterval <= 0 {
		errs = append(errs, errors.New("RESERVATION_TTL, STUCK_AFTER and SWEEP_INTERVAL must be positive"))
	}
	if c.RateLimit < 0 || c.RateBurst < 1 || c.AuthCacheTTL < 0 || c.ReadHeaderTimeout <= 0 {
		errs = append(errs, errors.New("RATE_LIMIT must be ≥ 0, RATE_BURST ≥ 1, AUTH_CACHE_TTL ≥ 0 and HTTP_READ_HEADER_TIMEOUT > 0"))
	}
	if c.NATSURL == "" && (c.Command == "api" || c.Command == "worker") {
		errs = append(errs, fmt.Errorf("NATS_URL is required for %q (only \"run\" embeds a server)", c.Command))
	}
	for _, r := range c.Roles {
		if !slices.Contains(knownRoles, r) {
			errs = append(errs, fmt.Errorf("role %q: want one of %s", r, strings.Join(knownRoles, ",")))
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" && c.LogFormat != "auto" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: want json, text or auto", c.LogFormat))
	}
	if longest := max(broker.DefaultCommandsMaxAge, broker.DefaultEventsMaxAge); c.InboxRetention <= longest {
		errs = append(errs, fmt.Errorf("INBOX_RETENTION %s: must exceed %s, the longest a stream keeps a message (a redelivery after the inbox forgot it would apply again)", c.InboxRetention, longest))
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("concurrency %d: want 1 to 1024", c.Concurrency))
	}
	if c.GroupCommitMax < 1 || c.GroupCommitMax > 1024 {
		errs = append(errs, fmt.Errorf("GROUP_COMMIT_MAX %d: want 1 to 1024", c.GroupCommitMax))
	}
	if c.GroupCommitters < 1 || c.GroupCommitters > 64 {
		errs = append(errs, fmt.Errorf("GROUP_COMMITTERS %d: want 1 to 64", c.GroupCommitters))
	} else if grouped := c.groupConnections(); c.DBMaxConns > 0 && int32(grouped) > c.DBMaxConns/2 {
		errs = append(errs, fmt.Errorf("GROUP_COMMITTERS %d: the groups' %d connections would take more than half of DB_MAX_CONNS %d", c.GroupCommitters, grouped, c.DBMaxConns))
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// groupConnections is how many connections group commit may hold at once: GROUP_COMMITTERS
// for each of the three kinds of grouped work, and max(2, GROUP_COMMITTERS) saga groups (none
// with grouping off).
func (c Config) groupConnections() int {
	if c.GroupCommitMax == 1 {
		return 3 * c.GroupCommitters
	}
	return 3*c.GroupCommitters + max(2, c.GroupCommitters)
}

// inFlight is how many messages each consumer handles at once. Every consumer's work commits
// in groups (the saga steps too), and a message waiting for its group holds no connection, so
// enough to fill a group: max(-concurrency, GROUP_COMMIT_MAX). With grouping off
// (GROUP_COMMIT_MAX=1) a payment step holds a connection across its gateway call, and
// -concurrency bounds them.
// At most 256 (a fetch asks for twice as many, under JetStream's default MaxAckPending of
// 1,000), however large the groups may be.
func (c Config) inFlight() int { return max(c.Concurrency, min(c.GroupCommitMax, 256)) }

// has reports whether this process runs a piece: run has all, api the API, worker its roles.
func (c Config) has(piece string) bool {
	switch c.Command {
	case "run":
		return true
	case "api":
		return piece == "api"
	default:
		return slices.Contains(c.Roles, piece)
	}
}

// migrateURL is the role migrations run as: MIGRATE_DATABASE_URL, or DATABASE_URL when unset.
func (c Config) migrateURL() string {
	if c.MigrateDatabaseURL != "" {
		return c.MigrateDatabaseURL
	}
	return c.DatabaseURL
}

// secretEnv reads name from the environment or, when NAME_FILE is set, from that file (one
// trailing newline removed). Setting both is an error, so a stale value cannot win silently.
func secretEnv(getenv func(string) string, name, def string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	case v != "":
		return v, nil
	default:
		return def, nil
	}
}

func durationEnv(getenv func(string) string, name string, def time.Duration, errs *[]error) time.Duration {
	v := getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a duration such as 10s", name, v))
		return def
	}
	return d
}

func floatEnv(getenv func(string) string, name string, def float64, errs *[]error) float64 {
	v := getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a number", name, v))
		return def
	}
	return f
}
