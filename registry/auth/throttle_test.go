package auth

import (
	"errors"
	"testing"
	"time"
)

func TestThrottler(t *testing.T) {
	th := newThrottler(Throttle{PairBurst: 3, PairEvery: 10 * time.Second, AddrBurst: 5, AddrEvery: time.Second,
		UserBurst: 4, UserEvery: 4 * time.Second, UserMaxDelay: 500 * time.Millisecond})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if w := th.refusal("alice", "10.0.0.1", now); w != 0 {
			t.Fatalf("attempt %d refused (%v) within the burst", i, w)
		}
		th.fail("alice", "10.0.0.1", now)
	}
	w := th.refusal("alice", "10.0.0.1", now)
	if w <= 9*time.Second || w > 10*time.Second {
		t.Errorf("after 3 failures, alice from 10.0.0.1 waits %v, want about 10s", w)
	}
	// The same user from another address is not refused: one address
	// cannot lock a user out.
	if w := th.refusal("alice", "10.0.0.2", now); w != 0 {
		t.Errorf("alice from another address refused for %v", w)
	}
	if w := th.refusal("bob", "10.0.0.1", now); w != 0 {
		t.Errorf("bob from the same address (2 of 5 left) refused for %v", w)
	}
	if w := th.refusal("alice", "10.0.0.1", now.Add(10*time.Second)); w != 0 {
		t.Errorf("after the window, alice waits %v", w)
	}
	// Per address: 5 failures from one address, whatever the names.
	for _, u := range []string{"u1", "u2"} {
		th.fail(u, "10.0.0.1", now)
	}
	if w := th.refusal("u3", "10.0.0.1", now); w <= 0 || w > time.Second {
		t.Errorf("address with 5 failures: a new user waits %v, want up to 1s", w)
	}
	if w := th.refusal("u3", "10.0.0.3", now); w != 0 {
		t.Errorf("another address waits %v", w)
	}
	// Per user across addresses: a delay, capped, never a refusal.
	if d := th.delay("alice", now); d != 0 {
		t.Errorf("alice after 3 failures (of 4) is delayed %v", d)
	}
	th.fail("alice", "10.0.0.9", now)
	th.fail("alice", "10.0.0.10", now)
	if d := th.delay("alice", now); d != 500*time.Millisecond {
		t.Errorf("alice after 5 failures from 3 addresses is delayed %v, want the cap 500ms", d)
	}
	if w := th.refusal("alice", "10.0.0.11", now); w != 0 {
		t.Errorf("alice from a fresh address is refused (%v): the per-user budget must only delay", w)
	}
	if d := th.delay("alice", now.Add(4*time.Second)); d != 0 {
		t.Errorf("alice after the user window is delayed %v", d)
	}
	var te error = &ThrottledError{RetryAfter: time.Second}
	if !errors.Is(te, ErrThrottled) {
		t.Error("ThrottledError does not wrap ErrThrottled")
	}
}

func TestBudgetAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.1"},
		{"not an address", "not an address"},
	} {
		if got := budgetAddr(tc.in); got != tc.want {
			t.Errorf("budgetAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLimiterSetBounded(t *testing.T) {
	s := newLimiterSet[string](2, time.Second)
	now := time.Now()
	for i := range maxThrottleKeys + 10 {
		s.fail(string(rune(i)), now)
	}
	if len(s.lims) > maxThrottleKeys {
		t.Errorf("%d keys remembered, limit %d", len(s.lims), maxThrottleKeys)
	}
	// A key that found no room is not refused: a full table locks no one out.
	if w := s.wait("no room", now); w != 0 {
		t.Errorf("a key beyond the bound waits %v", w)
	}
	// Later, the budgets are full again and make room.
	s.fail("new", now.Add(time.Hour))
	if s.get("new", now.Add(time.Hour), false) == nil {
		t.Error("a new key found no room after the old budgets refilled")
	}
}
