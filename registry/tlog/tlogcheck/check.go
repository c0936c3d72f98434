package tlogcheck

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxResponse bounds every answer read.
const maxResponse = 8 << 20

// Result is what Check verified.
type Result struct {
	Origin  string
	Size    int64
	Root    tlog.Hash
	Entries [][]byte
}

// Check verifies the log served at url (ending in "/_cairn/tlog/") against
// the verifier key vkey. client nil means http.DefaultClient.
func Check(ctx context.Context, client *http.Client, url, vkey string) (*Result, error) {
	if client == nil {
		client = http.DefaultClient
	}
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return b, nil
	}

	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	msg, err := get("checkpoint")
	if err != nil {
		return nil, err
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return nil, fmt.Errorf("checkpoint %q: too few lines", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return nil, fmt.Errorf("checkpoint size %q", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return nil, fmt.Errorf("checkpoint hash %q", lines[2])
	}
	res := &Result{Origin: lines[0], Size: size}
	copy(res.Root[:], h)

	// Every entry, hashed into the stored hashes of the tree as the Go
	// checksum database keeps them (dense: index order is append order).
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d missing", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for k := int64(0); k<<8 < size; k++ {
		w := min(size-k<<8, 256)
		b, err := get(c2sp(tlog.Tile{H: 8, L: -1, N: k, W: int(w)}))
		if err != nil {
			return nil, err
		}
		var got int64
		for len(b) > 0 {
			if len(b) < 2 {
				return nil, fmt.Errorf("entry bundle %d: truncated", k)
			}
			l := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+l {
				return nil, fmt.Errorf("entry bundle %d: truncated entry", k)
			}
			e := bytes.Clone(b[2 : 2+l])
			b = b[2+l:]
			hs, err := tlog.StoredHashes(int64(len(res.Entries)), e, reader)
			if err != nil {
				return nil, err
			}
			stored = append(stored, hs...)
			res.Entries = append(res.Entries, e)
			got++
		}
		if got != w {
			return nil, fmt.Errorf("entry bundle %d: %d entries, want %d", k, got, w)
		}
	}
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		return nil, err
	}
	if root != res.Root {
		return nil, fmt.Errorf("the entries hash to %s, the checkpoint says %s", root, res.Root)
	}
	for _, t := range tlog.NewTiles(8, 0, size) {
		served, err := get(c2sp(t))
		if err != nil {
			return nil, err
		}
		want, err := tlog.ReadTileData(t, reader)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(served, want) {
			return nil, fmt.Errorf("hash tile %s differs from the entries'", c2sp(t))
		}
	}
	return res, nil
}

// c2sp turns x/mod's tile path (tile/8/L/N, tile/8/data/N) into the C2SP
// tlog-tiles one (tile/L/N, tile/entries/N).
func c2sp(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + rest
	}
	return "tile/" + p
}
