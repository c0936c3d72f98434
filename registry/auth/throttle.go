package auth

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed logins with token buckets from
// golang.org/x/time/rate: a failure spends one unit of a budget and the
// budget refills at a steady rate. There are three budgets, so that an
// attacker can slow down guessing without being able to lock anyone out:
//
//   - Per user name and client address (Pair): while it is spent, logins
//     for that user from that address are refused with 429 and
//     Retry-After, without the password being checked.
//   - Per client address (Addr), whatever the user name: while it is
//     spent, every login from that address is refused the same way. IPv6
//     addresses count per /64, the block one client usually holds.
//   - Per user name across addresses (User): while it is spent, logins for
//     that user are delayed (by the time until the budget has a unit
//     again, at most UserMaxDelay) and then checked; never refused. This
//     slows a guesser spread over many addresses without locking the user
//     out.
//
// The refusals are decided before anything else, the credential cache
// included (else a refused address could still tell a right guess, which
// the cache answers, from a wrong one); the delay comes after the cache,
// so a credential verified within the last minute is never delayed. An
// address that has not been failing is never refused, whatever happens
// elsewhere. Bearer tokens, refresh tokens already issued (but for the
// per-address budget) and web sessions are not throttled.
//
// The zero value takes the defaults below.
type Throttle struct {
	// PairBurst failures in a row are allowed per user name and client
	// address (default 10), then one per PairEvery (default 6s).
	PairBurst int
	PairEvery time.Duration
	// AddrBurst failures in a row are allowed per client address (default
	// 30), then one per AddrEvery (default 2s).
	AddrBurst int
	AddrEvery time.Duration
	// UserBurst failures in a row are allowed per user name from all
	// addresses together (default 20), then one per UserEvery (default
	// 3s) before logins for the user are delayed, by up to UserMaxDelay
	// (default 1s).
	UserBurst    int
	UserEvery    time.Duration
	UserMaxDelay time.Duration
}

// Throttle defaults and the bound on how many keys are remembered.
const (
	DefaultPairBurst    = 10
	DefaultPairEvery    = 6 * time.Second
	DefaultAddrBurst    = 30
	DefaultAddrEvery    = 2 * time.Second
	DefaultUserBurst    = 20
	DefaultUserEvery    = 3 * time.Second
	DefaultUserMaxDelay = time.Second
	// maxThrottleKeys bounds the keys each budget remembers; when more are
	// in use, the ones whose budget is full (which carry no state) are
	// dropped, and failures beyond are not remembered: a full table never
	// refuses anyone.
	maxThrottleKeys = 100_000
)

func (t Throttle) withDefaults() Throttle {
	if t.PairBurst <= 0 {
		t.PairBurst = DefaultPairBurst
	}
	if t.PairEvery <= 0 {
		t.PairEvery = DefaultPairEvery
	}
	if t.AddrBurst <= 0 {
		t.AddrBurst = DefaultAddrBurst
	}
	if t.AddrEvery <= 0 {
		t.AddrEvery = DefaultAddrEvery
	}
	if t.UserBurst <= 0 {
		t.UserBurst = DefaultUserBurst
	}
	if t.UserEvery <= 0 {
		t.UserEvery = DefaultUserEvery
	}
	if t.UserMaxDelay <= 0 {
		t.UserMaxDelay = DefaultUserMaxDelay
	}
	return t
}

// limiterSet holds one token bucket per key.
type limiterSet[K comparable] struct {
	mu    sync.Mutex
	burst int
	every time.Duration
	lims  map[K]*rate.Limiter
}

func newLimiterSet[K comparable](burst int, every time.Duration) *limiterSet[K] {
	return &limiterSet[K]{burst: burst, every: every, lims: map[K]*rate.Limiter{}}
}

// get returns key's limiter, creating it when create is set; nil when
// there is none (or no room for it).
func (s *limiterSet[K]) get(key K, now time.Time, create bool) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lims[key]
	if l != nil || !create {
		return l
	}
	if len(s.lims) >= maxThrottleKeys {
		for k, v := range s.lims {
			if v.TokensAt(now) >= float64(s.burst) {
				delete(s.lims, k)
			}
		}
		if len(s.lims) >= maxThrottleKeys {
			return nil
		}
	}
	l = rate.NewLimiter(rate.Every(s.every), s.burst)
	s.lims[key] = l
	return l
}

// wait returns how long key must wait before its next attempt: zero when
// its budget has a failure left.
func (s *limiterSet[K]) wait(key K, now time.Time) time.Duration {
	l := s.get(key, now, false)
	if l == nil {
		return 0
	}
	tokens := l.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) * float64(s.every)))
}

// fail spends one failure of key's budget.
func (s *limiterSet[K]) fail(key K, now time.Time) {
	if l := s.get(key, now, true); l != nil {
		l.AllowN(now, 1)
	}
}

// pair is the key of the per user and address budget (a struct, so that
// looking it up allocates nothing).
type pair struct{ user, addr string }

// throttler combines the three budgets.
type throttler struct {
	pairs    *limiterSet[pair]
	addrs    *limiterSet[string]
	users    *limiterSet[string]
	maxDelay time.Duration
}

func newThrottler(t Throttle) *throttler {
	t = t.withDefaults()
	return &throttler{
		pairs:    newLimiterSet[pair](t.PairBurst, t.PairEvery),
		addrs:    newLimiterSet[string](t.AddrBurst, t.AddrEvery),
		users:    newLimiterSet[string](t.UserBurst, t.UserEvery),
		maxDelay: t.UserMaxDelay,
	}
}

// budgetAddr is the budget key of a client address: IPv6 addresses count per
// /64.
func budgetAddr(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func pairKey(user, addr string) pair { return pair{user, budgetAddr(addr)} }

// refusal returns how long a login for user from addr is refused; zero
// means go ahead.
func (t *throttler) refusal(user, addr string, now time.Time) time.Duration {
	return max(t.pairs.wait(pairKey(user, addr), now), t.addrs.wait(budgetAddr(addr), now))
}

// delay returns how long a login for user is held before it is checked.
func (t *throttler) delay(user string, now time.Time) time.Duration {
	return min(t.users.wait(user, now), t.maxDelay)
}

// fail records a failed login.
func (t *throttler) fail(user, addr string, now time.Time) {
	t.users.fail(user, now)
	t.pairs.fail(pairKey(user, addr), now)
	t.addrs.fail(budgetAddr(addr), now)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ThrottledError is returned when a login was not checked because of too
// many failures. It wraps ErrThrottled.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return "too many failed logins: retry in " + e.RetryAfter.Round(time.Second).String()
}

func (e *ThrottledError) Unwrap() error { return ErrThrottled }
