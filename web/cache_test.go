package web

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefresher: fresh values are served, expired ones are served while
// a refresh runs, and an invalidated one is waited for.
func TestRefresher(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{}, 10)
	now := time.Unix(1000, 0)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	r := &refresher[int64]{ttl: time.Minute, now: func() time.Time { return *clock.Load() },
		compute: func(ctx context.Context) (int64, error) {
			<-release
			return calls.Add(1), nil
		}}
	ctx := context.Background()

	// No value yet: the caller waits, up to its wait.
	if _, _, ok := r.get(ctx, 10*time.Millisecond); ok {
		t.Fatal("a value before any computation")
	}
	release <- struct{}{}
	if v, _, ok := r.get(ctx, time.Second); !ok || v != 1 {
		t.Fatalf("first value %d %v", v, ok)
	}
	// Fresh: no computation.
	if v, _, ok := r.get(ctx, 0); !ok || v != 1 || calls.Load() != 1 {
		t.Fatalf("fresh value %d %v, %d calls", v, ok, calls.Load())
	}
	// Expired: the old value at once, a new one after the refresh.
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	if v, _, ok := r.get(ctx, 0); !ok || v != 1 {
		t.Fatalf("expired value %d %v", v, ok)
	}
	release <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	if v, _, ok := r.get(ctx, 0); !ok || v != 2 {
		t.Fatalf("refreshed value %d %v", v, ok)
	}
	// Invalidated: the caller waits for the new value.
	r.invalidate()
	release <- struct{}{}
	if v, _, ok := r.get(ctx, 5*time.Second); !ok || v != 3 {
		t.Fatalf("value after invalidate %d %v", v, ok)
	}
}
