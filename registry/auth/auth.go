package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// Recorder receives what the access log records: logins, token use,
// denials and admin changes. The access log's recorder satisfies it.
type Recorder interface {
	Record(ctx context.Context, rec storage.AccessRecord)
}

// Config configures an Auth. Accounts and Meta are required; every other
// field has a documented zero value.
type Config struct {
	// Accounts holds users, grants, API tokens and the signing key.
	Accounts storage.Accounts
	// Meta is the registry's metadata store, read for the catalog (which
	// lists only what the caller may pull).
	Meta storage.Metadata
	// Logger receives failed logins and denials; nil means slog.Default().
	Logger *slog.Logger
	// Recorder, when set, receives logins, token use, denials and admin
	// changes.
	Recorder Recorder
	// Realm is the token endpoint URL sent in challenges; empty means
	// <scheme>://<Host of the request>/token, https when the request came
	// over TLS.
	Realm string
	// Service is the service name in challenges and the audience of
	// tokens; empty means the Host of the request. When set, tokens for
	// another audience are refused.
	Service string
	// TokenTTL is the lifetime of bearer tokens (default 5 minutes).
	TokenTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens, issued on request
	// (access_type=offline) to clients that store them (default 30 days).
	RefreshTTL time.Duration
	// CacheTTL is how long a verified password or API token is remembered,
	// and how often the accounts store is polled for changes made by
	// other nodes (default 1 minute and 1 second).
	CacheTTL time.Duration
	// Throttle limits failed logins.
	Throttle Throttle
	// PasswordCost is the bcrypt cost of passwords set through the admin
	// API (default BcryptCost; tests lower it to bcrypt.MinCost).
	PasswordCost int
	// MaxPageSize caps a catalog page (default registry.DefaultMaxPageSize).
	MaxPageSize int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultTokenTTL   = 5 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	DefaultCacheTTL   = time.Minute
	// revisionPoll is how often the accounts revision is read to notice
	// changes made through another node.
	revisionPoll = time.Second
	// maxCacheEntries bounds each cache; a full cache is emptied.
	maxCacheEntries = 10_000
)

// Auth authenticates and authorizes requests in front of the registry and
// serves the token endpoint and the admin API. See the package doc.
type Auth struct {
	accounts storage.Accounts
	meta     storage.Metadata
	log      *slog.Logger
	rec      Recorder
	realm    string
	service  string
	tokenTTL time.Duration
	refTTL   time.Duration
	cacheTTL time.Duration
	pageSize int
	now      func() time.Time

	sign     *signer
	throttle *throttler
	cost     int
	// dummyHash is compared against when a login names no known user, so
	// that an unknown name costs as much time as a wrong password.
	dummyHash []byte
	admin     http.Handler
	cacheKey  [32]byte

	// gen counts local invalidations; cache entries remember the
	// generation they were filled in.
	gen       atomic.Uint64
	rev       atomic.Uint64
	revPolled atomic.Int64

	mu     sync.RWMutex
	users  map[string]*userEntry
	tokens map[string]*tokenEntry
	creds  map[[32]byte]credEntry
	bearer map[string]bearerEntry
	// sessions caches web UI session records by ID, each for at most
	// SessionCacheTTL.
	sessions map[string]sessionEntry
}

// userEntry caches a user's record and grants.
type userEntry struct {
	exists bool
	user   storage.User
	grants grantSet
	// sessionStamp is stamp(), computed once when the entry is filled.
	sessionStamp string
}

// tokenEntry caches an API token record.
type tokenEntry struct {
	exists bool
	tok    storage.APIToken
	// scopes are tok.Scopes parsed; a scope that no longer parses is
	// dropped (it grants nothing).
	scopes []Access
}

// credEntry caches a verified password or API token.
type credEntry struct {
	id      identity
	expires time.Time
}

// bearerEntry caches a verified bearer token.
type bearerEntry struct {
	c *claims
}

