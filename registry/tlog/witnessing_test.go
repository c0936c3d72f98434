package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/tlog"
	"cairn.dev/cairn/registry/tlog/witness"
	"cairn.dev/cairn/verify/tlogproof"
)

// newWitnessServer runs a witness of logKey on loopback.
func newWitnessServer(t *testing.T, name, logKey string) (*witness.Key, *witness.Witness, string) {
	t.Helper()
	dir := t.TempDir()
	k, _, err := witness.LoadOrCreateKey(filepath.Join(dir, "witness.key"), name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: filepath.Join(dir, "state"), Key: k, Logs: []string{logKey}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(w)
	t.Cleanup(hs.Close)
	return k, w, hs.URL + "/add-checkpoint"
}

// TestServer_Witnesses: the log serves the cosignatures that verify, not
// those of a witness that answers with another key's; a witness that
// hangs costs a reader at most the timeout and never a writer; a witness
// that was down cosigns in a later round of Run.
func TestServer_Witnesses(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, _, err := tlog.LoadOrCreateKey(filepath.Join(t.TempDir(), "log.key"), "test.example/log")
	if err != nil {
		t.Fatal(err)
	}
	good, _, goodURL := newWitnessServer(t, "good.test", key.VerifierKey())
	// A liar answers with the cosignature of a witness it is not.
	liar, _, _ := newWitnessServer(t, "liar.test", key.VerifierKey())
	_, _, otherURL := newWitnessServer(t, "other.test", key.VerifierKey())
	liarFront := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(http.MethodPost, otherURL, r.Body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		w.Write(b.Bytes())
	}))
	t.Cleanup(liarFront.Close)
	// A witness that hangs until the test ends.
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hanging.Close() })
	// A witness that is down, then up.
	late, lateW, _ := newWitnessServer(t, "late.test", key.VerifierKey())
	var up atomic.Bool
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		lateW.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)

	srv, err := tlog.New(tlog.Config{Store: db, Key: key, WitnessTimeout: 300 * time.Millisecond, WitnessInterval: 20 * time.Millisecond,
		Witnesses: []tlog.Witness{
			{URL: goodURL, Key: good.VerifierKey()},
			{URL: liarFront.URL, Key: liar.VerifierKey()},
			{URL: hanging.URL, Key: late.VerifierKey()},
			{URL: flaky.URL + "/add-checkpoint", Key: late.VerifierKey()},
		}})
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{db: db, srv: srv, key: key}
	l.move(t, "models/m", "v1")

	// A reader of the new tree waits for the witnesses (the hanging one
	// until the timeout); a writer meanwhile does not.
	var wg sync.WaitGroup
	var note []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		note, _, err = srv.Checkpoint(t.Context())
	}()
	l.move(t, "models/m", "v2")
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	open := func(msg []byte, w ...*witness.Key) error {
		var keys []string
		for _, k := range w {
			keys = append(keys, k.VerifierKey())
		}
		_, err := tlogproof.OpenCheckpoint(msg, key.VerifierKey(), tlogproof.Witnesses{Keys: keys, Threshold: len(keys)})
		return err
	}
	if err := open(note, good); err != nil {
		t.Fatalf("the good witness's cosignature: %v\n%s", err, note)
	}
	if err := open(note, liar); err == nil || bytes.Contains(note, []byte("other.test")) {
		t.Fatalf("the liar's answer was served: %v\n%s", err, note)
	}
	if err := open(note, late); err == nil {
		t.Fatalf("a cosignature of the witness that is down:\n%s", note)
	}

	// The late witness comes up: Run's next rounds ask it again.
	up.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		note, _, err = srv.Checkpoint(t.Context())
		if err == nil && open(note, good, late) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late witness never cosigned: %v\n%s", err, note)
		}
	}
}

// TestVerified_Prove: what a tag or digest means is proven from the log,
// not from the history answer: a history that hides the tag's later move
// (so that an old digest looks current) is caught by the leaves after the
// last move it shows, and a digest deleted since its push is refused.
func TestVerified_Prove(t *testing.T) {
	ctx := t.Context()
	l := newTestLog(t, t.TempDir(), nil)
	a := l.move(t, "models/m", "v1")
	b := l.move(t, "models/m", "v1")
	l.move(t, "models/m", "other")
	moves, err := l.db.History(ctx, "models/m", "v1")
	if err != nil || len(moves) != 2 {
		t.Fatalf("history: %d moves, %v", len(moves), err)
	}
	v, err := l.client(t.TempDir()).Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(tag string, d digest.Digest) tlogproof.Claim {
		return tlogproof.Claim{Repository: "models/m", Tag: tag, Digest: d}
	}
	ev, err := v.Prove(claim("v1", b.New), moves)
	if err != nil {
		t.Fatalf("the tag's latest move: %v", err)
	}
	if _, _, err := ev.Check(l.key.VerifierKey(), tlogproof.Witnesses{}, claim("v1", b.New)); err != nil {
		t.Fatalf("its evidence: %v", err)
	}
	for _, tc := range []struct {
		name  string
		c     tlogproof.Claim
		moves []storage.TagMove
		want  error
	}{
		{"an older digest", claim("v1", a.New), moves, tlogproof.ErrClaim},
		{"the later move hidden", claim("v1", a.New), moves[:1], tlogproof.ErrClaim},
		{"no history", claim("v1", b.New), nil, tlogproof.ErrNotInLog},
		{"a pushed digest", claim("", a.New), nil, nil},
		{"a digest never pushed", claim("", digest.FromString("nope")), nil, tlogproof.ErrNotInLog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Prove(tc.c, tc.moves)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	if err := l.db.DeleteManifest(ctx, "models/m", a.New, "tester"); err != nil {
		t.Fatal(err)
	}
	v, err = l.client(t.TempDir()).Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Prove(claim("", a.New), nil); !errors.Is(err, tlogproof.ErrClaim) {
		t.Fatalf("a deleted digest: %v", err)
	}
}
