package tlog

import (
	"fmt"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/tlogproof"
)

// MaxScan bounds the leaves Prove reads to show that nothing later in the
// log changes what it proves: a claim whose proof needs more is refused
// (fail closed) rather than proven in part.
const MaxScan = 1 << 20

// Prove returns the evidence that c holds in v's tree, every leaf read
// checked against the tree:
//
//   - for a tag, moves (the tag's history as the registry answered it) are
//     checked with CheckMoves, the last must move the tag to c.Digest, and
//     no leaf after it may move the tag again: the latest move of the tag
//     in the log names c.Digest;
//   - for a digest (c.Tag empty), the latest leaf of the log that pushes or
//     deletes that manifest in c.Repository must push it.
//
// The evidence is the inclusion proof of that leaf. A failure wraps
// ErrVerification (ErrClaim when the log says otherwise).
func (v *Verified) Prove(c tlogproof.Claim, moves []storage.TagMove) (*tlogproof.Evidence, error) {
	if c.Tag == "" {
		return v.provePush(c)
	}
	var tagMoves []storage.TagMove
	for _, mv := range moves {
		if mv.Repository == c.Repository && mv.Tag == c.Tag {
			tagMoves = append(tagMoves, mv)
		}
	}
	if err := v.CheckMoves(tagMoves); err != nil {
		return nil, err
	}
	if len(tagMoves) == 0 {
		return nil, fmt.Errorf("%w: the history has no move of %s:%s", ErrNotInLog, c.Repository, c.Tag)
	}
	last := tagMoves[len(tagMoves)-1]
	if last.New != c.Digest {
		return nil, fmt.Errorf("%w: %s:%s resolves to %s, its last move in the log is to %s", tlogproof.ErrClaim, c.Repository, c.Tag, c.Digest, orNone(last.New))
	}
	leaf := *last.Leaf // CheckMoves refused a move without one
	if v.N-leaf-1 > MaxScan {
		return nil, fmt.Errorf("%w: %d leaves after the last move of %s:%s, more than the %d a client reads", ErrVerification, v.N-leaf-1, c.Repository, c.Tag, MaxScan)
	}
	for i := leaf + 1; i < v.N; i++ {
		e, err := v.entry(i)
		if err != nil {
			return nil, err
		}
		if e.Kind == tlogproof.KindTag && e.Repository == c.Repository && e.Tag == c.Tag {
			return nil, fmt.Errorf("%w: leaf %d moves %s:%s to %s after the move to %s the history ends with", tlogproof.ErrClaim, i, c.Repository, c.Tag, orNone(e.New), c.Digest)
		}
	}
	return v.Evidence(leaf)
}

// provePush finds the latest push or delete of c.Digest in c.Repository,
// reading back from the end of the tree.
func (v *Verified) provePush(c tlogproof.Claim) (*tlogproof.Evidence, error) {
	for i := v.N - 1; i >= 0 && v.N-i <= MaxScan; i-- {
		e, err := v.entry(i)
		if err != nil {
			return nil, err
		}
		if e.Repository != c.Repository || e.Digest != c.Digest {
			continue
		}
		switch e.Kind {
		case tlogproof.KindManifestPush:
			return v.Evidence(i)
		case storage.EntryManifestDelete:
			return nil, fmt.Errorf("%w: leaf %d deletes %s from %s", tlogproof.ErrClaim, i, c.Digest, c.Repository)
		}
	}
	return nil, fmt.Errorf("%w: no push of %s to %s in the last %d leaves of the log", ErrNotInLog, c.Digest, c.Repository, min(v.N, MaxScan))
}

// entry returns leaf i, proven, decoded.
func (v *Verified) entry(i int64) (tlogproof.Entry, error) {
	b, err := v.Entry(i)
	if err != nil {
		return tlogproof.Entry{}, err
	}
	return tlogproof.ParseEntry(b)
}
