package tlogproof_test

import (
	"bytes"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"cairn.dev/cairn/verify/tlogproof"
)

// An inclusion proof file is read from a directory anyone may have
// edited: it parses into a proof that writes back the same, or is refused.
func FuzzParseInclusion(f *testing.F) {
	f.Add([]byte(`{"index": 1, "entry": "{}", "proof": ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]}`))
	f.Add([]byte(`{"index": 0, "entry": "", "proof": []}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e tlogproof.Evidence
		if err := e.ParseInclusion(b); err != nil {
			return
		}
		var back tlogproof.Evidence
		if err := back.ParseInclusion(e.MarshalInclusion()); err != nil {
			t.Fatalf("%q parsed, its marshalled form does not: %v", b, err)
		}
		if back.Index != e.Index || !bytes.Equal(back.Entry, e.Entry) || len(back.Proof) != len(e.Proof) {
			t.Fatalf("%q: %+v, read back as %+v", b, e, back)
		}
	})
}

// A checkpoint with cosignature lines comes from a registry: opening it
// with keys that signed nothing never succeeds, and never panics.
func FuzzOpenCheckpoint(f *testing.F) {
	// Fresh keys whose private halves are thrown away.
	_, logKey, err := note.GenerateKey(nil, "reg.test/cairn")
	if err != nil {
		f.Fatal(err)
	}
	_, wk, err := note.GenerateKey(nil, "witness.test")
	if err != nil {
		f.Fatal(err)
	}
	wkey, err := fnote.VKeyToCosignatureV1(wk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("reg.test/cairn\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 reg.test/cairn WtnS1gAAAA==\n\u2014 witness.test bh1rKgAAAAA=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := tlogproof.OpenCheckpoint(b, logKey, tlogproof.Witnesses{Keys: []string{wkey}, Threshold: 1}); err == nil {
			t.Fatalf("%q opened with keys nobody holds", b)
		}
	})
}
