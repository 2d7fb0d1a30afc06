// Package access holds who may do what: API keys, their roles and the principal a request acts
// as. Keys are random, carry a recognisable prefix so that secret scanners find them in leaked
// text, and are only ever stored as a hash.
package access

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Role is what a key may do.
type Role string

// Roles. A storefront places, reads and cancels its own orders; an admin manages inventory,
// reports and every order, but places none (an order always belongs to a storefront).
const (
	RoleStorefront Role = "storefront"
	RoleAdmin      Role = "admin"
)

// KeyPrefix starts every key: grep for it, and register it with secret scanners.
const KeyPrefix = "ordk_"

// minKeyLength keeps bootstrap keys (chosen by automation, not generated) long enough to guess
// no faster than a generated one would be brute-forced through the rate limit.
const minKeyLength = len(KeyPrefix) + 32

// Sentinel errors callers compare with errors.Is.
var (
	// ErrUnauthenticated is returned for a missing, unknown or revoked key.
	ErrUnauthenticated = errors.New("access: unauthenticated")
	// ErrForbidden is returned when a known key's role may not do what it asked.
	ErrForbidden = errors.New("access: forbidden")
	// ErrInvalidKeySpec is returned for a malformed role, storefront or key.
	ErrInvalidKeySpec = errors.New("access: invalid key specification")
	// ErrKeyNotFound is returned when no key has the given id.
	ErrKeyNotFound = errors.New("access: key not found")
)

// Principal is who a request acts as.
type Principal struct {
	KeyID      string
	Role       Role
	Storefront string // empty for admins
}

// Key is a stored key: everything but the plaintext.
type Key struct {
	ID         string
	Role       Role
	Storefront string
	Hash       []byte
}

// Generate makes a new key from 32 random bytes (256 bits) read from rand, and a 16-hex-digit
// id to list and revoke it by. The plaintext is returned once and never stored.
func Generate(rand io.Reader, role Role, storefront string) (plaintext string, k Key, err error) {
	if err := ValidateSpec(role, storefront); err != nil {
		return "", Key{}, err
	}
	secret := make([]byte, 32)
	id := make([]byte, 8)
	if _, err := io.ReadFull(rand, secret); err != nil {
		return "", Key{}, fmt.Errorf("generate key: %w", err)
	}
	if _, err := io.ReadFull(rand, id); err != nil {
		return "", Key{}, fmt.Errorf("generate key id: %w", err)
	}
	plaintext = KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))
	return plaintext, Key{ID: hex.EncodeToString(id), Role: role, Storefront: storefront, Hash: Hash(plaintext)}, nil
}

// FromPlaintext builds the stored form of a key chosen elsewhere (ORDERS_BOOTSTRAP_KEYS). Its
// id is derived from the hash, so creating the same key twice finds the first.
func FromPlaintext(plaintext string, role Role, storefront string) (Key, error) {
	if err := ValidateSpec(role, storefront); err != nil {
		return Key{}, err
	}
	if !strings.HasPrefix(plaintext, KeyPrefix) || len(plaintext) < minKeyLength {
		return Key{}, fmt.Errorf("%w: a key starts with %q and has at least %d characters", ErrInvalidKeySpec, KeyPrefix, minKeyLength)
	}
	h := Hash(plaintext)
	return Key{ID: hex.EncodeToString(h[:8]), Role: role, Storefront: storefront, Hash: h}, nil
}

// Hash is how a key is stored and looked up. Keys carry 256 random bits, so a fast hash is
// enough: there is no dictionary to attack, unlike a password.
func Hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// ValidateSpec checks a role and storefront pair: a storefront key names its storefront, an
// admin key names none.
func ValidateSpec(role Role, storefront string) error {
	switch role {
	case RoleStorefront:
		if !validStorefront(storefront) {
			return fmt.Errorf("%w: storefront must be 1 to 64 characters of a-z, 0-9, '-' or '_'", ErrInvalidKeySpec)
		}
	case RoleAdmin:
		if storefront != "" {
			return fmt.Errorf("%w: an admin key belongs to no storefront", ErrInvalidKeySpec)
		}
	default:
		return fmt.Errorf("%w: role %q, want storefront or admin", ErrInvalidKeySpec, role)
	}
	return nil
}

func validStorefront(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// BootstrapEntry is one role:storefront:key entry of ORDERS_BOOTSTRAP_KEYS.
type BootstrapEntry struct {
	Role       Role
	Storefront string
	Key        string
}

// ParseBootstrap reads a comma-separated list of role:storefront:key entries (storefront empty
// for admin). Errors name the entry by position, never by its key.
func ParseBootstrap(s string) ([]BootstrapEntry, error) {
	var out []BootstrapEntry
	var errs []error
	for i, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		parts := strings.SplitN(raw, ":", 3)
		if len(parts) != 3 {
			errs = append(errs, fmt.Errorf("entry %d: want role:storefront:key", i+1))
			continue
		}
		e := BootstrapEntry{Role: Role(parts[0]), Storefront: parts[1], Key: parts[2]}
		if _, err := FromPlaintext(e.Key, e.Role, e.Storefront); err != nil {
			errs = append(errs, fmt.Errorf("entry %d: %w", i+1, err))
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

// Allows reports whether p may act with role need. For storefront routes, ownership of each
// order is checked separately (CanSee).
func (p Principal) Allows(need Role) bool { return p.Role == need }

// CanSee reports whether p may see an order placed by storefront: its own, or any for admins.
func (p Principal) CanSee(storefront string) bool {
	return p.Role == RoleAdmin || (p.Role == RoleStorefront && p.Storefront == storefront)
}
