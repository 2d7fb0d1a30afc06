package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	domainpayment "github.com/shopflow/orders/domain/payment"
	"github.com/shopflow/orders/events"
	"github.com/shopflow/orders/handlers/inventory"
	"github.com/shopflow/orders/handlers/payment"
	"github.com/shopflow/orders/handlers/reporting"
	"github.com/shopflow/orders/internal/broker"
	"github.com/shopflow/orders/internal/jobs"
	"github.com/shopflow/orders/internal/messaging"
	"github.com/shopflow/orders/internal/postgres"
	"github.com/shopflow/orders/internal/relay"
	"github.com/shopflow/orders/internal/saga"
	"github.com/shopflow/orders/internal/telemetry"
)

// workers are the message-driven pieces: the watermill router, and the loops that run beside
// it (the sweeper, the housekeeper, the relay).
type workers struct {
	router      *message.Router
	relay       *relay.Relay
	loops       []func(context.Context) error
	subscribers []*messaging.Subscriber
	closing     atomic.Bool
	stopLoops   context.CancelFunc
	loopsDone   sync.WaitGroup
}

// deps are what the workers are built from.
type deps struct {
	cfg   Config
	store *postgres.Store
	gw    domainpayment.Gateway
	bus   *bus
	log   *slog.Logger
	reg   prometheus.Registerer
	pub   *broker.PublishMetrics
	tp    trace.TracerProvider
}

func newWorkers(d deps) (*workers, error) {
	w := &workers{}
	stats, err := saga.NewStats(d.reg)
	if err != nil {
		return nil, err
	}
	uc, err := saga.New(d.store, d.gw, d.log, stats, time.Now, saga.WithCaptureOnAuthorize())
	if err != nil {
		return nil, err
	}
	if d.cfg.has("inventory") || d.cfg.has("payment") || d.cfg.has("reporting") || d.cfg.has("notifier") {
		if err := w.addRouter(d); err != nil {
			return nil, err
		}
	}
	if d.cfg.has("inventory") {
		if err := w.addInventory(d, uc); err != nil {
			return nil, err
		}
	}
	if d.cfg.has("payment") || d.cfg.has("sweeper") {
		if err := w.addPayment(d, uc); err != nil {
			return nil, err
		}
	}
	if d.cfg.has("reporting") {
		h, err := reporting.NewHandler(d.store, d.log, d.reg)
		if err != nil {
			return nil, err
		}
		sub, err := w.subscriber(d, "reporting")
		if err != nil {
			return nil, err
		}
		w.handle(d, events.ConsumerReportingProjections, events.SubjectsEvents, sub, h.Event)
	}
	if d.cfg.has("notifier") {
		if err := w.addNotifier(d); err != nil {
			return nil, err
		}
	}
	if d.cfg.has("relay") {
		pub, err := broker.NewEnvelopePublisher(d.bus.js, broker.Timed(d.pub, "relay"), broker.Traced(d.tp))
		if err != nil {
			return nil, err
		}
		listen := func(ctx context.Context) (relay.Waiter, error) { return d.store.ListenOutbox(ctx) }
		atomic, err := broker.AtomicBatchesOn(context.Background(), d.bus.js, events.StreamEvents)
		if err != nil {
			return nil, err
		}
		if w.relay, err = relay.New(d.store, listen, pub, relay.Config{Atomic: atomic}, d.log, d.reg); err != nil {
			return nil, err
		}
		w.loops = append(w.loops, w.relay.Run)
	}
	return w, nil
}

func (w *workers) addRouter(d deps) error {
	dlqJS, err := d.bus.connect("dead-letters")
	if err != nil {
		return err
	}
	dlq, err := messaging.NewPublisher(dlqJS, watermill.NewSlogLogger(d.log))
	if err != nil {
		return err
	}
	w.router, err = messaging.NewRouter(messaging.RouterConfig{DeadLetterTopic: events.SubjectDeadLetters, CloseTimeout: d.cfg.ShutdownTimeout}, dlq, d.log, d.reg)
	return err
}

func (w *workers) addInventory(d deps, uc *saga.Service) error {
	h, err := inventory.NewHandler(uc, d.log)
	if err != nil {
		return err
	}
	sub, err := w.subscriber(d, "inventory")
	if err != nil {
		return err
	}
	w.handle(d, events.ConsumerInventoryPlaceOrder, events.SubjectPlaceOrder, sub, h.PlaceOrder)
	return nil
}

