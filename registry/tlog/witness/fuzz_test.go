package witness_test

import (
	"bytes"
	"testing"

	"cairn.dev/cairn/registry/tlog/witness"
)

// An add-checkpoint body comes from anyone who can reach the witness: it
// parses into a request that marshals back to the same bytes, or is
// refused.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("old 0\n\nreg.test/cairn\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 reg.test/cairn AAAA\n"))
	f.Add([]byte("old 3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := witness.ParseRequest(b)
		if err != nil {
			return
		}
		if back := r.Marshal(); !bytes.Equal(back, b) {
			t.Fatalf("%q parsed as %+v, which marshals as %q", b, r, back)
		}
	})
}

// A witness's answer comes from the network: it splits into signature
// lines that join back to the same bytes, or is refused.
func FuzzParseCosignatures(f *testing.F) {
	f.Add([]byte("\u2014 witness.test bh1rKgAAAABnAAAA\n"))
	f.Add([]byte("\u2014 a AAAAAAA=\n\u2014 b BBBBBBB=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := witness.ParseCosignatures(b)
		if err != nil {
			return
		}
		if back := bytes.Join(lines, nil); !bytes.Equal(back, b) {
			t.Fatalf("%q split into %q", b, lines)
		}
		for _, l := range lines {
			if !bytes.HasPrefix(l, []byte("\u2014 ")) || bytes.Count(l, []byte("\n")) != 1 {
				t.Fatalf("%q: line %q", b, l)
			}
		}
	})
}
