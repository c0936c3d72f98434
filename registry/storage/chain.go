package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// ChainPoint is a position in an access log's hash chain: a seq and the
// hash of the record there (the head, or the anchor retention left).
type ChainPoint struct {
	Seq  uint64
	Hash [sha256.Size]byte
}

// Hex is the hash in hex, as AccessRecord.Prev and Hash hold it.
func (p ChainPoint) Hex() string { return hex.EncodeToString(p.Hash[:]) }

// ChainWalk checks an access log's hash chain, so that every store applies
// the same rules: a store gives it the anchor and head it keeps (Start),
// then every record in seq order (Next), then asks for the verdict
// (Finish). The first break ends the walk: Start and Next return false,
// and State holds the break. Checks of the store's own indexes are the
// store's; it reports them with Fail.
type ChainWalk struct {
	st               AccessChainState
	anchor, head     ChainPoint
	anchored, headed bool
	prev             ChainPoint
	lastPrune        *AccessRecord
	broken           bool
}

// NewChainWalk returns a walk over an empty chain.
func NewChainWalk() *ChainWalk {
	return &ChainWalk{st: AccessChainState{Anchor: AccessGenesis, Head: AccessGenesis}}
}

// State is the chain's state so far (with the break, once there is one).
func (w *ChainWalk) State() AccessChainState { return w.st }

// Want is the seq the next record must have.
func (w *ChainWalk) Want() uint64 { return w.prev.Seq + 1 }

// Records is how many records have been checked.
func (w *ChainWalk) Records() int { return w.st.Records }

// Fail records a break at seq and returns the state.
func (w *ChainWalk) Fail(seq uint64, format string, args ...any) AccessChainState {
	if !w.broken {
		w.broken = true
		w.st.OK = false
		w.st.Break = &AccessBreak{Seq: seq, Problem: fmt.Sprintf(format, args...)}
	}
	return w.st
}

// Start takes the store's anchor (anchored false: never pruned) and head
// (headed false: nothing ever appended).
func (w *ChainWalk) Start(anchor ChainPoint, anchored bool, head ChainPoint, headed bool) bool {
	w.anchor, w.anchored, w.head, w.headed = anchor, anchored, head, headed
	w.st.AnchorSeq, w.st.Anchor = anchor.Seq, anchor.Hex()
	if headed {
		w.st.HeadSeq, w.st.Head = head.Seq, head.Hex()
	} else {
		w.st.HeadSeq, w.st.Head = anchor.Seq, anchor.Hex()
	}
	if anchored && anchor.Seq == 0 {
		w.Fail(0, "anchor names seq 0")
		return false
	}
	w.prev = anchor
	return true
}

// Next checks the record stored under seq: r is what its bytes decode to
// (decodeErr when they do not), stored the hash kept with it, and intact
// whether the bytes still hash to it.
func (w *ChainWalk) Next(seq uint64, r AccessRecord, decodeErr error, stored [sha256.Size]byte, intact bool) bool {
	if w.broken {
		return false
	}
	want := w.prev.Seq + 1
	first := w.st.Records == 0
	switch {
	case seq <= w.prev.Seq && first:
		w.Fail(seq, "record %d is at or before the anchor (seq %d): the anchor was changed", seq, w.anchor.Seq)
	case seq > want && first:
		w.Fail(want, "%s: removed from the start, not by retention (the anchor is seq %d)", missing(want, seq-1), w.anchor.Seq)
	case seq > want:
		w.Fail(want, "%s: removed from the middle", missing(want, seq-1))
	case decodeErr != nil:
		w.Fail(seq, "record %d cannot be decoded (its bytes were changed): %v", seq, decodeErr)
	case r.Seq != seq:
		w.Fail(seq, "record %d holds the contents of record %d: records were moved", seq, r.Seq)
	case !intact:
		w.Fail(seq, "record %d does not match its hash: its contents were edited", seq)
	case r.Prev != w.prev.Hex() && first:
		w.Fail(seq, "record %d does not follow the anchor: the anchor or the record was replaced", seq)
	case r.Prev != w.prev.Hex():
		w.Fail(seq, "record %d does not follow record %d: one of them was replaced", seq, w.prev.Seq)
	}
	if w.broken {
		return false
	}
	if r.Action == ActionPrune {
		w.lastPrune = &r
	}
	if first {
		w.st.First = seq
	}
	w.st.Last = seq
	w.st.Records++
	w.prev = ChainPoint{Seq: seq, Hash: stored}
	return true
}

// Finish checks the end of the chain against the head, and the anchor
// against the last prune record (retention moves the anchor only with a
// prune record naming it, so removing old records and moving the anchor
// to match is caught too). The state is OK when nothing broke.
func (w *ChainWalk) Finish() AccessChainState {
	if w.broken {
		return w.st
	}
	switch {
	case !w.headed && w.st.Records > 0:
		return w.Fail(w.st.First, "the head is missing")
	case w.prev.Seq < w.st.HeadSeq:
		return w.Fail(w.prev.Seq+1, "%s: removed from the end (the head is seq %d)", missing(w.prev.Seq+1, w.st.HeadSeq), w.st.HeadSeq)
	case w.prev.Seq > w.st.HeadSeq:
		return w.Fail(w.st.HeadSeq+1, "records %d to %d are after the head (seq %d): the head was changed", w.st.HeadSeq+1, w.prev.Seq, w.st.HeadSeq)
	case w.prev.Hash != w.head.Hash && w.headed:
		return w.Fail(w.prev.Seq, "record %d is not the head the store recorded: the last record or the head was replaced", w.prev.Seq)
	}
	if w.lastPrune != nil || w.anchored {
		lp := w.lastPrune
		if lp == nil {
			return w.Fail(w.anchor.Seq, "the anchor (seq %d) was set without a prune record", w.anchor.Seq)
		}
		seq, err := strconv.ParseUint(lp.Reference, 10, 64)
		if err != nil || seq != w.anchor.Seq || lp.Digest != digest.Digest("sha256:"+w.anchor.Hex()) {
			return w.Fail(lp.Seq, "prune record %d names anchor %s %s, the store holds seq %d %s: the anchor was changed",
				lp.Seq, lp.Reference, lp.Digest, w.anchor.Seq, w.anchor.Hex())
		}
	}
	w.st.OK = true
	return w.st
}

func missing(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("record %d is missing", from)
	}
	return fmt.Sprintf("records %d to %d are missing", from, to)
}
