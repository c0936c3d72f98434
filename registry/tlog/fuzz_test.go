package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"cairn.dev/cairn/registry/storage"
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

// An access log's leaf comes from a registry or an edited database: it
// parses only as the canonical encoding of what it holds, and CheckAccess
// of any leaves either verifies or refuses with ErrVerification.
func FuzzParseAccessLeaf(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-02T03:04:05.000000006Z","record":"sha256:` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{"seq":1,"time":"2026-01-02T03:04:05Z","record":"sha256:x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := storage.ParseAccessLeaf(b)
		if err == nil && !bytes.Equal(storage.EncodeAccessLeaf(l), b) {
			t.Fatalf("%q parsed as %+v, which encodes as %q", b, l, storage.EncodeAccessLeaf(l))
		}
		_, err = tlog.CheckAccess(context.Background(), tlog.AccessLogInput{Leaves: [][]byte{b}})
		if err != nil && !errors.Is(err, tlog.ErrVerification) {
			t.Fatalf("CheckAccess of %q: %v, not a verification failure", b, err)
		}
	})
}
