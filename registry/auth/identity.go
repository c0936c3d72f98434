package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"cairn.dev/cairn/registry/storage"
)

// identity is who a request authenticated as.
type identity struct {
	// user is the account (the owner, for an API token); empty for
	// anonymous requests.
	user string
	// tokenID is the API token used, directly or through a bearer token
	// exchanged for it; scopes are that token's scopes.
	tokenID string
	scopes  []Access
	// bearer is set when the request carried a bearer token, whose access
	// list then bounds what it may do.
	bearer bool
	access []Access
	// passwordTag fingerprints the user's current password hash.
	passwordTag string
}

// principal names id in tag history and the access log: the user, or
// "token:<id>" for an API token.
func (id identity) principal() string {
	switch {
	case id.tokenID != "":
		return "token:" + id.tokenID
	case id.user != "":
		return id.user
	}
	return "anonymous"
}

// credentials says how a request authenticated, for messages.
func (id identity) credentials() string {
	switch {
	case id.bearer:
		return "bearer token"
	case id.tokenID != "":
		return "API token"
	}
	return "password"
}

// authenticate reads the Authorization header. No header is the anonymous
// identity; a header that does not verify is an error wrapping
// ErrCredentials, ErrTokenInvalid or ErrThrottled. fresh reports a
// password or API token that was checked now rather than found in the
// cache.
func (a *Auth) authenticate(r *http.Request) (id identity, fresh bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return identity{}, false, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return identity{}, false, fmt.Errorf("%w: malformed Basic credentials", ErrCredentials)
		}
		return a.checkPassword(r, user, pass)
	case strings.EqualFold(scheme, "Bearer"):
		raw := strings.TrimSpace(rest)
		if _, ok := parseAPIToken(raw); ok {
			// An API token sent as a bearer token, as Prometheus and
			// other clients without the token flow send one: the same
			// check as the password of Basic credentials.
			return a.checkPassword(r, "", raw)
		}
		id, err := a.checkBearer(r.Context(), raw)
		return id, false, err
	}
	return identity{}, false, fmt.Errorf("%w: unsupported authorization scheme", ErrCredentials)
}

// checkPassword verifies a user name and password, or an API token given as
// the password with any user name, within the failed-login budget.
func (a *Auth) checkPassword(r *http.Request, user, pass string) (identity, bool, error) {
	return a.checkCredentials(r.Context(), clientAddr(r), user, pass)
}

// unknownAddr stands for the client address of a login whose caller did
// not give one (see WithClientAddr): such logins share one budget.
const unknownAddr = "(unknown address)"

// checkCredentials is checkPassword for a client at addr. The order is what
// keeps the throttle from being turned against the user (see Throttle):
// first the budgets of this address and of this user from this address,
// which refuse; then the cache of verified credentials; then the user's
// budget across addresses, which only delays; then the check itself.
func (a *Auth) checkCredentials(ctx context.Context, addr, user, pass string) (identity, bool, error) {
	now := a.now()
	if addr == "" {
		addr = unknownAddr
	}
	tokenID, isToken := parseAPIToken(pass)
	key, principal, action := user, user, storage.ActionLogin
	if isToken {
		key, principal, action = "token:"+tokenID, "token:"+tokenID, storage.ActionToken
	}
	if len(user) > MaxUserNameLength*4 || len(pass) > maxCredentialLength {
		key, principal = "(too long)", "anonymous"
	}
	if wait := a.throttle.refusal(key, addr, now); wait > 0 {
		a.log.Warn("login throttled", "user", clip(user), "addr", addr, "retry_after", wait)
		a.recordAt(ctx, addr, storage.AccessRecord{Principal: principal, Action: action, Result: storage.ResultRefused,
			Status: http.StatusTooManyRequests, Detail: "throttled after repeated failures from this address"})
		return identity{}, false, &ThrottledError{RetryAfter: wait}
	}
	a.pollRevision(ctx)
	ck := a.credKey(user, pass)
	a.mu.RLock()
	ce, hit := a.creds[ck]
	a.mu.RUnlock()
	if hit && now.Before(ce.expires) {
		return ce.id, false, nil
	}
	if d := a.throttle.delay(key, now); d > 0 {
		a.log.Info("login delayed: repeated failures for this user", "user", clip(user), "addr", addr, "delay", d)
		if err := sleep(ctx, d); err != nil {
			return identity{}, false, err
		}
		now = a.now()
	}
	gen := a.gen.Load()
	id, expires, why, err := a.verifyPassword(ctx, user, pass, tokenID, isToken, now)
	if err != nil {
		return identity{}, false, err
	}
	if why != "" {
		a.throttle.fail(key, addr, now)
		a.log.Warn("login failed", "user", clip(user), "addr", addr, "credentials", map[bool]string{true: "API token", false: "password"}[isToken], "reason", why)
		a.recordAt(ctx, addr, storage.AccessRecord{Principal: principal, Action: action, Result: storage.ResultRefused,
			Status: http.StatusUnauthorized, Detail: why})
		return identity{}, false, fmt.Errorf("%w: %s", ErrCredentials, why)
	}
	a.mu.Lock()
	if a.gen.Load() == gen {
		if len(a.creds) >= maxCacheEntries {
			clear(a.creds)
		}
		a.creds[ck] = credEntry{id: id, expires: expires}
	}
	a.mu.Unlock()
	return id, true, nil
}

