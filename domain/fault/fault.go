// Package fault holds the error kinds that cross layers without belonging to one aggregate.
package fault

import "errors"

// ErrUnavailable marks a failure of a dependency (JetStream, PostgreSQL) that a client should
// retry later; the HTTP API answers 503 with Retry-After.
var ErrUnavailable = errors.New("temporarily unavailable")

// permanent marks an error that no retry can fix: the message goes to the dead letters.
type permanent struct{ err error }

func (p permanent) Error() string { return "permanent: " + p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that IsPermanent reports true: a message handler returns it for
// input that will never be processable (undecodable, invalid), so it is dead-lettered at once
// instead of being retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