// New returns an Auth for cfg. It reads (or, the first time, creates) the
// signing key in cfg.Accounts.
func New(ctx context.Context, cfg Config) (*Auth, error) {
	if cfg.Accounts == nil || cfg.Meta == nil {
		return nil, errors.New("auth: Config.Accounts and Config.Meta are required")
	}
	a := &Auth{
		accounts: cfg.Accounts,
		meta:     cfg.Meta,
		log:      cfg.Logger,
		rec:      cfg.Recorder,
		realm:    cfg.Realm,
		service:  cfg.Service,
		tokenTTL: cfg.TokenTTL,
		refTTL:   cfg.RefreshTTL,
		cacheTTL: cfg.CacheTTL,
		pageSize: cfg.MaxPageSize,
		now:      cfg.Now,
		throttle: newThrottler(cfg.Throttle),
		cost:     cfg.PasswordCost,
	}
	if a.cost == 0 {
		a.cost = BcryptCost
	}
	var err error
	if a.dummyHash, err = bcrypt.GenerateFromPassword([]byte("cairn: no such user"), a.cost); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.tokenTTL <= 0 {
		a.tokenTTL = DefaultTokenTTL
	}
	if a.refTTL <= 0 {
		a.refTTL = DefaultRefreshTTL
	}
	if a.cacheTTL <= 0 {
		a.cacheTTL = DefaultCacheTTL
	}
	if a.pageSize <= 0 {
		a.pageSize = registry.DefaultMaxPageSize
	}
	if a.now == nil {
		a.now = time.Now
	}
	rand.Read(a.cacheKey[:])
	fresh := make([]byte, 32)
	rand.Read(fresh)
	key, err := a.accounts.Secret(ctx, secretJWT, fresh)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	if a.sign, err = newSigner(key); err != nil {
		return nil, err
	}
	rev, err := a.accounts.AccountsRevision(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a.rev.Store(rev)
	a.revPolled.Store(a.now().UnixNano())
	a.resetCaches()
	a.admin = a.adminAPI()
	return a, nil
}

// Wrap returns a handler that serves the token endpoint (/token), the admin
// API (/_cairn/admin/...) and the API token API (/_cairn/tokens), checks
// every registry API request (/v2/...) before passing it to next with the
// principal set (registry.WithPrincipal), passes /metrics to next only for
// registry:metrics:* (see ResourceMetrics), and passes every other path to
// next as it is.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2" || strings.HasPrefix(p, "/v2/"):
			a.serveV2(w, r, next)
		case p == "/token":
			a.serveToken(w, r)
		case p == "/_cairn/admin" || strings.HasPrefix(p, "/_cairn/admin/"):
			a.serveAdmin(w, r, ResourceAdmin)
		case p == "/_cairn/tokens" || strings.HasPrefix(p, "/_cairn/tokens/"):
			a.serveAdmin(w, r, ResourceTokens)
		case p == "/metrics":
			a.guard(w, r, ResourceMetrics, next)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (a *Auth) resetCaches() {
	a.mu.Lock()
	a.users = map[string]*userEntry{}
	a.tokens = map[string]*tokenEntry{}
	a.creds = map[[32]byte]credEntry{}
	a.bearer = map[string]bearerEntry{}
	a.sessions = map[string]sessionEntry{}
	a.mu.Unlock()
	a.gen.Add(1)
}

// Invalidate drops every cached account, grant, token and verified
// credential. The admin API calls it after each change; changes made
// through another node are noticed within a second.
func (a *Auth) Invalidate() { a.resetCaches() }

// pollRevision resets the caches when the accounts changed elsewhere. At
// most one request per revisionPoll reads the store.
func (a *Auth) pollRevision(ctx context.Context) {
	now := a.now().UnixNano()
	last := a.revPolled.Load()
	if now-last < int64(revisionPoll) || !a.revPolled.CompareAndSwap(last, now) {
		return
	}
	rev, err := a.accounts.AccountsRevision(ctx)
	if err != nil {
		a.log.Warn("auth: reading the accounts revision", "err", err)
		return
	}
	if a.rev.Swap(rev) != rev {
		a.resetCaches()
	}
}

// userInfo returns a user's record and grants, from the cache when it can.
func (a *Auth) userInfo(ctx context.Context, name string) (*userEntry, error) {
	a.mu.RLock()
	e := a.users[name]
	a.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	gen := a.gen.Load()
	e = &userEntry{}
	u, err := a.accounts.User(ctx, name)
	switch {
	case errors.Is(err, storage.ErrUserUnknown):
	case err != nil:
		return nil, err
	default:
		gs, err := a.accounts.Grants(ctx, name)
		if err != nil {
			return nil, err
		}
		e.exists, e.user, e.grants = true, u, gs
		e.sessionStamp = e.computeStamp()
	}
	a.mu.Lock()
	if a.gen.Load() == gen {
		if len(a.users) >= maxCacheEntries {
			clear(a.users)
		}
		a.users[name] = e
	}
	a.mu.Unlock()
	return e, nil
}

// tokenInfo returns an API token record, from the cache when it can.
func (a *Auth) tokenInfo(ctx context.Context, id string) (*tokenEntry, error) {
	a.mu.RLock()
	e := a.tokens[id]
	a.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	gen := a.gen.Load()
	e = &tokenEntry{}
	t, err := a.accounts.Token(ctx, id)
	switch {
	case errors.Is(err, storage.ErrTokenUnknown):
	case err != nil:
		return nil, err
	default:
		e.exists, e.tok = true, t
		for _, s := range t.Scopes {
			if acc, err := ParseScope(s, true); err == nil {
				e.scopes = mergeAccess(e.scopes, acc)
			}
		}
	}
	a.mu.Lock()
	if a.gen.Load() == gen {
		if len(a.tokens) >= maxCacheEntries {
			clear(a.tokens)
		}
		a.tokens[id] = e
	}
	a.mu.Unlock()
	return e, nil
}

// credKey is the cache key of a user name and password: SHA-256 under a
// key drawn at start, so the cache holds nothing that could be attacked
// offline.
func (a *Auth) credKey(user, password string) [32]byte {
	h := sha256.New()
	h.Write(a.cacheKey[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// clientAddr is the request's remote IP address. Forwarding headers are not
// trusted.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// record sends rec to the recorder with the time, address and principal
// filled in.
func (a *Auth) record(r *http.Request, rec storage.AccessRecord) {
	a.recordAt(r.Context(), clientAddr(r), rec)
}

// recordAt is record for callers without the request. A client that went
// away does not cost the log its record.
func (a *Auth) recordAt(ctx context.Context, addr string, rec storage.AccessRecord) {
	if a.rec == nil {
		return
	}
	if rec.Time.IsZero() {
		rec.Time = a.now().UTC()
	}
	if rec.Address == "" {
		rec.Address = addr
	}
	if rec.Principal == "" {
		rec.Principal = "anonymous"
	}
	a.rec.Record(context.WithoutCancel(ctx), rec)
}

// requestHost is the host the client named, for the default realm and
// service.
func requestHost(r *http.Request) string {
	h := r.Host
	if h == "" {
		h = r.URL.Host
	}
	if strings.ContainsAny(h, "\"\\ /,") {
		return "localhost"
	}
	return h
}

func (a *Auth) realmFor(r *http.Request) string {
	if a.realm != "" {
		return a.realm
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + requestHost(r) + "/token"
}

func (a *Auth) serviceFor(r *http.Request) string {
	if a.service != "" {
		return a.service
	}
	return requestHost(r)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
