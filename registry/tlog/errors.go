package tlog

import (
	"errors"
	"fmt"
)

var (
	// ErrVerification is the root of every failed check of a log: callers
	// test it with errors.Is to tell "the registry lied" from "could not
	// ask".
	ErrVerification = errors.New("transparency log verification failed")
	// ErrSignature means a checkpoint is not signed by the log's key.
	ErrSignature = fmt.Errorf("%w: checkpoint signature", ErrVerification)
	// ErrRollback means the registry served a smaller tree than this client
	// saw before: its history was rolled back (a restored backup, say).
	ErrRollback = fmt.Errorf("%w: rollback", ErrVerification)
	// ErrFork means the registry served a tree that does not extend the one
	// this client saw before: its history was rewritten.
	ErrFork = fmt.Errorf("%w: fork", ErrVerification)
	// ErrNotInLog means an entry the registry showed is not the leaf it
	// claims to be, or names no leaf at all.
	ErrNotInLog = fmt.Errorf("%w: entry not in the log", ErrVerification)
	// ErrBadTiles means the served tiles do not hash to the signed tree.
	ErrBadTiles = fmt.Errorf("%w: tiles do not match the checkpoint", ErrVerification)
	// ErrMalformed means a checkpoint, tile or entry bundle could not be
	// parsed or is larger than its limit.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrVerification)
	// ErrKeyChanged means the registry's verifier key differs from the one
	// pinned on first use.
	ErrKeyChanged = fmt.Errorf("%w: the log's key changed", ErrVerification)
)

// ErrTileUnknown means a tile lies beyond the current tree.
var ErrTileUnknown = errors.New("tile beyond the tree")
