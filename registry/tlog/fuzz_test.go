package tlog_test

import (
	"bytes"
	"testing"

	"cairn.dev/cairn/registry/tlog"
)

// The parsers below read what a registry serves: any input either parses
// into something that formats back the same, or is refused.

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("example.com/log\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := tlog.ParseCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, cp.Text()) {
			t.Fatalf("%q parsed as %+v, which formats as %q", b, cp, cp.Text())
		}
	})
}

func FuzzDecodeBundle(f *testing.F) {
	f.Add([]byte{0, 2, '{', '}', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := tlog.DecodeBundle(b)
		if err != nil {
			return
		}
		back, err := tlog.EncodeBundle(entries)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%q decoded to %d entries that encode as %q, %v", b, len(entries), back, err)
		}
	})
}

func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/entries/x001/234.p/5", "tile/3/x999/999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := tlog.ParseTilePath(p)
		if err != nil {
			return
		}
		if back := tlog.TilePath(tile); back != p {
			t.Fatalf("%q parsed as %+v, which is %q", p, tile, back)
		}
	})
}
