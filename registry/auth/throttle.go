package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed logins. Each user name and each client address has
// a budget of failures (a token bucket from golang.org/x/time/rate): a
// failure spends one, and one comes back every Every. While either budget is
// empty, every login attempt for that user or from that address is answered
// 429 with Retry-After, without checking the password, so guessing goes no
// faster and a throttled answer says nothing about the password. Bearer
// tokens already issued keep working: a lockout stops new logins only.
//
// The zero value takes the defaults below.
type Throttle struct {
	// UserBurst failures in a row are allowed per user name (default 10),
	// then one per UserEvery (default 6s).
	UserBurst int
	UserEvery time.Duration
	// AddrBurst failures in a row are allowed per client address (default
	// 30), then one per AddrEvery (default 2s).
	AddrBurst int
	AddrEvery time.Duration
}

// Throttle defaults and the bound on how many keys are remembered.
const (
	DefaultUserBurst = 10
	DefaultUserEvery = 6 * time.Second
	DefaultAddrBurst = 30
	DefaultAddrEvery = 2 * time.Second
	// maxThrottleKeys bounds the user names and addresses remembered; when
	// more are in use, the ones whose budget is full (which carry no
	// state) are dropped, then a shared budget takes the rest.
	maxThrottleKeys = 100_000
)

func (t Throttle) withDefaults() Throttle {
	if t.UserBurst <= 0 {
		t.UserBurst = DefaultUserBurst
	}
	if t.UserEvery <= 0 {
		t.UserEvery = DefaultUserEvery
	}
	if t.AddrBurst <= 0 {
		t.AddrBurst = DefaultAddrBurst
	}
	if t.AddrEvery <= 0 {
		t.AddrEvery = DefaultAddrEvery
	}
	return t
}

// limiterSet holds one token bucket per key.
type limiterSet struct {
	mu       sync.Mutex
	burst    int
	every    time.Duration
	lims     map[string]*rate.Limiter
	overflow *rate.Limiter
}

func newLimiterSet(burst int, every time.Duration) *limiterSet {
	return &limiterSet{burst: burst, every: every, lims: map[string]*rate.Limiter{},
		overflow: rate.NewLimiter(rate.Every(every), burst)}
}

// get returns key's limiter, creating it when create is set; nil when
// there is none.
func (s *limiterSet) get(key string, now time.Time, create bool) *rate.Limiter {
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
			return s.overflow
		}
	}
	l = rate.NewLimiter(rate.Every(s.every), s.burst)
	s.lims[key] = l
	return l
}

// wait returns how long key must wait before its next attempt: zero when
// its budget has a failure left.
func (s *limiterSet) wait(key string, now time.Time) time.Duration {
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
func (s *limiterSet) fail(key string, now time.Time) {
	s.get(key, now, true).AllowN(now, 1)
}

// throttler combines the per-user and per-address budgets.
type throttler struct {
	users, addrs *limiterSet
}

func newThrottler(t Throttle) *throttler {
	t = t.withDefaults()
	return &throttler{users: newLimiterSet(t.UserBurst, t.UserEvery), addrs: newLimiterSet(t.AddrBurst, t.AddrEvery)}
}

// wait returns how long a login for user from addr must wait; zero means
// go ahead.
func (t *throttler) wait(user, addr string, now time.Time) time.Duration {
	return max(t.users.wait(user, now), t.addrs.wait(addr, now))
}

// fail records a failed login.
func (t *throttler) fail(user, addr string, now time.Time) {
	t.users.fail(user, now)
	t.addrs.fail(addr, now)
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
