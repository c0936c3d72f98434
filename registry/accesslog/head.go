package accesslog

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"cairn.dev/cairn/registry/storage"
)

// ChainPoint is a seq and the hash of the record there, as a verification
// of the chain reports its head ("SEQ:HASH").
type ChainPoint struct {
	Seq  uint64
	Hash string
}

func (p ChainPoint) String() string { return strconv.FormatUint(p.Seq, 10) + ":" + p.Hash }

// ParseChainPoint reads SEQ:HASH, the hash as 64 lower-case hex digits.
func ParseChainPoint(s string) (ChainPoint, error) {
	seqText, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return ChainPoint{}, fmt.Errorf("%q: want SEQ:HASH as cairn log verify prints it", s)
	}
	return ChainPoint{seq, hash}, nil
}

// Walker reads access records newest first, as meta.DB.Access and the
// admin API client's AccessLog do.
type Walker func(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error

// CheckHead checks that a head exported earlier (want) is still part of a
// chain whose verification gave st: the record at want.Seq (or the anchor,
// when retention removed exactly up to it) still has want.Hash. A rewrite
// is an error wrapping storage.ErrAccessChainBroken; a head that retention
// removed cannot be checked, which is an error that does not.
func CheckHead(ctx context.Context, walk Walker, st storage.AccessChainState, want ChainPoint) error {
	switch {
	case want.Seq > st.HeadSeq:
		return fmt.Errorf("%w: the head exported earlier is seq %d, the log now ends at %d: records were removed from the end and the head rewritten",
			storage.ErrAccessChainBroken, want.Seq, st.HeadSeq)
	case want.Seq == st.AnchorSeq && want.Seq > 0:
		if st.Anchor != want.Hash {
			return fmt.Errorf("%w: the anchor (seq %d) is not the record exported earlier: the log was rewritten", storage.ErrAccessChainBroken, want.Seq)
		}
		return nil
	case want.Seq < st.AnchorSeq:
		return fmt.Errorf("the head exported earlier (seq %d) was removed by retention (the anchor is seq %d): it cannot be checked any more", want.Seq, st.AnchorSeq)
	}
	var got *storage.AccessRecord
	err := walk(ctx, storage.AccessFilter{Before: want.Seq + 1, Limit: 1}, func(r storage.AccessRecord) error {
		got = &r
		return nil
	})
	if err != nil {
		return err
	}
	if got == nil || got.Seq != want.Seq || got.Hash != want.Hash {
		return fmt.Errorf("%w: record %d is not the record exported earlier: the log was rewritten from there on", storage.ErrAccessChainBroken, want.Seq)
	}
	return nil
}
