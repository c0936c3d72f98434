package client

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// ErrDigestMismatch means downloaded bytes did not hash to their descriptor.
var ErrDigestMismatch = errors.New("digest mismatch")

// DigestError says which blob failed and what it hashed to. Path names the
// file of the model the blob was for, when known.
type DigestError struct {
	Path string
	Want digest.Digest
	Got  digest.Digest
	Size int64
}

func (e *DigestError) Error() string {
	what := string(e.Want)
	if e.Path != "" {
		what = e.Path
	}
	return fmt.Sprintf("%s: content does not match its digest: want %s, got %s (%d bytes)", what, e.Want, e.Got, e.Size)
}

func (e *DigestError) Unwrap() error { return ErrDigestMismatch }

// StatusError is an unexpected answer from the registry.
type StatusError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Body)
}
