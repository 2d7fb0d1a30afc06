package postgres

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/order"
)

// Collector reports, at scrape time, the pool's statistics, the outbox backlog and the age of
// its oldest event, and the age of the oldest order still in flight. Each scrape costs two
// indexed queries.
type Collector struct {
	store   *Store
	timeout time.Duration

	poolConns, poolMax, acquires, emptyAcquires, acquireSeconds *prometheus.Desc
	backlog, oldestOutbox, oldestInFlight, attention, up        *prometheus.Desc
	projPosition, projLagEvents, projLagSeconds                 *prometheus.Desc
	lag                                                         projectionLag
}

// scrapeTimeout bounds the reads of one scrape: below Prometheus' default scrape timeout
// (10 s), and long enough for a busy machine (2 s lost whole scrapes under load in tests).
const scrapeTimeout = 5 * time.Second

// NewCollector returns a collector over store's pool.
func NewCollector(store *Store) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{
		store: store, timeout: scrapeTimeout,
		poolConns:      d("orders_pgxpool_connections", "PostgreSQL pool connections by state.", "state"),
		poolMax:        d("orders_pgxpool_max_connections", "PostgreSQL pool size limit."),
		acquires:       d("orders_pgxpool_acquires_total", "Connections acquired from the pool."),
		emptyAcquires:  d("orders_pgxpool_empty_acquires_total", "Acquires that had to wait for a connection."),
		acquireSeconds: d("orders_pgxpool_acquire_seconds_total", "Time spent waiting to acquire connections."),
		backlog:        d("orders_outbox_backlog_events", "Events committed and not yet relayed to JetStream."),
		oldestOutbox:   d("orders_outbox_oldest_age_seconds", "Age of the oldest event waiting in the outbox (0 when empty)."),
		oldestInFlight: d("orders_order_oldest_in_flight_age_seconds", "Age of the oldest order in an intermediate status, by status (0 when none).", "status"),
		attention:      d("orders_orders_needing_attention", "Orders parked in needs_attention for an operator."),
		up:             d("orders_postgres_up", "1 when the last scrape's queries succeeded."),
		projPosition:   d("orders_projection_position", "Highest event-store sequence a projection applied.", "projection"),
		projLagEvents:  d("orders_projection_lag_events", "Events in the event store a projection has not applied.", "projection"),
		projLagSeconds: d("orders_projection_lag_seconds", "Age of the oldest event a projection has not applied (0 when caught up).", "projection"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.poolConns, c.poolMax, c.acquires, c.emptyAcquires, c.acquireSeconds, c.backlog, c.oldestOutbox, c.oldestInFlight, c.attention, c.up, c.projPosition, c.projLagEvents, c.projLagSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.poolConns, float64(st.AcquiredConns()), "acquired")
	gauge(c.poolConns, float64(st.IdleConns()), "idle")
	gauge(c.poolConns, float64(st.ConstructingConns()), "constructing")
	gauge(c.poolMax, float64(st.MaxConns()))
	counter(c.acquires, float64(st.AcquireCount()))
	counter(c.emptyAcquires, float64(st.EmptyAcquireCount()))
	counter(c.acquireSeconds, st.AcquireDuration().Seconds())

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var n int64
	var age float64
	err := c.store.pool.QueryRow(ctx, `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 FROM outbox`).Scan(&n, &age)
	if err == nil {
		gauge(c.backlog, float64(n))
		gauge(c.oldestOutbox, age)
		err = c.collectInFlight(ctx, gauge)
	}
	if err == nil {
		var n int64
		if err = c.store.pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = $1`, string(order.StatusNeedsAttention)).Scan(&n); err == nil {
			gauge(c.attention, float64(n)) // no sample rather than a false 0 when the query failed
		}
	}
	if err == nil {
		var lag lagState
		if lag, err = c.lag.collect(ctx, c.store); err == nil {
			gauge(c.projPosition, float64(lag.position), "orders")
			gauge(c.projLagEvents, float64(lag.events), "orders")
			gauge(c.projLagSeconds, lag.age, "orders")
		}
	}
	up := 1.0
	if err != nil {
		up = 0
	}
	gauge(c.up, up)
}

// inFlight lists the statuses an order passes through (the domain's InFlight), in lifecycle order.
func inFlight() []string {
	var out []string
	for _, s := range order.Statuses() {
		if s.InFlight() {
			out = append(out, string(s))
		}
	}
	return out
}

func (c *Collector) collectInFlight(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string)) error {
	rows, err := c.store.pool.Query(ctx, `SELECT s, COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(updated_at)) FROM orders WHERE status = s), 0)::float8
		FROM unnest($1::text[]) AS s`, inFlight())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var age float64
		if err := rows.Scan(&status, &age); err != nil {
			return err
		}
		gauge(c.oldestInFlight, age, status)
	}
	return rows.Err()
}
