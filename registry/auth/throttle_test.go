package auth

import (
	"errors"
	"testing"
	"time"
)

func TestThrottler(t *testing.T) {
	th := newThrottler(Throttle{UserBurst: 3, UserEvery: 10 * time.Second, AddrBurst: 5, AddrEvery: time.Second})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if w := th.wait("alice", "10.0.0.1", now); w != 0 {
			t.Fatalf("attempt %d throttled (%v) within the burst", i, w)
		}
		th.fail("alice", "10.0.0.1", now)
	}
	w := th.wait("alice", "10.0.0.2", now)
	if w <= 9*time.Second || w > 10*time.Second {
		t.Errorf("after 3 failures, alice waits %v, want about 10s", w)
	}
	if w := th.wait("bob", "10.0.0.1", now); w != 0 {
		t.Errorf("bob from the same address (2 of 5 left) waits %v", w)
	}
	if w := th.wait("alice", "10.0.0.2", now.Add(10*time.Second)); w != 0 {
		t.Errorf("after the window, alice waits %v", w)
	}
	// Per address: 5 users failing once each from one address.
	for _, u := range []string{"u1", "u2"} {
		th.fail(u, "10.0.0.1", now)
	}
	if w := th.wait("u3", "10.0.0.1", now); w <= 0 || w > time.Second {
		t.Errorf("address with 5 failures: a new user waits %v, want up to 1s", w)
	}
	if w := th.wait("u3", "10.0.0.3", now); w != 0 {
		t.Errorf("another address waits %v", w)
	}
	var te error = &ThrottledError{RetryAfter: time.Second}
	if !errors.Is(te, ErrThrottled) {
		t.Error("ThrottledError does not wrap ErrThrottled")
	}
}

func TestLimiterSetBounded(t *testing.T) {
	s := newLimiterSet(2, time.Second)
	now := time.Now()
	for i := range maxThrottleKeys + 10 {
		s.fail(string(rune(i)), now)
	}
	if len(s.lims) > maxThrottleKeys {
		t.Errorf("%d keys remembered, limit %d", len(s.lims), maxThrottleKeys)
	}
	// Later, the budgets are full again and make room.
	s.fail("new", now.Add(time.Hour))
	if s.get("new", now.Add(time.Hour), false) == nil {
		t.Error("a new key found no room after the old budgets refilled")
	}
}
