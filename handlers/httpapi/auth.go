package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shopflow/orders/domain/access"
)

// KeyLookup finds the principal of an active key by the key's hash; it returns an error
// wrapping access.ErrUnauthenticated for an unknown or revoked key.
type KeyLookup interface {
	LookupKey(ctx context.Context, hash []byte) (access.Principal, error)
}

// Authenticator turns an Authorization header into a principal. It caches answers (including
// "no such key") for a short TTL so that the write path does not pay a database round trip per
// request; a revocation therefore takes effect within that TTL.
type Authenticator struct {
	lookup  KeyLookup
	ttl     time.Duration
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]authEntry
}

type authEntry struct {
	p       access.Principal
	ok      bool
	expires time.Time
}

// maxAuthEntries bounds the cache; past it the cache starts over rather than grow without end
// under a flood of random keys.
const maxAuthEntries = 10_000

// NewAuthenticator returns an authenticator; ttl 0 disables the cache.
func NewAuthenticator(lookup KeyLookup, ttl time.Duration, now func() time.Time) (*Authenticator, error) {
	if lookup == nil || now == nil || ttl < 0 {
		return nil, errors.New("httpapi: NewAuthenticator needs a lookup, a clock and a TTL ≥ 0")
	}
	return &Authenticator{lookup: lookup, ttl: ttl, now: now, entries: map[string]authEntry{}}, nil
}

// Authenticate reads "Bearer <key>" and returns its principal, or an error wrapping
// access.ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (access.Principal, error) {
	scheme, key, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return access.Principal{}, fmt.Errorf("%w: want Authorization: Bearer <api key>", access.ErrUnauthenticated)
	}
	hash := access.Hash(strings.TrimSpace(key))
	id := hex.EncodeToString(hash)
	e, fresh := a.cached(id)
	if fresh {
		if !e.ok {
			return access.Principal{}, access.ErrUnauthenticated
		}
		return e.p, nil
	}
	p, err := a.lookup.LookupKey(ctx, hash)
	if err != nil && !errors.Is(err, access.ErrUnauthenticated) {
		if e.ok { // the database is away: a key known good a moment ago keeps working
			return e.p, nil
		}
		return access.Principal{}, err // not the client's fault: not cached
	}
	a.store(id, authEntry{p: p, ok: err == nil, expires: a.now().Add(a.ttl)})
	return p, err
}

// cached returns the entry for id, if any, and whether it is still fresh.
func (a *Authenticator) cached(id string) (authEntry, bool) {
	if a.ttl == 0 {
		return authEntry{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entries[id]
	return e, !e.expires.IsZero() && !a.now().After(e.expires)
}

func (a *Authenticator) store(id string, e authEntry) {
	if a.ttl == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) >= maxAuthEntries {
		a.entries = map[string]authEntry{}
	}
	a.entries[id] = e
}
