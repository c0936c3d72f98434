package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify"
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

// ModelError is a manifest or config that a registry served but that is
// not a model cairn can read (not an OCI image manifest, an unsafe path, a
// malformed ModelPack config...). It is a refusal: errors.Is(err,
// verify.ErrVerification) holds.
type ModelError struct {
	// Ref is the reference that named it.
	Ref string
	Err error
}

func (e *ModelError) Error() string { return e.Ref + ": " + e.Err.Error() }

// Unwrap returns verify.ErrVerification and the cause.
func (e *ModelError) Unwrap() []error { return []error{verify.ErrVerification, e.Err} }

// ErrUnauthorized means the registry wants a credential (or a better one):
// log in first.
var ErrUnauthorized = errors.New("unauthorized")

// ErrForbidden means the credential is good but does not allow the call,
// e.g. an admin API call by someone who is not an administrator.
var ErrForbidden = errors.New("forbidden")

// ErrStalled means a transfer received nothing for longer than the stall
// timeout (Remote.StallTimeout): the registry or its storage stopped
// answering. Test for it with errors.Is; the error is a *StallError.
var ErrStalled = errors.New("transfer stalled")

// StallError names the blob whose transfer stalled and how far it got.
type StallError struct {
	Digest digest.Digest
	// Got and Size are the bytes received and the blob's size.
	Got, Size int64
	// After is how long nothing arrived.
	After time.Duration
	// Attempts is how many times the transfer was tried.
	Attempts int
}

func (e *StallError) Error() string {
	return fmt.Sprintf("blob %s: no progress for %s at %d of %d bytes (%d attempts): the registry or its storage stopped answering", e.Digest, e.After, e.Got, e.Size, e.Attempts)
}

func (e *StallError) Unwrap() error { return ErrStalled }
