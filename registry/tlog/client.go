package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cairn.dev/cairn/registry/internal/atomicfile"

	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/tlogproof"
)

// Doer sends HTTP requests: an *http.Client, or oras-go's auth.Client that
// logs in when challenged.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// MaxVerifierKeySize bounds the verifier key a registry may send.
const MaxVerifierKeySize = 1 << 10

// Client checks a registry's log and remembers what it saw. State keeps
// the verifier key (pinned on first use unless Key is set) and the newest
// checkpoint this client verified, so that a later answer which does not
// extend it is caught as a rollback or a fork.
type Client struct {
	// URL is the log's prefix, e.g. "https://reg.example/_cairn/tlog/".
	URL string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP Doer
	// Key is the verifier key to trust ("<name>+<hash>+<base64>"). Empty
	// means the key pinned in State or, on first use, the one the registry
	// serves at verifier (trust on first use).
	Key string
	// State is the directory of this log's client state (the files
	// verifier and checkpoint). Required.
	State string
	// Witnesses is what the client demands of a checkpoint's
	// cosignatures; the zero value demands none.
	Witnesses tlogproof.Witnesses
	// Origin gives the checkpoints' origin line from the key's name; nil
	// means the key's name (the log of names). The access log's is
	// AccessOrigin.
	Origin func(keyName string) string
}

// origin is the origin line checkpoints signed with vkey must have.
func (c *Client) origin(vkey string) (string, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return "", fmt.Errorf("%w: verifier key: %v", ErrMalformed, err)
	}
	if c.Origin == nil {
		return v.Name(), nil
	}
	return c.Origin(v.Name()), nil
}

// Verified is a checkpoint whose signature was checked and which extends
// every checkpoint this client saw before. Entry reads leaves proven to be
// in its tree.
type Verified struct {
	Checkpoint
	// Note is the signed checkpoint as served.
	Note []byte
	// Pinned reports that the verifier key was pinned by this call (first
	// use): nothing before it vouches for the key.
	Pinned bool
	// Previous is the size of the tree seen before (0 on first use).
	Previous int64

	c      *Client
	ctx    context.Context
	hashes tlog.HashReader
	mu     sync.Mutex
	// bundles caches entry bundles by tile index for this checkpoint.
	bundles map[int64][][]byte
}

func (c *Client) do(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.URL, "/")+"/"+path, nil)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s: more than %d bytes", ErrMalformed, path, limit)
	}
	return b, nil
}

// verifierKey returns the key to check signatures with, the key pinned
// before when Key replaces it (the stored checkpoint was signed with that
// one: a rotated key), and whether the key was pinned now.
func (c *Client) verifierKey(ctx context.Context) (key, previous string, pinnedNow bool, err error) {
	file := filepath.Join(c.State, "verifier")
	b, err := os.ReadFile(file)
	pinned := strings.TrimSpace(string(b))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", "", false, err
	}
	switch {
	case c.Key != "":
		if pinned != c.Key {
			if err := atomicfile.Write(file, []byte(c.Key+"\n")); err != nil {
				return "", "", false, err
			}
			return c.Key, pinned, false, nil
		}
		return c.Key, "", false, nil
	case pinned != "":
		return pinned, "", false, nil
	}
	served, err := c.do(ctx, "verifier", MaxVerifierKeySize)
	if err != nil {
		return "", "", false, err
	}
	key = strings.TrimSpace(string(served))
	if _, err := note.NewVerifier(key); err != nil {
		return "", "", false, fmt.Errorf("%w: verifier key: %v", ErrMalformed, err)
	}
	if err := atomicfile.Write(file, []byte(key+"\n")); err != nil {
		return "", "", false, err
	}
	return key, "", true, nil
}

// OpenCheckpoint checks a signed checkpoint against a verifier key and
// returns its body. The origin must be the key's name.
func OpenCheckpoint(msg []byte, vkey string) (Checkpoint, error) {
	return OpenCheckpointOf(msg, vkey, "")
}

// OpenCheckpointOf is OpenCheckpoint for a log whose origin line is
// origin (empty: the key's name), such as the access log's.
func OpenCheckpointOf(msg []byte, vkey, origin string) (Checkpoint, error) {
	return tlogproof.OpenCheckpointOf(msg, vkey, origin, tlogproof.Witnesses{})
}

