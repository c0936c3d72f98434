package oms

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"cairn.dev/cairn/verify"
)

// ErrMalformed is returned, wrapped, when model.sig is not an OMS
// signature: the bundle or its statement does not parse, has the wrong
// types, or breaks one of the package's limits. It is a refusal.
var ErrMalformed = fmt.Errorf("%w: malformed model signature", verify.ErrVerification)

// ErrUntrusted is returned, wrapped, when model.sig is well formed but its
// signature does not verify with any trusted key, certificate authority or
// keyless identity; the error says why for each.
var ErrUntrusted = fmt.Errorf("%w: signature does not verify", verify.ErrVerification)

// ErrModelMismatch is returned, wrapped (usually by a *MismatchError), when
// the signature verifies but the model on disk is not what was signed: a
// file changed, is missing, or is not covered, or the model holds a file
// that cannot be signed.
var ErrModelMismatch = fmt.Errorf("%w: model does not match its signature", verify.ErrVerification)

// ErrUnsupported is returned, wrapped, for a signature this package cannot
// check, such as one whose files were hashed with BLAKE2 or BLAKE3. It is
// not a verification failure: nothing was refused, nothing was checked.
var ErrUnsupported = errors.New("unsupported model signature")

// ErrUnsupportedFile is returned, wrapped in an *fs.PathError, for a path in
// a model that Serialize does not hash: a symlink (unless the serialization
// allows them), a symlink to a directory or out of the model, a device, a
// FIFO or a socket.
var ErrUnsupportedFile = errors.New("unsupported file type")

// ErrTooMany is returned, wrapped, when a model or a statement goes over
// MaxResources, MaxPathLength or MaxIgnorePaths.
var ErrTooMany = errors.New("over a limit of the model signature")

// Change is a signed resource whose digest on disk differs.
type Change struct {
	Name      string // the resource: a path, or path:start:end for a shard
	Algorithm string
	Signed    []byte // the digest in the signature
	Actual    []byte // the digest of the bytes on disk
}

// MismatchError lists how a model differs from its signature. It wraps
// ErrModelMismatch.
type MismatchError struct {
	Changed []Change
	Missing []string // signed, absent from the model
	Extra   []string // in the model, not covered by the signature
	Signed  int      // how many resources the signature covers
}

// maxListed is how many names of each kind MismatchError.Error lists.
const maxListed = 10

func (e *MismatchError) Error() string {
	var b strings.Builder
	unit := "resources"
	if e.Signed == 1 {
		unit = "resource"
	}
	fmt.Fprintf(&b, "%v (the signature covers %d %s)", ErrModelMismatch, e.Signed, unit)
	for i, c := range e.Changed {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more changed", len(e.Changed)-i)
			break
		}
		fmt.Fprintf(&b, "; %s changed: signed %s:%s, on disk %s:%s", c.Name, c.Algorithm, hex.EncodeToString(c.Signed), c.Algorithm, hex.EncodeToString(c.Actual))
	}
	list := func(what string, names []string) {
		for i, n := range names {
			if i == maxListed {
				fmt.Fprintf(&b, "; and %d more %s", len(names)-i, what)
				return
			}
			fmt.Fprintf(&b, "; %s %s", n, what)
		}
	}
	list("is signed but missing", e.Missing)
	list("is not covered by the signature (sign again, or ignore it)", e.Extra)
	return b.String()
}

// Unwrap returns ErrModelMismatch.
func (e *MismatchError) Unwrap() error { return ErrModelMismatch }
