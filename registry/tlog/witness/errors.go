package witness

import (
	"errors"
	"fmt"
)

var (
	// ErrBadRequest means an add-checkpoint request could not be parsed
	// or is larger than its limits (400).
	ErrBadRequest = errors.New("witness: bad request")
	// ErrUnknownLog means the witness knows no log of the checkpoint's
	// origin (404).
	ErrUnknownLog = errors.New("witness: unknown log")
	// ErrSignature means the checkpoint is not signed by a key the witness
	// knows for its origin (403).
	ErrSignature = errors.New("witness: checkpoint not signed by the log")
	// ErrProof means the consistency proof does not prove that the
	// checkpoint extends the last one the witness cosigned (422).
	ErrProof = errors.New("witness: inconsistent checkpoint")
	// ErrConflict means the checkpoint is not consistent with the last
	// one the witness cosigned for its log (409): see *ConflictError.
	ErrConflict = errors.New("witness: conflict")
)

// ConflictError is a 409 answer: the old size of the request is not Size,
// the size of the last checkpoint the witness cosigned for the log (or
// that size has another root, when SameSize is set).
type ConflictError struct {
	Size     int64
	SameSize bool
}

func (e *ConflictError) Error() string {
	if e.SameSize {
		return fmt.Sprintf("witness: conflict: the checkpoint of size %d has another root than the one cosigned", e.Size)
	}
	return fmt.Sprintf("witness: conflict: the last checkpoint cosigned has size %d", e.Size)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }
