package broker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerRef names a durable consumer on a stream.
type ConsumerRef struct{ Stream, Consumer string }

// Collector reports, at scrape time, each stream's message count (the dead-letter stream's
// is its depth) and each durable consumer's backlog as JetStream itself counts it.
type Collector struct {
	js        jetstream.JetStream
	streams   []string
	consumers []ConsumerRef
	timeout   time.Duration

	streamMsgs, pending, ackPending, redelivered, up *prometheus.Desc
}

// scrapeTimeout bounds the reads of one scrape: below Prometheus' default scrape timeout
// (10 s), and long enough for a busy machine (2 s lost whole scrapes under load in tests).
const scrapeTimeout = 5 * time.Second

// NewCollector returns a collector for the given streams and consumers.
func NewCollector(js jetstream.JetStream, streams []string, consumers []ConsumerRef) *Collector {
	return &Collector{
		js: js, streams: streams, consumers: consumers, timeout: scrapeTimeout,
		streamMsgs: prometheus.NewDesc("orders_jetstream_stream_messages", "Messages stored in a stream.", []string{"stream"}, nil),
		pending: prometheus.NewDesc("orders_jetstream_consumer_pending_messages",
			"Messages a durable consumer has not been delivered yet.", []string{"stream", "consumer"}, nil),
		ackPending: prometheus.NewDesc("orders_jetstream_consumer_ack_pending_messages",
			"Messages delivered to a durable consumer and not acknowledged yet.", []string{"stream", "consumer"}, nil),
		redelivered: prometheus.NewDesc("orders_jetstream_consumer_redelivered_messages",
			"Messages a durable consumer is handling for the second time or more.", []string{"stream", "consumer"}, nil),
		up: prometheus.NewDesc("orders_jetstream_up", "1 when the last scrape could read every stream and consumer.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.streamMsgs, c.pending, c.ackPending, c.redelivered, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	up := 1.0
	for _, name := range c.streams {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			up = 0
			continue
		}
		gauge(c.streamMsgs, float64(s.CachedInfo().State.Msgs), name)
	}
	for _, ref := range c.consumers {
		cons, err := c.js.Consumer(ctx, ref.Stream, ref.Consumer)
		if err != nil {
			up = 0 // not created yet (no worker has started) or JetStream is away
			continue
		}
		info := cons.CachedInfo()
		gauge(c.pending, float64(info.NumPending), ref.Stream, ref.Consumer)
		gauge(c.ackPending, float64(info.NumAckPending), ref.Stream, ref.Consumer)
		gauge(c.redelivered, float64(info.NumRedelivered), ref.Stream, ref.Consumer)
	}
	gauge(c.up, up)
}

// PublishMetrics times JetStream publishes, and counts the orders of the ingest's batches.
type PublishMetrics struct {
	seconds *prometheus.HistogramVec
	batch   prometheus.Histogram
}

// NewPublishMetrics registers the publish latency and ingest batch histograms on reg.
func NewPublishMetrics(reg prometheus.Registerer) (*PublishMetrics, error) {
	m := &PublishMetrics{seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "orders_jetstream_publish_duration_seconds",
		Help:    "Time until JetStream acknowledged a publish (of one or a batch of messages), by publisher.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"publisher"}), batch: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "orders_ingest_batch_orders",
		Help:    "Accepted orders per atomic batch the ingest stored in JetStream (one synced write each).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 100},
	})}
	for _, c := range []prometheus.Collector{m.seconds, m.batch} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveIngestBatch records a batch of orders orders (BatchIntakeConfig.Observe).
func (m *PublishMetrics) ObserveIngestBatch(orders int) { m.batch.Observe(float64(orders)) }