// verifyPassword does the check itself. A non-empty why is a refusal;
// err is a failure of the store.
func (a *Auth) verifyPassword(ctx context.Context, user, pass, tokenID string, isToken bool, now time.Time) (id identity, expires time.Time, why string, err error) {
	expires = now.Add(a.cacheTTL)
	if len(pass) > maxCredentialLength || len(user) > MaxUserNameLength*4 {
		return id, expires, "credentials too long", nil
	}
	if isToken {
		te, err := a.tokenInfo(ctx, tokenID)
		if err != nil {
			return id, expires, "", err
		}
		sum := sha256.Sum256([]byte(pass))
		if !te.exists || subtle.ConstantTimeCompare(sum[:], te.tok.Hash) != 1 {
			return id, expires, "unknown or revoked API token", nil
		}
		if !te.tok.Expires.IsZero() {
			if !now.Before(te.tok.Expires) {
				return id, expires, "API token expired", nil
			}
			expires = minTime(expires, te.tok.Expires)
		}
		ue, err := a.userInfo(ctx, te.tok.User)
		if err != nil {
			return id, expires, "", err
		}
		if !ue.exists {
			return id, expires, "the API token's owner was deleted", nil
		}
		return identity{user: te.tok.User, tokenID: tokenID, scopes: te.scopes}, expires, "", nil
	}
	hash := a.dummyHash
	var ue *userEntry
	if ValidUserName(user) {
		if ue, err = a.userInfo(ctx, user); err != nil {
			return id, expires, "", err
		}
		if ue.exists {
			hash = ue.user.PasswordHash
		}
	}
	cmpErr := bcrypt.CompareHashAndPassword(hash, []byte(pass))
	switch {
	case ue == nil || !ue.exists:
		return id, expires, "unknown user", nil
	case errors.Is(cmpErr, bcrypt.ErrMismatchedHashAndPassword):
		return id, expires, "wrong password", nil
	case cmpErr != nil:
		return id, expires, "", fmt.Errorf("auth: password hash of %s: %w", user, cmpErr)
	}
	return identity{user: user, passwordTag: passwordTag(ue.user.PasswordHash)}, expires, "", nil
}

// checkBearer verifies an access token and that its user (and API token)
// still exist.
func (a *Auth) checkBearer(ctx context.Context, raw string) (identity, error) {
	now := a.now()
	a.pollRevision(ctx)
	a.mu.RLock()
	be, hit := a.bearer[raw]
	a.mu.RUnlock()
	c := be.c
	if !hit || !now.Before(c.Expiry.Time()) {
		var err error
		if c, err = a.sign.verify(raw, now, useAccess); err != nil {
			return identity{}, err
		}
		if a.service != "" && !c.Audience.Contains(a.service) {
			return identity{}, fmt.Errorf("%w: issued for another service", ErrTokenInvalid)
		}
		a.mu.Lock()
		if len(a.bearer) >= maxCacheEntries {
			clear(a.bearer)
		}
		a.bearer[raw] = bearerEntry{c: c}
		a.mu.Unlock()
	}
	return a.identityOf(ctx, c, true)
}

// identityOf checks that the user and API token a token names are still
// valid, and returns the identity.
func (a *Auth) identityOf(ctx context.Context, c *claims, bearer bool) (identity, error) {
	ue, err := a.userInfo(ctx, c.Subject)
	if err != nil {
		return identity{}, err
	}
	if !ue.exists {
		return identity{}, fmt.Errorf("%w: user %s no longer exists", ErrCredentials, c.Subject)
	}
	id := identity{user: c.Subject, bearer: bearer, access: c.Access, passwordTag: passwordTag(ue.user.PasswordHash)}
	if c.TokenID != "" {
		te, err := a.tokenInfo(ctx, c.TokenID)
		if err != nil {
			return identity{}, err
		}
		if !te.exists || te.tok.User != c.Subject {
			return identity{}, fmt.Errorf("%w: API token %s was revoked", ErrCredentials, c.TokenID)
		}
		if !te.tok.Expires.IsZero() && !a.now().Before(te.tok.Expires) {
			return identity{}, fmt.Errorf("%w: API token %s expired", ErrCredentials, c.TokenID)
		}
		id.tokenID, id.scopes = c.TokenID, te.scopes
	}
	return id, nil
}

// may reports whether id may do action on the resource typ/name by its
// owner's current grants and its API token's scopes. It does not look at a
// bearer token's own access list: see allowed.
func (a *Auth) may(ctx context.Context, id identity, typ, name, action string) (bool, error) {
	if id.user == "" {
		return false, nil
	}
	ue, err := a.userInfo(ctx, id.user)
	if err != nil || !ue.exists {
		return false, err
	}
	switch typ {
	case TypeRepository:
		if ue.grants.rank(name) < actionRank(action) {
			return false, nil
		}
	case TypeRegistry:
		switch name {
		case ResourceCatalog:
		case ResourceAdmin, ResourceMetrics:
			if !ue.grants.admin() {
				return false, nil
			}
		case ResourceTokens:
			if id.tokenID != "" {
				return false, nil // API tokens do not make API tokens
			}
		default:
			return false, nil
		}
	default:
		return false, nil
	}
	if id.tokenID == "" {
		return true, nil
	}
	for _, s := range id.scopes {
		if s.Type != typ || !slices.Contains(s.Actions, action) {
			continue
		}
		if typ == TypeRegistry && s.Name == name || typ == TypeRepository && Match(s.Name, name) {
			return true, nil
		}
	}
	return false, nil
}

// allowed is may, bounded by a bearer token's access list.
func (a *Auth) allowed(ctx context.Context, id identity, typ, name, action string) (bool, error) {
	if id.bearer && !slices.ContainsFunc(id.access, func(x Access) bool { return x.Allows(typ, name, action) }) {
		return false, nil
	}
	return a.may(ctx, id, typ, name, action)
}

// passwordTag fingerprints a password hash for refresh tokens.
func passwordTag(hash []byte) string {
	sum := sha256.Sum256(hash)
	return hex.EncodeToString(sum[:8])
}
