package pg_test

import (
	"context"
	"errors"
	"testing"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/storage"
)

// TestRegistry_CollectOnceLease checks that a collection on a shared
// metadata store waits its turn: while another node holds the collector's
// lease (registry.HoldLease) CollectOnce refuses with ErrLeaseHeld, and
// once the holder released it CollectOnce runs and releases it in turn.
func TestRegistry_CollectOnceLease(t *testing.T) {
	db := openDB(t)
	blobs, err := cas.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	node := registry.LeaseHolder("cairn serve")
	err = registry.HoldLease(ctx, db, registry.GCLease, node, true, func(ctx context.Context) error {
		_, err := reg.CollectOnce(ctx, "cairn gc", registry.GCOptions{})
		if !errors.Is(err, storage.ErrLeaseHeld) {
			t.Errorf("CollectOnce while a node holds the lease: %v, want ErrLeaseHeld", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CollectOnce(ctx, "cairn gc", registry.GCOptions{}); err != nil {
		t.Fatalf("CollectOnce after the lease was released: %v", err)
	}
	// CollectOnce gave the lease up: another holder takes it at once.
	if err := db.AcquireLease(ctx, registry.GCLease, "another", registry.GCLeaseTTL); err != nil {
		t.Errorf("lease after CollectOnce: %v", err)
	}
}
