package tlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/registry/tlog/tlogcheck"
)

// testLog is a log of names over a real bbolt file, served over loopback.
type testLog struct {
	db  *meta.DB
	srv *tlog.Server
	url string
	key *tlog.Key
	n   int
}

func newTestLog(t *testing.T, dir string, key *tlog.Key) *testLog {
	t.Helper()
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if key == nil {
		key, _, err = tlog.LoadOrCreateKey(filepath.Join(t.TempDir(), "log.key"), "test.example/log")
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := tlog.New(tlog.Config{Store: db, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(tlog.PathPrefix, srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &testLog{db: db, srv: srv, url: hs.URL + tlog.PathPrefix, key: key}
}

// move points tag at a new manifest: two leaves (the push and the move).
func (l *testLog) move(t *testing.T, repo, tag string) storage.TagMove {
	t.Helper()
	l.n++
	content := fmt.Appendf(nil, `{"n":%d,"tag":%q}`, l.n, tag)
	m := &storage.Manifest{Repository: repo, Digest: digest.FromBytes(content), MediaType: "application/json",
		Size: int64(len(content)), Content: content, Pushed: time.Unix(int64(l.n), 0).UTC(), PushedBy: "tester"}
	moves, err := l.db.PutManifest(context.Background(), m, []string{tag})
	if err != nil || len(moves) != 1 {
		t.Fatalf("put manifest: %v, %d moves", err, len(moves))
	}
	return moves[0]
}

func (l *testLog) client(state string) *tlog.Client {
	return &tlog.Client{URL: l.url, State: state}
}

func TestClient_EntriesProven(t *testing.T) {
	for _, moves := range []int{1, 127, 128, 129, 300} { // 2 leaves per move: across tile edges
		t.Run(fmt.Sprint(moves), func(t *testing.T) {
			l := newTestLog(t, t.TempDir(), nil)
			var mvs []storage.TagMove
			for i := range moves {
				mvs = append(mvs, l.move(t, "models/m", fmt.Sprintf("v%d", i%3)))
			}
			v, err := l.client(t.TempDir()).Update(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if v.N != int64(2*moves) || !v.Pinned {
				t.Fatalf("tree of %d, pinned %v; want %d, true", v.N, v.Pinned, 2*moves)
			}
			for _, mv := range mvs {
				if mv.Leaf == nil {
					t.Fatal("move without a leaf")
				}
				b, err := v.Entry(*mv.Leaf)
				if err != nil {
					t.Fatalf("leaf %d: %v", *mv.Leaf, err)
				}
				var e storage.LogEntry
				if err := json.Unmarshal(b, &e); err != nil || !e.Matches(mv) {
					t.Fatalf("leaf %d = %s, want the move %+v", *mv.Leaf, b, mv)
				}
			}
			if _, err := v.Entry(v.N); !errors.Is(err, tlog.ErrNotInLog) {
				t.Errorf("entry past the tree: %v, want ErrNotInLog", err)
			}
		})
	}
}

func TestClient_Consistency(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, dir, nil)
	state := t.TempDir()
	c := l.client(state)
	for round := range 5 {
		for range round*70 + 1 {
			l.move(t, "models/m", "latest")
		}
		v, err := c.Update(t.Context())
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if round > 0 && (v.Pinned || v.Previous == 0 || v.Previous >= v.N) {
			t.Fatalf("round %d: pinned %v, previous %d, now %d", round, v.Pinned, v.Previous, v.N)
		}
	}
	// Asking again with nothing new is fine.
	if _, err := c.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A second log under the same key stands for the registry restored from a
// backup: a smaller tree is a rollback, a different tree a fork.
func TestClient_RollbackAndFork(t *testing.T) {
	l := newTestLog(t, t.TempDir(), nil)
	for range 20 {
		l.move(t, "models/m", "v1")
	}
	backup := newTestLog(t, t.TempDir(), l.key)
	for range 10 {
		backup.move(t, "models/m", "v1")
	}
	// The backup holds the first 10 moves of l: same entries, same leaves.
	state := t.TempDir()
	if _, err := l.client(state).Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.client(state).Update(t.Context()); !errors.Is(err, tlog.ErrRollback) {
		t.Fatalf("older tree: %v, want ErrRollback", err)
	}
	for range 15 {
		backup.move(t, "models/m", "other")
	}
	if _, err := backup.client(state).Update(t.Context()); !errors.Is(err, tlog.ErrFork) {
		t.Fatalf("grown backup: %v, want ErrFork", err)
	}
	// The state still holds the honest tree.
	if v, err := l.client(state).Update(t.Context()); err != nil || v.N != 40 {
		t.Fatalf("honest log after the attacks: %v", err)
	}
}

func TestClient_WrongKey(t *testing.T) {
	l := newTestLog(t, t.TempDir(), nil)
	l.move(t, "models/m", "v1")
	other, _, err := tlog.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "test.example/log")
	if err != nil {
		t.Fatal(err)
	}
	c := l.client(t.TempDir())
	c.Key = other.VerifierKey()
	if _, err := c.Update(t.Context()); !errors.Is(err, tlog.ErrSignature) {
		t.Fatalf("checkpoint under another key: %v, want ErrSignature", err)
	}
	// Pinned on first use: a later key change is refused.
	state := t.TempDir()
	if _, err := l.client(state).Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	impostor := newTestLog(t, t.TempDir(), other)
	impostor.move(t, "models/m", "v1")
	if _, err := impostor.client(state).Update(t.Context()); !errors.Is(err, tlog.ErrSignature) {
		t.Fatalf("another key after pinning: %v, want ErrSignature", err)
	}
}

func TestServer_Tiles(t *testing.T) {
	l := newTestLog(t, t.TempDir(), nil)
	for range 150 {
		l.move(t, "r", "t")
	}
	// 300 leaves: one full level-0 tile, a partial one of 44, a level-1
	// partial of width 1.
	cases := []struct {
		path string
		want int
	}{
		{"tile/0/000", 200},
		{"tile/0/001.p/44", 200},
		{"tile/0/001.p/10", 200},
		{"tile/1/000.p/1", 200},
		{"tile/entries/000", 200},
		{"tile/entries/001.p/44", 200},
		{"tile/0/001", 404},
		{"tile/0/001.p/45", 404},
		{"tile/1/000", 404},
		{"tile/entries/002.p/1", 404},
		{"tile/0/1", 404},      // not canonical
		{"tile/data/000", 404}, // the sumdb name, not C2SP's
		{"tile/8/0/000", 404},  // with a height
		{"tile/0/x999/x999/x999/x999/x999/x999/x999/000", 404},
		{"nothing", 404},
	}
	for _, tc := range cases {
		resp, err := http.Get(l.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestTilePath_RoundTrip(t *testing.T) {
	for _, tile := range []sumtlog.Tile{
		{H: 8, L: 0, N: 0, W: 256},
		{H: 8, L: 2, N: 1234567, W: 3},
		{H: 8, L: -1, N: 1000, W: 256},
		{H: 8, L: -1, N: 5, W: 17},
	} {
		p := tlog.TilePath(tile)
		got, err := tlog.ParseTilePath(p)
		if err != nil || got != tile {
			t.Errorf("%+v -> %s -> %+v, %v", tile, p, got, err)
		}
	}
	if p := tlog.TilePath(sumtlog.Tile{H: 8, L: -1, N: 1234067, W: 5}); p != "tile/entries/x001/x234/067.p/5" {
		t.Errorf("entries path %s", p)
	}
}

func TestBundle(t *testing.T) {
	entries := [][]byte{[]byte(`{"a":1}`), {}, []byte(`{"b":2}`)}
	b, err := tlog.EncodeBundle(entries)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tlog.DecodeBundle(b)
	if err != nil || len(got) != 3 || string(got[2]) != `{"b":2}` || len(got[1]) != 0 {
		t.Fatalf("%q, %v", got, err)
	}
	for _, bad := range [][]byte{{0}, {0, 5, 'a'}, append(b, 0)} {
		if _, err := tlog.DecodeBundle(bad); !errors.Is(err, tlog.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseCheckpoint(t *testing.T) {
	good := "example.com/log\n12\n" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + "\n"
	if cp, err := tlog.ParseCheckpoint([]byte(good + "ext line\n")); err != nil || cp.N != 12 || cp.Origin != "example.com/log" {
		t.Fatalf("%+v, %v", cp, err)
	}
	for _, bad := range []string{
		"", "o\n12\n", "o\n012\n" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "o\n-1\nAAAA\n",
		"\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "o\n1\nAAAA\n", good[:len(good)-1],
	} {
		if _, err := tlog.ParseCheckpoint([]byte(bad)); !errors.Is(err, tlog.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", bad, err)
		}
	}
	cp := tlog.Checkpoint{Origin: "o", Tree: sumtlog.Tree{N: 7}}
	if back, err := tlog.ParseCheckpoint(cp.Text()); err != nil || back != cp {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// Acceptance 1: an outside verifier (tlogcheck: x/mod/sumdb only) checks
// the signature and rebuilds the root from the served entries.
func TestServer_OutsideVerifier(t *testing.T) {
	l := newTestLog(t, t.TempDir(), nil)
	for _, moves := range []int{0, 1, 200, 300} {
		for range moves {
			l.move(t, "models/m", "v1")
		}
		res, err := tlogcheck.Check(t.Context(), nil, l.url, l.key.VerifierKey())
		if err != nil {
			t.Fatalf("after %d more moves: %v", moves, err)
		}
		if res.Size != int64(2*l.n) || len(res.Entries) != 2*l.n || res.Origin != "test.example/log" {
			t.Fatalf("tree of %d (%d entries) from %s, want %d", res.Size, len(res.Entries), res.Origin, 2*l.n)
		}
	}
	// The entries are the changes, in order: push, then move.
	hist, err := l.db.History(t.Context(), "models/m", "v1")
	if err != nil {
		t.Fatal(err)
	}
	res, err := tlogcheck.Check(t.Context(), nil, l.url, l.key.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, mv := range hist {
		var e storage.LogEntry
		if err := json.Unmarshal(res.Entries[*mv.Leaf], &e); err != nil || !e.Matches(mv) {
			t.Fatalf("leaf %d is %s, want %+v", *mv.Leaf, res.Entries[*mv.Leaf], mv)
		}
	}
}

func TestAudit(t *testing.T) {
	l := newTestLog(t, t.TempDir(), nil)
	for i := range 300 {
		l.move(t, "models/m", fmt.Sprint("v", i%4))
	}
	found, err := tlog.Audit(t.Context(), l.db, l.db)
	if err != nil || len(found) != 0 {
		t.Fatalf("clean store: %v, %v", found, err)
	}
	// A history record edited behind the log's back.
	err = l.db.Bolt().Update(func(tx *bolt.Tx) error {
		hb := tx.Bucket([]byte("repos")).Bucket([]byte("models/m")).Bucket([]byte("history"))
		k, v := hb.Cursor().First()
		var mv storage.TagMove
		if err := json.Unmarshal(v, &mv); err != nil {
			return err
		}
		mv.By = "someone else"
		b, _ := json.Marshal(mv)
		return hb.Put(bytes.Clone(k), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	found, err = tlog.Audit(t.Context(), l.db, l.db)
	if err != nil || len(found) != 2 { // the move is not its leaf; the leaf has no move
		t.Fatalf("edited history: %+v, %v; want 2 findings", found, err)
	}
}

// A rotated key: the same tree under a new key (given with Key) still has
// to extend what the client saw under the old one.
func TestClient_KeyRotation(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, dir, nil)
	for range 10 {
		l.move(t, "models/m", "v1")
	}
	state := t.TempDir()
	if _, err := l.client(state).Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.move(t, "models/m", "v1")
	k2, _, err := tlog.LoadOrCreateKey(filepath.Join(t.TempDir(), "k2"), "test.example/log")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tlog.New(tlog.Config{Store: l.db, Key: k2})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := &tlog.Client{URL: hs.URL + tlog.PathPrefix, State: state}
	if _, err := c.Update(t.Context()); !errors.Is(err, tlog.ErrSignature) {
		t.Fatalf("new key without being told: %v, want ErrSignature", err)
	}
	c.Key = k2.VerifierKey()
	v, err := c.Update(t.Context())
	if err != nil || v.Previous != 20 || v.N != 22 {
		t.Fatalf("rotated key given: %+v, %v; want 20 -> 22", v, err)
	}
	// The new key is pinned now.
	c.Key = ""
	if _, err := c.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A client that first saw the empty tree accepts any tree after it.
func TestClient_FromEmptyTree(t *testing.T) {
	l := newTestLog(t, t.TempDir(), nil)
	state := t.TempDir()
	if v, err := l.client(state).Update(t.Context()); err != nil || v.N != 0 {
		t.Fatalf("empty log: %+v, %v", v, err)
	}
	l.move(t, "models/m", "v1")
	if v, err := l.client(state).Update(t.Context()); err != nil || v.N != 2 {
		t.Fatalf("after the empty tree: %+v, %v", v, err)
	}
}