// Update fetches the registry's checkpoint, checks its signature and that
// it extends the checkpoint this client saw before (a consistency proof
// built from the served tiles), and stores it. A smaller tree is
// ErrRollback, one that does not extend the old one ErrFork; nothing is
// stored then.
func (c *Client) Update(ctx context.Context) (*Verified, error) {
	if c.State == "" {
		return nil, errors.New("tlog: Client.State is required")
	}
	vkey, prevKey, pinnedNow, err := c.verifierKey(ctx)
	if err != nil {
		return nil, err
	}
	msg, err := c.do(ctx, "checkpoint", MaxCheckpointSize)
	if err != nil {
		return nil, err
	}
	origin, err := c.origin(vkey)
	if err != nil {
		return nil, err
	}
	cp, err := tlogproof.OpenCheckpointOf(msg, vkey, origin, c.Witnesses)
	if err != nil {
		return nil, err
	}
	v := &Verified{Checkpoint: cp, Note: msg, Pinned: pinnedNow, c: c, ctx: ctx, bundles: map[int64][][]byte{}}
	v.hashes = tlog.TileHashReader(cp.Tree, &tileReader{c: c, ctx: ctx, saved: map[tlog.Tile][]byte{}})

	file := filepath.Join(c.State, "checkpoint")
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if old != nil {
		prev, err := OpenCheckpointOf(old, vkey, origin)
		if err != nil && prevKey != "" {
			// Signed before a rotation, under the old key's name.
			var po string
			if po, err = c.origin(prevKey); err == nil {
				prev, err = OpenCheckpointOf(old, prevKey, po)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("the checkpoint kept in %s: %w", file, err)
		}
		v.Previous = prev.N
		if err := checkExtends(prev, cp, v.hashes); err != nil {
			return nil, err
		}
		if prev.N == cp.N {
			return v, nil // same tree: keep the note first seen
		}
	}
	if err := atomicfile.Write(file, msg); err != nil {
		return nil, err
	}
	return v, nil
}

// checkExtends checks that the tree of cp extends the tree of prev, with a
// consistency proof built from the served tiles.
func checkExtends(prev, cp Checkpoint, hashes tlog.HashReader) error {
	var proof tlog.TreeProof
	if prev.N > 0 && cp.N > prev.N {
		var err error
		if proof, err = tlog.ProveTree(cp.N, prev.N, hashes); err != nil {
			return tileError(err)
		}
	}
	return tlogproof.Extends(prev, cp, proof)
}

// tileError classifies a failure to read proven hashes: a network error
// stays itself, tiles that do not match the tree are ErrBadTiles.
func tileError(err error) error {
	var fe *fetchError
	if errors.As(err, &fe) || errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrBadTiles, err)
}

// Entry returns leaf i of the tree, after checking its inclusion proof
// against the checkpoint's root hash.
func (v *Verified) Entry(i int64) ([]byte, error) {
	data, _, err := v.prove(i)
	return data, err
}

// Evidence returns leaf i with its inclusion proof in v's tree and v's
// signed checkpoint: what a pull keeps for an offline check.
func (v *Verified) Evidence(i int64) (*tlogproof.Evidence, error) {
	data, proof, err := v.prove(i)
	if err != nil {
		return nil, err
	}
	return &tlogproof.Evidence{Checkpoint: bytes.Clone(v.Note), Index: i, Entry: data, Proof: proof}, nil
}

// prove returns leaf i and its inclusion proof, checked.
func (v *Verified) prove(i int64) ([]byte, tlog.RecordProof, error) {
	if i < 0 || i >= v.N {
		return nil, nil, fmt.Errorf("%w: leaf %d of a tree of %d", ErrNotInLog, i, v.N)
	}
	t := tlog.TileForIndex(TileHeight, tlog.StoredHashIndex(0, i))
	t.L = -1
	// The entry's bundle and its proof's tiles are fetched concurrently.
	var (
		proof    tlog.RecordProof
		proofErr error
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		proof, proofErr = tlog.ProveRecord(v.N, i, v.hashes)
	}()
	entries, err := v.bundle(t)
	wg.Wait()
	if err != nil {
		return nil, nil, err
	}
	if proofErr != nil {
		return nil, nil, tileError(proofErr)
	}
	data := entries[i-t.N<<TileHeight]
	if err := tlogproof.CheckInclusion(v.Checkpoint, i, data, proof); err != nil {
		return nil, nil, err
	}
	return bytes.Clone(data), proof, nil
}

