package tlogproof

import (
	"fmt"

	"cairn.dev/cairn/verify"
)

var (
	// ErrVerification is the root of every failed check of a log: callers
	// test it with errors.Is to tell "the registry lied" from "could not
	// ask". It wraps verify.ErrVerification.
	ErrVerification = fmt.Errorf("%w: transparency log", verify.ErrVerification)
	// ErrSignature means a checkpoint is not signed by the log's key.
	ErrSignature = fmt.Errorf("%w: checkpoint signature", ErrVerification)
	// ErrWitness means a checkpoint lacks the cosignatures a policy asks
	// for, or carries one that does not verify.
	ErrWitness = fmt.Errorf("%w: witness cosignatures", ErrVerification)
	// ErrRollback means a smaller tree than one seen before: the log's
	// history was rolled back (a restored backup, say).
	ErrRollback = fmt.Errorf("%w: rollback", ErrVerification)
	// ErrFork means a tree that does not extend one seen before: the log's
	// history was rewritten.
	ErrFork = fmt.Errorf("%w: fork", ErrVerification)
	// ErrNotInLog means an entry is not the leaf it claims to be, or names
	// no leaf at all.
	ErrNotInLog = fmt.Errorf("%w: entry not in the log", ErrVerification)
	// ErrMalformed means a checkpoint, proof or entry could not be parsed
	// or is larger than its limit.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrVerification)
	// ErrClaim means a proven leaf does not say what it was brought to
	// prove: the tag's latest move names another digest, say.
	ErrClaim = fmt.Errorf("%w: the log says otherwise", ErrVerification)
)
