package tlogproof_test

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/verify/tlogproof"
)

// BenchmarkEvidence_Check is the offline check of a pulled directory's
// proof in a log of 2^20 leaves: the checkpoint's signature and one
// witness cosignature, the inclusion proof (20 hashes) and the entry.
func BenchmarkEvidence_Check(b *testing.B) {
	const n = 1 << 20
	tr := &tree{hashes: make([]tlog.Hash, 0, 2*n)}
	move := []byte(`{"kind":"tag","repository":"models/m","tag":"v1","new":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","time":"2026-01-01T00:00:00Z"}`)
	for i := range n {
		e := fmt.Appendf(nil, `{"kind":"manifest.push","n":%d}`, i)
		if i == n/3 {
			e = move
		}
		hs, err := tlog.StoredHashes(int64(i), e, tr)
		if err != nil {
			b.Fatal(err)
		}
		tr.hashes = append(tr.hashes, hs...)
	}
	tr.entries = make([][]byte, n)
	k := newKeys(b)
	cp := tr.checkpoint(b, "reg.test/cairn")
	proof, err := tlog.ProveRecord(n, n/3, tr)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := noteSign(cp, k)
	if err != nil {
		b.Fatal(err)
	}
	ev := &tlogproof.Evidence{Checkpoint: msg, Index: n / 3, Entry: move, Proof: proof}
	c := tlogproof.Claim{Repository: "models/m", Tag: "v1", Digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	w := tlogproof.Witnesses{Keys: []string{k.wkey}, Threshold: 1}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := ev.Check(k.logKey, w, c); err != nil {
			b.Fatal(err)
		}
	}
}