// bundle returns the entries of tile t (L -1), the widest bundle this
// tree has for it, fetched once per checkpoint.
func (v *Verified) bundle(t tlog.Tile) ([][]byte, error) {
	v.mu.Lock()
	entries, ok := v.bundles[t.N]
	v.mu.Unlock()
	if ok {
		return entries, nil
	}
	t.W = int(min(v.N-t.N<<TileHeight, 1<<TileHeight))
	b, err := v.c.do(v.ctx, TilePath(t), MaxEntryTileSize)
	if err != nil {
		return nil, err
	}
	if entries, err = DecodeBundle(b); err != nil {
		return nil, err
	}
	if len(entries) != t.W {
		return nil, fmt.Errorf("%w: %s holds %d entries", ErrMalformed, TilePath(t), len(entries))
	}
	v.mu.Lock()
	v.bundles[t.N] = entries
	v.mu.Unlock()
	return entries, nil
}

// fetchError is a tile that could not be fetched (not one that was wrong).
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// tileReader reads hash tiles over HTTP for tlog.TileHashReader, which
// checks each against the tree before it is used and then saves it: the
// tiles of one checkpoint are fetched once however many entries are
// proven.
type tileReader struct {
	c   *Client
	ctx context.Context

	mu    sync.Mutex
	saved map[tlog.Tile][]byte
}

func (r *tileReader) Height() int { return TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	// A proof needs a few tiles at once (one per level): they are fetched
	// concurrently, so a proof costs one round trip, not one per level.
	out := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	var wg sync.WaitGroup
	for i, t := range tiles {
		r.mu.Lock()
		b, ok := r.saved[t]
		r.mu.Unlock()
		if ok {
			out[i] = b
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := r.c.do(r.ctx, TilePath(t), int64(t.W)*tlog.HashSize)
			switch {
			case err != nil:
				errs[i] = &fetchError{err}
			case len(b) != t.W*tlog.HashSize:
				errs[i] = fmt.Errorf("%w: %s: %d bytes", ErrMalformed, TilePath(t), len(b))
			default:
				out[i] = b
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SaveTiles keeps tiles tlog.TileHashReader has checked against the tree.
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		r.saved[t] = data[i]
	}
}

// CheckMoves checks that each move of a tag's history (as a registry's
// history endpoint answers it) is the leaf it names, proven in the tree.
// A move without a leaf, or whose leaf records something else, is
// ErrNotInLog: the history was edited, or the change bypassed the log.
func (v *Verified) CheckMoves(moves []storage.TagMove) error {
	for _, mv := range moves {
		if mv.Leaf == nil {
			return fmt.Errorf("%w: the move of %s:%s at %s names no leaf", ErrNotInLog, mv.Repository, mv.Tag, mv.Time.Format(time.RFC3339))
		}
		b, err := v.Entry(*mv.Leaf)
		if err != nil {
			return err
		}
		var e storage.LogEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%w: leaf %d: %v", ErrMalformed, *mv.Leaf, err)
		}
		if !e.Matches(mv) {
			return fmt.Errorf("%w: the history says %s:%s moved %s -> %s at %s by %q, leaf %d says %s", ErrNotInLog,
				mv.Repository, mv.Tag, orNone(mv.Old), orNone(mv.New), mv.Time.Format(time.RFC3339), mv.By, *mv.Leaf, b)
		}
	}
	return nil
}

func orNone(d digest.Digest) string {
	if d == "" {
		return "(none)"
	}
	return string(d)
}

// Leaves returns every leaf of the tree, fetched a tile of entries at a
// time and checked together: the tree they hash to must be the
// checkpoint's. For reading a whole log (the access log's check); Entry
// proves one leaf at a time.
func (v *Verified) Leaves() ([][]byte, error) {
	out := make([][]byte, 0, v.N)
	for start := int64(0); start < v.N; start += 1 << TileHeight {
		t := tlog.Tile{H: TileHeight, L: -1, N: start >> TileHeight, W: int(min(v.N-start, 1<<TileHeight))}
		b, err := v.c.do(v.ctx, TilePath(t), MaxEntryTileSize)
		if err != nil {
			return nil, err
		}
		entries, err := DecodeBundle(b)
		if err != nil {
			return nil, err
		}
		if len(entries) != t.W {
			return nil, fmt.Errorf("%w: %s holds %d entries", ErrMalformed, TilePath(t), len(entries))
		}
		out = append(out, entries...)
	}
	hashes := make([]tlog.Hash, 0, tlog.StoredHashCount(v.N))
	r := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		h := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			h[i] = hashes[x]
		}
		return h, nil
	})
	for i, e := range out {
		hs, err := tlog.StoredHashes(int64(i), e, r)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, hs...)
	}
	if root, err := tlog.TreeHash(v.N, r); err != nil || root != v.Hash {
		return nil, fmt.Errorf("%w: the entries do not hash to the checkpoint's root", ErrBadTiles)
	}
	return out, nil
}
