package witness_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/tlog/witness"
	"cairn.dev/cairn/verify/tlogproof"
)

// memLog is a log of names kept in memory, with x/mod/sumdb/tlog's stored
// hashes, signed by its own note key.
type memLog struct {
	hashes []tlog.Hash
	n      int64
	signer note.Signer
	vkey   string
}

func newLog(t testing.TB, origin string) *memLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(nil, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &memLog{signer: s, vkey: vkey}
}

func (l *memLog) ReadHashes(ix []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ix))
	for i, x := range ix {
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *memLog) add(t testing.TB, entries ...string) *memLog {
	t.Helper()
	for _, e := range entries {
		hs, err := tlog.StoredHashes(l.n, []byte(e), l)
		if err != nil {
			t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.n++
	}
	return l
}

// clone is the log restored from a backup taken at its current size.
func (l *memLog) clone() *memLog {
	c := *l
	c.hashes = append([]tlog.Hash(nil), l.hashes...)
	return &c
}

func (l *memLog) checkpoint(t testing.TB) []byte {
	t.Helper()
	h, err := tlog.TreeHash(l.n, l)
	if err != nil {
		t.Fatal(err)
	}
	cp := tlogproof.Checkpoint{Origin: l.signer.Name(), Tree: tlog.Tree{N: l.n, Hash: h}}
	msg, err := note.Sign(&note.Note{Text: string(cp.Text())}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func (l *memLog) request(t testing.TB, old int64) witness.Request {
	t.Helper()
	var proof tlog.TreeProof
	if old > 0 && old < l.n {
		var err error
		if proof, err = tlog.ProveTree(l.n, old, l); err != nil {
			t.Fatal(err)
		}
	}
	return witness.Request{OldSize: old, Proof: proof, Checkpoint: l.checkpoint(t)}
}

func newWitness(t *testing.T, dir string, logs ...string) (*witness.Key, string) {
	t.Helper()
	key, _, err := witness.LoadOrCreateKey(filepath.Join(dir, "witness.key"), "witness.test")
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: filepath.Join(dir, "state"), Key: key, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return key, srv.URL + "/add-checkpoint"
}

// TestWitness_Fork is the attack: a log cosigned at size 8, then restored
// from a backup of size 3 and grown with other entries past 8. Submitted as
// such a log would (from what it remembers, then from the size the 409
// names), it gets 409 then 422 and never a cosignature, and the witness
// still holds the honest checkpoint. The same fork at the same size is a
// 409 too.
func TestWitness_Fork(t *testing.T) {
	ctx := t.Context()
	honest := newLog(t, "reg.test/cairn").add(t, "a", "b", "c")
	backup := honest.clone()
	honest.add(t, "d", "e", "f", "g", "h")
	dir := t.TempDir()
	key, url := newWitness(t, dir, honest.vkey)

	lines, err := witness.Submit(ctx, http.DefaultClient, url, honest.request(t, 0))
	if err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	cosigned := append(honest.checkpoint(t), lines[0]...)
	if _, err := tlogproof.OpenCheckpoint(cosigned, honest.vkey, tlogproof.Witnesses{Keys: []string{key.VerifierKey()}, Threshold: 1}); err != nil {
		t.Fatalf("the cosignature does not verify: %v", err)
	}
	state, _ := os.ReadDir(filepath.Join(dir, "state"))
	before, _ := os.ReadFile(filepath.Join(dir, "state", state[0].Name()))

	fork := backup.add(t, "x", "y", "z", "w", "v", "u")
	_, err = witness.Submit(ctx, http.DefaultClient, url, fork.request(t, 3))
	var ce *witness.ConflictError
	if !errors.As(err, &ce) || ce.Size != 8 {
		t.Fatalf("fork from its own old size: %v, want a 409 naming size 8", err)
	}
	_, err = witness.Submit(ctx, http.DefaultClient, url, fork.request(t, ce.Size))
	if err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("fork from the witness's size: %v, want 422", err)
	}
	same := honest.clone()
	same.hashes, same.n = append([]tlog.Hash(nil), backup.hashes...), 3
	same.add(t, "p", "q", "r", "s", "t")
	_, err = witness.Submit(ctx, http.DefaultClient, url, same.request(t, 8))
	if err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("fork of the same size: %v, want 409", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "state", state[0].Name()))
	if string(before) != string(after) {
		t.Fatalf("a refused fork changed the witness's state:\n%s\n%s", before, after)
	}

	// The honest log keeps growing and is cosigned again.
	honest.add(t, "i")
	if _, err := witness.Submit(ctx, http.DefaultClient, url, honest.request(t, 8)); err != nil {
		t.Fatalf("honest growth: %v", err)
	}
}

// TestWitness_Refusals covers the other answers of the protocol.
func TestWitness_Refusals(t *testing.T) {
	l := newLog(t, "reg.test/cairn").add(t, "a", "b")
	other := newLog(t, "other.test/cairn").add(t, "a")
	impostor := newLog(t, "reg.test/cairn").add(t, "a", "b")
	_, url := newWitness(t, t.TempDir(), l.vkey)
	post := func(body []byte) int {
		resp, err := http.Post(url, "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"garbage", []byte("hello"), 400},
		{"old size above the new", l.request(t, 5).Marshal(), 400},
		{"unknown origin", other.request(t, 0).Marshal(), 404},
		{"signed by another key", impostor.request(t, 0).Marshal(), 403},
		{"a proof from the empty tree", witness.Request{OldSize: 0, Proof: tlog.TreeProof{{}}, Checkpoint: l.checkpoint(t)}.Marshal(), 400},
		{"good", l.request(t, 0).Marshal(), 200},
		{"stale old size", l.request(t, 0).Marshal(), 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.body); got != tc.want {
				t.Fatalf("%d, want %d", got, tc.want)
			}
		})
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}