func (w *workers) addPayment(d deps, uc *saga.Service) error {
	if d.cfg.has("sweeper") {
		sweeper, err := jobs.NewSweeper(uc, d.store, jobs.SweepConfig{
			ReservationTTL: d.cfg.Payment.ReservationTTL, StuckAfter: d.cfg.Payment.StuckAfter, Interval: d.cfg.Payment.SweepInterval,
		}, d.log)
		if err != nil {
			return err
		}
		keeper, err := jobs.NewHousekeeper(d.store, jobs.HousekeepingConfig{InboxRetention: d.cfg.InboxRetention}, time.Now, d.log, d.reg)
		if err != nil {
			return err
		}
		w.loops = append(w.loops, sweeper.Run, keeper.Run)
	}
	if !d.cfg.has("payment") {
		return nil
	}
	h, err := payment.NewHandler(uc, d.log, messaging.FinalAttempt)
	if err != nil {
		return err
	}
	sub, err := w.subscriber(d, "payment")
	if err != nil {
		return err
	}
	w.handle(d, events.ConsumerPaymentStockReserved, events.EventSubject(events.NameStockReserved), sub, h.StockReserved)
	w.handle(d, events.ConsumerPaymentAuthorized, events.EventSubject(events.NamePaymentAuthorized), sub, h.PaymentAuthorized)
	w.handle(d, events.ConsumerPaymentCancelOrder, events.SubjectCancelOrder, sub, h.CancelOrder)
	return nil
}

// handle adds a consumer's handler to the router; each delivery runs in a consumer span that
// continues the message's trace (telemetry.Consume).
func (w *workers) handle(d deps, consumer, subject string, sub message.Subscriber, h message.NoPublishHandlerFunc) {
	w.router.AddConsumerHandler(consumer, subject, sub, telemetry.Consume(d.tp.Tracer(telemetry.ScopeName), consumer, subject, h))
}

// subscriber connects a subscriber whose consumers each handle Config.inFlight messages at once.
func (w *workers) subscriber(d deps, name string) (*messaging.Subscriber, error) {
	js, err := d.bus.connect(name)
	if err != nil {
		return nil, err
	}
	sub, err := messaging.NewSubscriber(js, messaging.SubscriberConfig{
		Resolve:      events.ResolveConsumer,
		Concurrency:  d.cfg.inFlight(),
		CloseTimeout: d.cfg.ShutdownTimeout,
		Logger:       watermill.NewSlogLogger(d.log),
	})
	if err != nil {
		return nil, err
	}
	w.subscribers = append(w.subscribers, sub)
	return sub, nil
}

// consumerRefs are the consumers whose backlog /metrics reports.
func consumerRefs() []broker.ConsumerRef {
	consumers := events.Consumers()
	out := make([]broker.ConsumerRef, len(consumers))
	for i, c := range consumers {
		out[i] = broker.ConsumerRef{Stream: c.Stream, Consumer: c.Durable}
	}
	return out
}

func (w *workers) start(ctx context.Context, g *errgroup.Group) {
	if w.router != nil {
		g.Go(func() error {
			err := w.router.Run(context.WithoutCancel(ctx))
			if err == nil && !w.closing.Load() {
				// A subscription ended (its consumer or stream was deleted): a process that
				// consumes nothing must not look healthy, so it exits and is restarted.
				return errors.New("message router stopped on its own: a subscription ended")
			}
			return err
		})
	}
	// The loops outlive the router so that what handlers committed still leaves.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.stopLoops = cancel
	for _, loop := range w.loops {
		w.loopsDone.Add(1)
		g.Go(func() error {
			defer w.loopsDone.Done()
			return loop(lctx)
		})
	}
}

// stop closes the router (it waits for handlers in flight), then gives the relay a moment to
// publish what they committed, then stops the loops.
func (w *workers) stop(ctx context.Context) error {
	w.closing.Store(true)
	var errs []error
	if w.router != nil {
		errs = append(errs, w.router.Close())
		for _, s := range w.subscribers {
			errs = append(errs, s.Close())
		}
	}
	if w.relay != nil {
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if w.stopLoops != nil {
		w.stopLoops()
		w.loopsDone.Wait()
	}
	return errors.Join(errs...)
}
