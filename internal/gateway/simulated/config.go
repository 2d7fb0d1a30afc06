package simulated

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultTransientFailures is how often tok_chargeDeclinedProcessingError fails for one
// idempotency key when Config.TransientFailures is zero: twice, so that a test or a demo sees
// the retry path taken more than once before the approval.
const DefaultTransientFailures = 2

// ExitCode is the status Config.Exit receives when ExitAfterCaptures fires.
const ExitCode = 3

// Config tunes the simulated gateway. The zero value is a fast gateway that never fails
// except as its test tokens ask.
type Config struct {
	// Latency is added to every gateway call, as a network round trip would be.
	Latency time.Duration
	// FailureRate (0..1) is the chance that a call fails with payment.ErrTransient before it
	// reaches the record, for load tests of the retry paths.
	FailureRate float64
	// TransientFailures is how many times tok_chargeDeclinedProcessingError fails with
	// payment.ErrTransient for one idempotency key before it is approved. Zero means
	// DefaultTransientFailures; a negative value means it never fails.
	TransientFailures int
	// ExitAfterCaptures, when positive, is fault injection for crash tests: once this gateway
	// has committed its N-th capture, it calls Exit, as a process dying between the gateway
	// call and its caller's commit would. Zero turns it off.
	ExitAfterCaptures int
	// Exit ends the process for ExitAfterCaptures; nil means os.Exit.
	Exit func(code int)
}

// validate reports every problem of c at once.
func (c Config) validate() error {
	var errs []error
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %s is negative", c.Latency))
	}
	// The negated form also rejects NaN.
	if !(c.FailureRate >= 0 && c.FailureRate <= 1) {
		errs = append(errs, fmt.Errorf("failure rate %v is not within 0..1", c.FailureRate))
	}
	if c.ExitAfterCaptures < 0 {
		errs = append(errs, fmt.Errorf("exit after captures %d is negative", c.ExitAfterCaptures))
	}
	return errors.Join(errs...)
}

// withDefaults fills in the defaults the zero values stand for.
func (c Config) withDefaults() Config {
	switch {
	case c.TransientFailures == 0:
		c.TransientFailures = DefaultTransientFailures
	case c.TransientFailures < 0:
		c.TransientFailures = 0
	}
	if c.Exit == nil {
		c.Exit = os.Exit
	}
	return c
}
