package stripe

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one gateway call when Config.Timeout is zero. Stripe answers in well
// under a second; the rest is headroom that must stay below the payment consumer's AckWait.
const DefaultTimeout = 20 * time.Second

// Config says how to reach Stripe. It never prints its key: String, GoString and LogValue
// redact it, so a logged Config is safe.
type Config struct {
	// APIKey is the secret key (sk_test_… or sk_live_…, or a restricted rk_ key).
	APIKey string
	// BaseURL is empty for Stripe itself; tests point it at stripe-mock.
	BaseURL string
	// Timeout bounds each gateway call, the requests of its retries included. A call still
	// in flight when it passes has an unknown outcome. Zero means DefaultTimeout.
	Timeout time.Duration
	// Transport carries the HTTP requests; nil is http.DefaultTransport. The composition root
	// instruments it (a client span per request).
	Transport http.RoundTripper
}

// validate reports every problem of c at once.
func (c Config) validate() error {
	var errs []error
	if c.APIKey == "" {
		errs = append(errs, errors.New("empty API key"))
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL itself is not secret, but a parse error would repeat it; say what is
			// wanted instead.
			errs = append(errs, errors.New("base URL is not an absolute http(s) URL"))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// String describes c without its key.
func (c Config) String() string {
	return fmt.Sprintf("stripe.Config{APIKey:%s BaseURL:%q Timeout:%s}", redact(c.APIKey), c.BaseURL, c.Timeout)
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// LogValue describes c to slog without its key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("api_key", redact(c.APIKey)),
		slog.String("base_url", c.BaseURL),
		slog.Duration("timeout", c.Timeout),
	)
}

// redact keeps a key's kind (sk_test, rk_live…), which helps an operator, and drops its
// secret part.
func redact(key string) string {
	if key == "" {
		return `""`
	}
	for _, prefix := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_"} {
		if strings.HasPrefix(key, prefix) && len(key) > len(prefix) {
			return prefix + "[REDACTED]"
		}
	}
	return "[REDACTED]"
}
