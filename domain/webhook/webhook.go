// Package webhook holds the rules of webhooks to storefronts: which URLs may be registered,
// which events an endpoint hears, what each delivery carries, how it is signed (Standard
// Webhooks) and when a failed one is tried again. It does no I/O.
package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopflow/orders/domain/order"
)

// Sentinel errors callers compare with errors.Is.
var (
	// ErrNotFound is returned for an endpoint or delivery that does not exist or that the caller
	// may not see.
	ErrNotFound = errors.New("webhook: not found")
	// ErrInvalid is returned for a URL or event list that breaks a rule.
	ErrInvalid = errors.New("webhook: invalid")
)

// FieldError is a rule a registration breaks, naming the field; errors.Is(err, ErrInvalid)
// holds for it.
type FieldError struct {
	Field, Detail string
}

func (e *FieldError) Error() string { return "webhook: invalid " + e.Field + ": " + e.Detail }

// Is makes a FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns a *FieldError for field, its detail formatted as fmt.Sprintf does.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// SecretPrefix starts every signing secret, as Standard Webhooks has it.
const SecretPrefix = "whsec_"

// RotationGrace is how long a rotated-out secret still signs deliveries.
const RotationGrace = 24 * time.Hour

// Policy is what the deployment allows: plain http and private addresses are for development
// and tests only.
type Policy struct {
	AllowInsecure bool // http:// URLs (WEBHOOK_ALLOW_INSECURE)
	AllowPrivate  bool // loopback, private, link-local and metadata addresses (WEBHOOK_ALLOW_PRIVATE)
}

// Endpoint is a registered receiver of one storefront.
type Endpoint struct {
	ID         string
	Storefront string
	URL        string
	Events     []string // empty: every event
	CreatedAt  time.Time
	DisabledAt *time.Time
}

// EventTypes are the events a storefront can hear: order.<status> for every status an order
// enters after pending.
func EventTypes() []string {
	return []string{"order.reserved", "order.authorized", "order.confirmed", "order.rejected",
		"order.cancelled", "order.refunded", "order.expired", "order.needs_attention"}
}

// EventType is the event an order entering status s is announced as; ok is false for pending.
func EventType(s order.Status) (string, bool) {
	t := "order." + string(s)
	return t, slices.Contains(EventTypes(), t)
}

// ValidateEvents checks that every name is a known event type and returns them sorted and
// without duplicates.
func ValidateEvents(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !slices.Contains(EventTypes(), n) {
			return nil, Invalid("events", "%q is not one of %s", n, strings.Join(EventTypes(), ", "))
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Wants reports whether an endpoint subscribed to events hears eventType.
func Wants(events []string, eventType string) bool {
	return len(events) == 0 || slices.Contains(events, eventType)
}

// ParseURL checks a URL to register: absolute, https unless the policy allows http, with a
// host and no credentials. Where it points is checked separately (CheckAddr), once resolved.
func ParseURL(raw string, p Policy) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, Invalid("url", "must be an absolute URL with a host")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowInsecure:
	default:
		return nil, Invalid("url", "must use https")
	}
	if u.User != nil {
		return nil, Invalid("url", "must not carry credentials")
	}
	if u.Fragment != "" || len(raw) > 2048 {
		return nil, Invalid("url", "must have no fragment and at most 2048 characters")
	}
	return u, nil
}

// metadata are cloud metadata addresses outside the ranges netip classifies.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT, Alibaba's metadata at 100.100.100.200
	netip.MustParsePrefix("fd00::/8"),       // unique local, AWS's fd00:ec2::254
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network": 0.0.0.0 reaches the host itself
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64, which maps onto IPv4 ones
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped: checked as their IPv4 form below
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, 169.254.169.254 among them
}

// CheckAddr refuses an address a webhook must not reach unless the policy allows private
// ones: loopback, private, link-local, multicast, unspecified and metadata ranges. It runs at
// registration on every resolved address, and again on the one each connection dials, which
// also covers a name that resolves elsewhere later (DNS rebinding).
func CheckAddr(a netip.Addr, p Policy) error {
	if p.AllowPrivate {
		return nil
	}
	a = a.Unmap()
	bad := !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified()
	for _, pfx := range metadata {
		bad = bad || pfx.Contains(a)
	}
	if bad {
		return Invalid("url", "resolves to %s, a private or reserved address", a)
	}
	return nil
}

// NewSecret returns a signing secret: the prefix and base64 of 32 bytes read from rnd.
func NewSecret(rnd io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// GenerateSecret is NewSecret from the system's random source.
func GenerateSecret() (string, error) { return NewSecret(rand.Reader) }

// Secrets are the secrets that sign an endpoint's deliveries: the current one, and the
// previous one until PreviousUntil after a rotation.
type Secrets struct {
	Current       string
	Previous      string
	PreviousUntil time.Time
}

// Active returns the secrets that sign a delivery sent at now, current first.
func (s Secrets) Active(now time.Time) []string {
	out := []string{s.Current}
	if s.Previous != "" && now.Before(s.PreviousUntil) {
		out = append(out, s.Previous)
	}
	return out
}

// Rotate returns the secrets after a rotation at now to next: the current one keeps signing
// for RotationGrace.
func (s Secrets) Rotate(next string, now time.Time) Secrets {
	return Secrets{Current: next, Previous: s.Current, PreviousUntil: now.Add(RotationGrace)}
}
