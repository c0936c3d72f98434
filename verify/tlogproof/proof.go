package tlogproof

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Extends checks that the tree of cp extends the tree of prev, with proof
// a consistency proof from prev.N to cp.N (tlog.ProveTree; empty when a
// size is 0 or they are equal). A smaller tree is ErrRollback; a tree that
// does not extend prev (a different root at the same size, or a proof
// that does not verify) is ErrFork.
func Extends(prev, cp Checkpoint, proof tlog.TreeProof) error {
	switch {
	case cp.N < prev.N:
		return fmt.Errorf("%w: a tree of %d entries, after one of %d was seen", ErrRollback, cp.N, prev.N)
	case cp.N == prev.N:
		if cp.Hash != prev.Hash {
			return fmt.Errorf("%w: the tree of %d entries has root %s, and %s was seen", ErrFork, cp.N, cp.Hash, prev.Hash)
		}
		return nil
	case prev.N == 0:
		return nil // every tree extends the empty one
	}
	if err := tlog.CheckTree(proof, cp.N, cp.Hash, prev.N, prev.Hash); err != nil {
		return fmt.Errorf("%w: the tree of %d entries does not extend the tree of %d seen before", ErrFork, cp.N, prev.N)
	}
	return nil
}

// CheckInclusion checks that entry is leaf index of the tree of cp, with
// proof an inclusion proof (tlog.ProveRecord).
func CheckInclusion(cp Checkpoint, index int64, entry []byte, proof tlog.RecordProof) error {
	if index < 0 || index >= cp.N {
		return fmt.Errorf("%w: leaf %d of a tree of %d", ErrNotInLog, index, cp.N)
	}
	if err := tlog.CheckRecord(proof, cp.N, cp.Hash, index, tlog.RecordHash(entry)); err != nil {
		return fmt.Errorf("%w: leaf %d: %v", ErrNotInLog, index, err)
	}
	return nil
}
