package storagetest

import (
	"errors"
	"testing"
	"time"

	"cairn.dev/cairn/registry/storage"
)

// QuarantineStore is a metadata store that records quarantines.
type QuarantineStore interface {
	storage.Metadata
	storage.Quarantines
}

// TestQuarantines runs the conformance suite for storage.Quarantines.
// newStore must return a new, empty store each time it is called.
func TestQuarantines(t *testing.T, newStore func(t *testing.T) QuarantineStore) {
	ctx := t.Context()
	s := newStore(t)
	a := newManifest("team/a", `{"a":1}`)
	b := newManifest("team/a", `{"a":2}`)
	c := newManifest("team/ab", `{"c":1}`)
	for _, m := range []*storage.Manifest{a, b, c} {
		if _, err := s.PutManifest(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if q, err := s.Quarantined(ctx, "team/a", a.Digest); err != nil || q != nil {
		t.Fatalf("before any quarantine: %+v, %v", q, err)
	}
	if l, err := s.ListQuarantines(ctx, ""); err != nil || len(l) != 0 {
		t.Fatalf("empty list: %+v, %v", l, err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	qa := storage.Quarantine{Repository: "team/a", Digest: a.Digest, Reason: "CVE-2026-1: pickle payload", By: "admin", Time: t0}
	qc := storage.Quarantine{Repository: "team/ab", Digest: c.Digest, Reason: "license", By: "admin", Time: t0.Add(-time.Hour)}
	for _, q := range []storage.Quarantine{qa, qc} {
		if err := s.SetQuarantine(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	q, err := s.Quarantined(ctx, "team/a", a.Digest)
	if err != nil || q == nil || q.Reason != qa.Reason || q.By != "admin" || !q.Time.Equal(t0) {
		t.Fatalf("Quarantined = %+v, %v", q, err)
	}
	if q, _ := s.Quarantined(ctx, "team/a", b.Digest); q != nil {
		t.Errorf("another version of the repository is quarantined: %+v", q)
	}
	if q, _ := s.Quarantined(ctx, "team/ab", a.Digest); q != nil {
		t.Errorf("the same digest in another repository is quarantined: %+v", q)
	}
	// The repository filter does not match team/ab for team/a.
	if l, err := s.ListQuarantines(ctx, "team/a"); err != nil || len(l) != 1 || l[0].Digest != a.Digest {
		t.Errorf("ListQuarantines(team/a) = %+v, %v", l, err)
	}
	if l, err := s.ListQuarantines(ctx, ""); err != nil || len(l) != 2 || l[0].Repository != "team/ab" {
		t.Errorf("ListQuarantines() = %+v, %v; want both, oldest first", l, err)
	}
	// A new reason replaces the old one.
	qa.Reason = "superseded"
	if err := s.SetQuarantine(ctx, qa); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Quarantined(ctx, "team/a", a.Digest); q == nil || q.Reason != "superseded" {
		t.Errorf("after a second SetQuarantine: %+v", q)
	}
	if err := s.ClearQuarantine(ctx, "team/a", a.Digest); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Quarantined(ctx, "team/a", a.Digest); q != nil {
		t.Errorf("after ClearQuarantine: %+v", q)
	}
	if err := s.ClearQuarantine(ctx, "team/a", a.Digest); !errors.Is(err, storage.ErrNotQuarantined) {
		t.Errorf("second ClearQuarantine: %v, want ErrNotQuarantined", err)
	}
	unknown := newManifest("team/a", `{"never":"pushed"}`)
	if err := s.SetQuarantine(ctx, storage.Quarantine{Repository: "team/a", Digest: unknown.Digest, Reason: "x", Time: t0}); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Errorf("quarantine of an unknown manifest: %v, want ErrManifestUnknown", err)
	}
	if err := s.SetQuarantine(ctx, storage.Quarantine{Repository: "nope/x", Digest: a.Digest, Reason: "x", Time: t0}); !errors.Is(err, storage.ErrManifestUnknown) {
		t.Errorf("quarantine in an unknown repository: %v, want ErrManifestUnknown", err)
	}
}
