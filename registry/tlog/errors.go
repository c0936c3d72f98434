package tlog

import (
	"errors"
	"fmt"

	"cairn.dev/cairn/verify/tlogproof"
)

// The failed checks of a log are verify/tlogproof's, where the rules are:
// these names are kept for callers of this package.
var (
	// ErrVerification is the root of every failed check of a log: callers
	// test it with errors.Is to tell "the registry lied" from "could not
	// ask". It wraps verify.ErrVerification.
	ErrVerification = tlogproof.ErrVerification
	// ErrSignature means a checkpoint is not signed by the log's key.
	ErrSignature = tlogproof.ErrSignature
	// ErrWitness means a checkpoint lacks the cosignatures asked for.
	ErrWitness = tlogproof.ErrWitness
	// ErrRollback means the registry served a smaller tree than this client
	// saw before: its history was rolled back (a restored backup, say).
	ErrRollback = tlogproof.ErrRollback
	// ErrFork means the registry served a tree that does not extend the one
	// this client saw before: its history was rewritten.
	ErrFork = tlogproof.ErrFork
	// ErrNotInLog means an entry the registry showed is not the leaf it
	// claims to be, or names no leaf at all.
	ErrNotInLog = tlogproof.ErrNotInLog
	// ErrMalformed means a checkpoint, tile or entry bundle could not be
	// parsed or is larger than its limit.
	ErrMalformed = tlogproof.ErrMalformed
	// ErrBadTiles means the served tiles do not hash to the signed tree.
	ErrBadTiles = fmt.Errorf("%w: tiles do not match the checkpoint", ErrVerification)
	// ErrKeyChanged means the registry's verifier key differs from the one
	// pinned on first use.
	ErrKeyChanged = fmt.Errorf("%w: the log's key changed", ErrVerification)
)

// ErrTileUnknown means a tile lies beyond the current tree.
var ErrTileUnknown = errors.New("tile beyond the tree")

// Failures of the access log's check (CheckAccess), each naming how the
// records and the leaves that committed to them disagree.
var (
	// ErrRecordRemoved means a record whose leaf is in the log is gone
	// from the database, and no prune in the log removed it.
	ErrRecordRemoved = fmt.Errorf("%w: access record removed", ErrVerification)
	// ErrRecordEdited means a record differs from what its leaf committed to.
	ErrRecordEdited = fmt.Errorf("%w: access record edited", ErrVerification)
	// ErrReordered means records are in another order than their leaves.
	ErrReordered = fmt.Errorf("%w: access records reordered", ErrVerification)
	// ErrTruncated means the log or the records end before a checkpoint
	// kept earlier, or before the log's own leaves: the tail was removed.
	ErrTruncated = fmt.Errorf("%w: access log truncated", ErrVerification)
	// ErrForgedPrune means records were removed by a prune record that is
	// not in the log, that does not cover them, or that removed records
	// younger than the retention.
	ErrForgedPrune = fmt.Errorf("%w: forged prune", ErrVerification)
	// ErrRecordAdded means a record is not in the log at all.
	ErrRecordAdded = fmt.Errorf("%w: access record not in the log", ErrVerification)
)
