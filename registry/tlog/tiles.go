package tlog

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

// TileHeight is the height of every tile: C2SP tlog-tiles fixes it at 8
// (256 hashes or entries per full tile).
const TileHeight = 8

// MaxEntryTileSize bounds an entry bundle (a tile of entries, not a
// Sigstore bundle): 256 entries of at most
// storage.MaxLogEntrySize bytes, each with its 2-byte length.
const MaxEntryTileSize = 256 * (2 + storage.MaxLogEntrySize)

// TilePath returns the C2SP tlog-tiles path of t, relative to the log's
// prefix: "tile/<L>/<N>[.p/<W>]" for hashes, "tile/entries/<N>[.p/<W>]"
// for entries (t.L == -1). N is written in groups of three digits, as
// x/mod/sumdb/tlog does ("x001/x234/067").
func TilePath(t tlog.Tile) string {
	p := t.Path() // tile/8/<L or data>/<N>[.p/<W>]
	p = strings.TrimPrefix(p, "tile/8/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + rest
	}
	return "tile/" + p
}

// ParseTilePath parses a C2SP tile path (see TilePath). Only canonical
// paths parse: the same tile has one path.
func ParseTilePath(p string) (tlog.Tile, error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok || strings.HasPrefix(rest, "data/") {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q", ErrMalformed, p)
	}
	if e, ok := strings.CutPrefix(rest, "entries/"); ok {
		rest = "data/" + e
	}
	t, err := tlog.ParseTilePath("tile/8/" + rest)
	if err != nil || t.H != TileHeight {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q", ErrMalformed, p)
	}
	return t, nil
}

// EncodeBundle returns a C2SP entry bundle: each entry prefixed by its
// length as a big-endian uint16.
func EncodeBundle(entries [][]byte) ([]byte, error) {
	n := 0
	for _, e := range entries {
		n += 2 + len(e)
	}
	out := make([]byte, 0, n)
	for i, e := range entries {
		if len(e) > storage.MaxLogEntrySize {
			return nil, fmt.Errorf("tlog: entry %d of %d bytes, more than %d", i, len(e), storage.MaxLogEntrySize)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
		out = append(out, e...)
	}
	return out, nil
}

// DecodeBundle splits an entry bundle into its entries. The entries alias b.
func DecodeBundle(b []byte) ([][]byte, error) {
	if len(b) > MaxEntryTileSize {
		return nil, fmt.Errorf("%w: entry bundle of %d bytes", ErrMalformed, len(b))
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: entry bundle: truncated length", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) || n > storage.MaxLogEntrySize {
			return nil, fmt.Errorf("%w: entry bundle: entry of %d bytes", ErrMalformed, n)
		}
		out = append(out, b[:n:n])
		b = b[n:]
		if len(out) > 1<<TileHeight {
			return nil, fmt.Errorf("%w: entry bundle: more than %d entries", ErrMalformed, 1<<TileHeight)
		}
	}
	return out, nil
}
