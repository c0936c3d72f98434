package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cairn.dev/cairn/registry/storage"
)

// Web UI sessions are records in the accounts store (storage.Sessions): the
// browser's cookie carries a 256-bit random secret, the store its SHA-256
// (the ID), the user, a stamp of the user's password and roles at login,
// and the expiry. A session is valid while its record exists, it has not
// expired, and its stamp matches the user's current one; so logout (the
// record deleted), a password change, a role change and the user's deletion
// (the stamp no longer matches, and the records are deleted too) end it on
// every node. Each node caches a session for SessionCacheTTL at most, and
// notices account changes by the accounts revision within a second.
const (
	// SessionCacheTTL bounds how long a node trusts a session it read
	// from the store: a logout on another node takes effect here within
	// it.
	SessionCacheTTL = 2 * time.Second
	// MaxSessionsPerUser bounds the sessions a user has at once; a new
	// login ends the oldest beyond it.
	MaxSessionsPerUser = 100
	// sessionSecretLen is the length of a cookie's secret: base64url of
	// 32 random bytes.
	sessionSecretLen = 43
)

// sessionEntry caches a session record read from the store.
type sessionEntry struct {
	exists  bool
	s       storage.Session
	fetched time.Time
}

// sessionID is the store's ID of a session secret.
func sessionID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// validSessionSecret reports whether s is shaped like a secret
// StartSession makes; others are refused without a store lookup.
func validSessionSecret(s string) bool {
	if len(s) != sessionSecretLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// stamp fingerprints what a user's sessions were granted under: the
// account (its creation time, so a user deleted and created again is
// another account), the password hash, and the roles.
func (e *userEntry) stamp() string {
	if e.sessionStamp == "" {
		return e.computeStamp()
	}
	return e.sessionStamp
}

func (e *userEntry) computeStamp() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", e.user.Name, e.user.Created.UnixNano())
	h.Write(e.user.PasswordHash)
	roles := make([]string, 0, len(e.grants))
	for _, g := range e.grants {
		roles = append(roles, g.Pattern+"\x00"+g.Role)
	}
	slices.Sort(roles)
	for _, r := range roles {
		h.Write([]byte{0})
		h.Write([]byte(r))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// StartSession records a web UI session of principal (as Login returned
// it) lasting ttl, and returns the secret for the session cookie and when
// the session ends. The client's address (WithClientAddr) is recorded with
// it. Part of web.Authorizer.
func (a *Auth) StartSession(ctx context.Context, principal string, ttl time.Duration) (secret string, expires time.Time, err error) {
	a.pollRevision(ctx)
	id, ok := a.principalIdentity(ctx, principal)
	if !ok {
		return "", time.Time{}, fmt.Errorf("%w: no such principal %q", ErrCredentials, clip(principal))
	}
	ue, err := a.userInfo(ctx, id.user)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ue.exists {
		return "", time.Time{}, fmt.Errorf("%w: user %s no longer exists", ErrCredentials, id.user)
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret = base64.RawURLEncoding.EncodeToString(raw[:])
	now := a.now().UTC()
	addr, _ := ctx.Value(addrKey{}).(string)
	s := storage.Session{ID: sessionID(secret), User: id.user, TokenID: id.tokenID, Stamp: ue.stamp(),
		Created: now, Expires: now.Add(ttl).Truncate(time.Second), Address: addr}
	if err := a.accounts.CreateSession(ctx, s, MaxSessionsPerUser); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: start a session: %w", err)
	}
	return secret, s.Expires, nil
}

// Session returns the principal of the live session whose cookie carries
// secret: recorded, not expired, and granted under the user's current
// password and roles. A store failure refuses. Part of web.Authorizer.
func (a *Auth) Session(ctx context.Context, secret string) (principal string, ok bool) {
	if !validSessionSecret(secret) {
		return "", false
	}
	a.pollRevision(ctx)
	s, ok, err := a.sessionRecord(ctx, sessionID(secret))
	if err != nil {
		a.log.Warn("auth: reading a session", "err", err)
		return "", false
	}
	if !ok || !a.sessionLive(ctx, s) {
		return "", false
	}
	if s.TokenID != "" {
		return "token:" + s.TokenID, true
	}
	return s.User, true
}

// sessionRecord reads a session, from the cache when it is fresh enough.
func (a *Auth) sessionRecord(ctx context.Context, id string) (storage.Session, bool, error) {
	now := a.now()
	a.mu.RLock()
	e, hit := a.sessions[id]
	a.mu.RUnlock()
	if hit && now.Sub(e.fetched) < SessionCacheTTL && !now.Before(e.fetched) {
		return e.s, e.exists, nil
	}
	gen := a.gen.Load()
	e = sessionEntry{fetched: now}
	s, err := a.accounts.Session(ctx, id)
	switch {
	case errors.Is(err, storage.ErrSessionUnknown):
	case err != nil:
		return storage.Session{}, false, err
	default:
		e.exists, e.s = true, s
	}
	a.mu.Lock()
	if a.gen.Load() == gen {
		if len(a.sessions) >= maxCacheEntries {
			clear(a.sessions)
		}
		a.sessions[id] = e
	}
	a.mu.Unlock()
	return e.s, e.exists, nil
}

// sessionLive reports whether a recorded session still holds: not expired,
// its user's stamp unchanged, its API token (if any) still valid.
func (a *Auth) sessionLive(ctx context.Context, s storage.Session) bool {
	if !a.now().Before(s.Expires) {
		return false
	}
	ue, err := a.userInfo(ctx, s.User)
	if err != nil || !ue.exists || ue.stamp() != s.Stamp {
		return false
	}
	if s.TokenID != "" {
		id, ok := a.principalIdentity(ctx, "token:"+s.TokenID)
		return ok && id.user == s.User
	}
	return true
}

// EndSession ends the session whose cookie carries secret (logout) on
// every node: this one at once, others within SessionCacheTTL. Ending a
// session that is not there is not an error. Part of web.Authorizer.
func (a *Auth) EndSession(ctx context.Context, secret string) error {
	if !validSessionSecret(secret) {
		return nil
	}
	id := sessionID(secret)
	err := a.accounts.DeleteSession(ctx, id)
	a.mu.Lock()
	delete(a.sessions, id)
	a.mu.Unlock()
	if err != nil && !errors.Is(err, storage.ErrSessionUnknown) {
		return fmt.Errorf("auth: end a session: %w", err)
	}
	return nil
}

// endSessions ends every session of user, after a change to the account.
// The stamp already ends them; removing the records keeps the list of
// sessions true.
func (a *Auth) endSessions(ctx context.Context, user string) {
	if _, err := a.accounts.DeleteSessions(ctx, user); err != nil {
		a.log.Warn("auth: removing the sessions of a changed account", "user", user, "err", err)
	}
}

// SessionInfo describes a web UI session in GET /_cairn/admin/sessions.
type SessionInfo struct {
	// ID is the session's ID in the store (the SHA-256 of the cookie's
	// secret, which is not stored).
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Principal string    `json:"principal"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Address   string    `json:"address,omitempty"`
}

// liveSessions lists the sessions of user (everyone's when "") that still
// hold.
func (a *Auth) liveSessions(ctx context.Context, user string) ([]SessionInfo, error) {
	a.pollRevision(ctx)
	ss, err := a.accounts.Sessions(ctx, user)
	if err != nil {
		return nil, err
	}
	out := []SessionInfo{}
	for _, s := range ss {
		if !a.sessionLive(ctx, s) {
			continue
		}
		p := s.User
		if s.TokenID != "" {
			p = "token:" + s.TokenID
		}
		out = append(out, SessionInfo{ID: s.ID, User: s.User, Principal: p, Created: s.Created, Expires: s.Expires, Address: s.Address})
	}
	return out, nil
}

// validSessionID reports whether s is a session ID: 64 lowercase hex digits.
func validSessionID(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
