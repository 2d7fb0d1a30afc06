package messaging

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/orders/domain/fault"
)

// DefaultGiveUpAfter is the default RouterConfig.GiveUpAfter, and the only place the number is
// written: a handler asks FinalAttempt, which reads the router's value, whether a failure now
// would be given up on (a cancel whose compensation keeps failing parks its order then).
const DefaultGiveUpAfter = 10

// RouterConfig tunes how handlers are run.
type RouterConfig struct {
	// DeadLetterTopic receives the messages handlers gave up on. Required.
	DeadLetterTopic string
	// CloseTimeout bounds how long Close waits for handlers in flight; default 30s.
	CloseTimeout time.Duration
	// Retries are in-process retries of a failing handler before the message is nacked
	// (and redelivered by JetStream after its back-off); default 3.
	Retries int
	// RetryInterval is the first in-process retry delay (doubling, capped at 1s); default 100ms.
	RetryInterval time.Duration
	// GiveUpAfter is the delivery attempt on which a message whose handler still fails is
	// dead-lettered; default DefaultGiveUpAfter. Errors wrapping fault.ErrUnavailable never
	// count against it: an outage of a dependency says nothing about the message, so such
	// messages are redelivered, at the subscriber's slowest NakDelays, until it ends.
	GiveUpAfter int
}

// NewRouter returns a watermill router whose handlers run inside, from outermost in:
// Prometheus metrics; a dead-letter stage (deadletter.go) that publishes messages whose error
// is permanent to cfg.DeadLetterTopic with their reason (metadata reason_poisoned, as watermill's
// PoisonQueue) and acks them, or nacks them if that publish fails; a stage that makes the
// error of a message permanent once its handler has failed GiveUpAfter deliveries, unless the
// error is an outage (fault.ErrUnavailable) (giveup.go); in-process retries with back-off for errors that are not
// permanent; panic recovery; correlation id propagation.
//
// orders_dead_letters_total{handler} counts what the dead-letter stage stored, from 0 for every
// handler added before Run.
//
// Subscribers feeding it should leave MaxDeliver unlimited (the default), so that only the
// router decides when a message is given up on.
func NewRouter(cfg RouterConfig, deadLetters *Publisher, log *slog.Logger, reg prometheus.Registerer) (*message.Router, error) {
	if deadLetters == nil || cfg.DeadLetterTopic == "" || log == nil || reg == nil {
		return nil, errors.New("messaging: NewRouter needs a dead-letter publisher and topic, a logger and a registerer")
	}
	if cfg.GiveUpAfter < 0 {
		return nil, fmt.Errorf("messaging: NewRouter: negative GiveUpAfter %d", cfg.GiveUpAfter)
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 100 * time.Millisecond
	}
	if cfg.GiveUpAfter == 0 {
		cfg.GiveUpAfter = DefaultGiveUpAfter
	}
	wlog := watermill.NewSlogLogger(log)
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, wlog)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	deadLettered := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orders_dead_letters_total",
		Help: "Messages sent to the dead-letter stream, by handler.",
	}, []string{"handler"})
	if err := reg.Register(deadLettered); err != nil {
		return nil, fmt.Errorf("register dead-letter metric: %w", err)
	}
	dlq := deadLetterer{pub: deadLetters, topic: cfg.DeadLetterTopic, count: deadLettered, log: log}
	r.AddPlugin(func(r *message.Router) error {
		// A counter appears only once a label is used: without a 0 for every handler,
		// increase() cannot see the first dead letter. The handlers are known when Run starts.
		for name := range r.Handlers() {
			deadLettered.WithLabelValues(name)
		}
		return nil
	})
	builder := metrics.NewPrometheusMetricsBuilder(reg, "orders", "watermill")
	builder.HandlerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	builder.AddPrometheusRouterMetrics(r)
	r.AddMiddleware(
		dlq.middleware,
		giveUpAfter(cfg.GiveUpAfter),
		middleware.Retry{
			MaxRetries: cfg.Retries, InitialInterval: cfg.RetryInterval, MaxInterval: time.Second,
			Multiplier: 2, RandomizationFactor: 0.2, Logger: wlog,
			ShouldRetry: func(p middleware.RetryParams) bool { return !fault.IsPermanent(p.Err) },
		}.Middleware,
		middleware.Recoverer,
		middleware.CorrelationID,
	)
	return r, nil
}
