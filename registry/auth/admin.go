package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"cairn.dev/cairn/registry/storage"
)

// The admin API's request and answer bodies (JSON). Times are RFC 3339.

// UserInfo describes a user in GET /_cairn/admin/users.
type UserInfo struct {
	Name            string      `json:"name"`
	Created         time.Time   `json:"created"`
	PasswordChanged time.Time   `json:"passwordChanged"`
	Grants          []GrantInfo `json:"grants"`
}

// NewUser is the body of POST /_cairn/admin/users.
type NewUser struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// NewPassword is the body of PUT /_cairn/admin/users/NAME/password.
type NewPassword struct {
	Password string `json:"password"`
}

// GrantInfo is a grant in GET /_cairn/admin/grants, and the body of PUT
// /_cairn/admin/grants (where only User, Pattern and Role are read).
type GrantInfo struct {
	User    string    `json:"user"`
	Pattern string    `json:"pattern"`
	Role    string    `json:"role"`
	Created time.Time `json:"created,omitzero"`
	By      string    `json:"by,omitempty"`
}

// TokenInfo describes an API token (never its secret).
type TokenInfo struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Name    string    `json:"name,omitempty"`
	Scopes  []string  `json:"scopes"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// NewToken is the body of POST /_cairn/tokens.
type NewToken struct {
	Name   string   `json:"name,omitempty"`
	Scopes []string `json:"scopes"`
	// ExpiresIn is the lifetime in seconds; 0 means the token never
	// expires.
	ExpiresIn int64 `json:"expiresIn"`
}

// CreatedToken answers POST /_cairn/tokens: the token's record and, this
// once, the token itself.
type CreatedToken struct {
	TokenInfo
	Token string `json:"token"`
}

// Limits of the admin API.
const (
	// MaxTokenName bounds an API token's name.
	MaxTokenName = 64
	// MaxTokenLifetime bounds an API token's lifetime.
	MaxTokenLifetime = 10 * 365 * 24 * time.Hour
)

func grantInfo(g storage.Grant) GrantInfo {
	return GrantInfo{User: g.User, Pattern: g.Pattern, Role: g.Role, Created: g.Created, By: g.By}
}

func tokenInfo(t storage.APIToken) TokenInfo {
	return TokenInfo{ID: t.ID, User: t.User, Name: t.Name, Scopes: slices.Clone(t.Scopes), Created: t.Created, Expires: t.Expires}
}

// adminAPI returns the handler of /_cairn/admin/... and /_cairn/tokens...,
// which runs after serveAdmin has authenticated and authorized.
func (a *Auth) adminAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_cairn/admin/users", a.listUsers)
	mux.HandleFunc("POST /_cairn/admin/users", a.addUser)
	mux.HandleFunc("DELETE /_cairn/admin/users/{name}", a.removeUser)
	mux.HandleFunc("PUT /_cairn/admin/users/{name}/password", a.setPassword)
	mux.HandleFunc("GET /_cairn/admin/grants", a.listGrants)
	mux.HandleFunc("PUT /_cairn/admin/grants", a.putGrant)
	mux.HandleFunc("DELETE /_cairn/admin/grants", a.revokeGrant)
	mux.HandleFunc("GET /_cairn/admin/sessions", a.listSessions)
	mux.HandleFunc("DELETE /_cairn/admin/sessions", a.revokeSessions)
	mux.HandleFunc("DELETE /_cairn/admin/sessions/{id}", a.revokeSession)
	mux.HandleFunc("GET /_cairn/tokens", a.listTokens)
	mux.HandleFunc("POST /_cairn/tokens", a.createToken)
	mux.HandleFunc("DELETE /_cairn/tokens/{id}", a.revokeToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, codeNotFound, "no such endpoint or method", nil)
	})
	return mux
}

type idKey struct{}

func callerOf(r *http.Request) identity {
	id, _ := r.Context().Value(idKey{}).(identity)
	return id
}

// serveAdmin authenticates and authorizes an admin API or token API
// request: the admin API needs registry:admin:* (admin on "**"), the token
// API registry:tokens:* (any user, but not an API token).
func (a *Auth) serveAdmin(w http.ResponseWriter, r *http.Request, resource string) {
	w.Header().Set("Cache-Control", "no-store")
	a.guard(w, r, resource, a.admin)
}

// guard passes r to h when its credentials allow registry:RESOURCE:*, with
// the caller's identity in the context (callerOf); else it answers 401 or
// 403 as the registry API does.
func (a *Auth) guard(w http.ResponseWriter, r *http.Request, resource string, h http.Handler) {
	scope := []Access{{Type: TypeRegistry, Name: resource, Actions: []string{ActionAll}}}
	id, fresh, err := a.authenticate(r)
	if err != nil {
		a.refuseCredentials(w, r, scope, err)
		return
	}
	if id.user == "" {
		a.unauthorized(w, r, scope, "", "authentication required")
		return
	}
	if fresh {
		a.recordLogin(r, id, "Basic credentials on "+r.URL.Path)
	}
	c := check{TypeRegistry, resource, ActionAll}
	ok, err := a.allowed(r.Context(), id, c.typ, c.name, c.action)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if !ok {
		a.deny(w, r, id, c, scope)
		return
	}
	ctx := context.WithValue(r.Context(), idKey{}, id)
	h.ServeHTTP(w, r.WithContext(ctx))
}

// decodeBody reads one JSON value into v, refusing unknown fields, trailing
// data and bodies over maxFormBody.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err == nil {
		err = DecodeJSON(body, v)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeInvalid, "invalid request body: "+clip(err.Error()), nil)
		return false
	}
	return true
}

// DecodeJSON decodes exactly one JSON value from b into v, refusing
// unknown fields and trailing data: how the admin API reads request
// bodies.
func DecodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// storeError answers a failed store call: the sentinels as 404 or 409,
// anything else as 500.
func (a *Auth) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, storage.ErrUserUnknown):
		writeError(w, r, http.StatusNotFound, codeNotFound, "no such user", nil)
	case errors.Is(err, storage.ErrGrantUnknown):
		writeError(w, r, http.StatusNotFound, codeNotFound, "no such grant", nil)
	case errors.Is(err, storage.ErrTokenUnknown):
		writeError(w, r, http.StatusNotFound, codeNotFound, "no such token", nil)
	case errors.Is(err, storage.ErrSessionUnknown):
		writeError(w, r, http.StatusNotFound, codeNotFound, "no such session", nil)
	case errors.Is(err, storage.ErrUserExists):
		writeError(w, r, http.StatusConflict, codeExists, "the user exists", nil)
	default:
		a.internalError(w, r, err)
	}
}

// changed drops the caches and records an admin change.
func (a *Auth) changed(r *http.Request, action, detail string) {
	a.Invalidate()
	caller := callerOf(r)
	a.log.Info("accounts changed", "by", caller.principal(), "change", detail)
	a.record(r, storage.AccessRecord{Principal: caller.principal(), Action: action, Result: storage.ResultOK, Detail: detail})
}

func (a *Auth) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := a.accounts.Users(r.Context())
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	grants, err := a.accounts.Grants(r.Context(), "")
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	out := []UserInfo{}
	for _, u := range users {
		ui := UserInfo{Name: u.Name, Created: u.Created, PasswordChanged: u.PasswordChanged, Grants: []GrantInfo{}}
		for _, g := range grants {
			if g.User == u.Name {
				ui.Grants = append(ui.Grants, grantInfo(g))
			}
		}
		out = append(out, ui)
	}
	writeJSON(w, http.StatusOK, map[string][]UserInfo{"users": out})
}

func (a *Auth) addUser(w http.ResponseWriter, r *http.Request) {
	var req NewUser
	if !decodeBody(w, r, &req) {
		return
	}
	if !ValidUserName(req.Name) {
		writeError(w, r, http.StatusBadRequest, codeInvalid, ErrNameInvalid.Error()+": letters, digits, '.', '_', '@' and '-', at most 64", nil)
		return
	}
	hash, err := hashPassword(req.Password, a.cost)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeInvalid, err.Error(), nil)
		return
	}
	now := a.now().UTC()
	if err := a.accounts.CreateUser(r.Context(), storage.User{Name: req.Name, PasswordHash: hash, Created: now, PasswordChanged: now}); err != nil {
		a.storeError(w, r, err)
		return
	}
	a.changed(r, storage.ActionAdmin, "user "+req.Name+" added")
	writeJSON(w, http.StatusCreated, UserInfo{Name: req.Name, Created: now, PasswordChanged: now, Grants: []GrantInfo{}})
}

// lastAdmin reports whether removing the grants drop of user would leave
// the registry without an admin on "**".
func (a *Auth) lastAdmin(ctx context.Context, user string, drop func(storage.Grant) bool) (bool, error) {
	grants, err := a.accounts.Grants(ctx, "")
	if err != nil {
		return false, err
	}
	left, removed := 0, 0
	for _, g := range grants {
		if g.Pattern != "**" || g.Role != storage.RoleAdmin {
			continue
		}
		if g.User == user && drop(g) {
			removed++
		} else {
			left++
		}
	}
	return removed > 0 && left == 0, nil
}

func (a *Auth) removeUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	last, err := a.lastAdmin(r.Context(), name, func(storage.Grant) bool { return true })
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if last {
		writeError(w, r, http.StatusConflict, codeDenied, name+" is the last administrator (admin on **); grant another user admin on ** first", nil)
		return
	}
	if err := a.accounts.DeleteUser(r.Context(), name); err != nil {
		a.storeError(w, r, err)
		return
	}
	a.changed(r, storage.ActionAdmin, "user "+name+" removed, with its grants and API tokens")
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) setPassword(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req NewPassword
	if !decodeBody(w, r, &req) {
		return
	}
	hash, err := hashPassword(req.Password, a.cost)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, codeInvalid, err.Error(), nil)
		return
	}
	if err := a.accounts.SetPassword(r.Context(), name, hash, a.now().UTC()); err != nil {
		a.storeError(w, r, err)
		return
	}
	a.endSessions(r.Context(), name)
	a.changed(r, storage.ActionAdmin, "password of "+name+" changed")
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) listGrants(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	gs, err := a.accounts.Grants(r.Context(), user)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	out := []GrantInfo{}
	for _, g := range gs {
		out = append(out, grantInfo(g))
	}
	writeJSON(w, http.StatusOK, map[string][]GrantInfo{"grants": out})
}

func (a *Auth) putGrant(w http.ResponseWriter, r *http.Request) {
	var req GrantInfo
	if !decodeBody(w, r, &req) {
		return
	}
	if !ValidPattern(req.Pattern) {
		writeError(w, r, http.StatusBadRequest, codeInvalid, fmt.Sprintf("invalid repository pattern %q: path elements of a-z 0-9 . _ - and *, or **", clip(req.Pattern)), nil)
		return
	}
	if !ValidRole(req.Role) {
		writeError(w, r, http.StatusBadRequest, codeInvalid, fmt.Sprintf("invalid role %q: read, write or admin", clip(req.Role)), nil)
		return
	}
	if req.Pattern == "**" && req.Role != storage.RoleAdmin {
		last, err := a.lastAdmin(r.Context(), req.User, func(g storage.Grant) bool { return g.Pattern == "**" })
		if err != nil {
			a.internalError(w, r, err)
			return
		}
		if last {
			writeError(w, r, http.StatusConflict, codeDenied, req.User+" is the last administrator (admin on **)", nil)
			return
		}
	}
	before, err := a.accounts.Grants(r.Context(), req.User)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	g := storage.Grant{User: req.User, Pattern: req.Pattern, Role: req.Role, Created: a.now().UTC(), By: callerOf(r).principal()}
	if err := a.accounts.PutGrant(r.Context(), g); err != nil {
		a.storeError(w, r, err)
		return
	}
	if !slices.ContainsFunc(before, func(o storage.Grant) bool { return o.Pattern == g.Pattern && o.Role == g.Role }) {
		a.endSessions(r.Context(), g.User) // a role changed
	}
	a.changed(r, storage.ActionAdmin, fmt.Sprintf("granted %s %s on %s", g.User, g.Role, g.Pattern))
	writeJSON(w, http.StatusOK, grantInfo(g))
}

func (a *Auth) revokeGrant(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, pattern := q.Get("user"), q.Get("pattern")
	last, err := a.lastAdmin(r.Context(), user, func(g storage.Grant) bool { return g.Pattern == pattern })
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if last {
		writeError(w, r, http.StatusConflict, codeDenied, user+" is the last administrator (admin on **)", nil)
		return
	}
	if err := a.accounts.DeleteGrant(r.Context(), user, pattern); err != nil {
		a.storeError(w, r, err)
		return
	}
	a.endSessions(r.Context(), user)
	a.changed(r, storage.ActionAdmin, fmt.Sprintf("revoked the grant of %s on %s", user, pattern))
	w.WriteHeader(http.StatusNoContent)
}

// isAdmin reports whether the caller is a registry administrator (and not
// an API token without the admin scope).
func (a *Auth) isAdmin(r *http.Request) bool {
	ok, err := a.may(r.Context(), callerOf(r), TypeRegistry, ResourceAdmin, ActionAll)
	return err == nil && ok
}

func (a *Auth) listTokens(w http.ResponseWriter, r *http.Request) {
	caller := callerOf(r)
	q := r.URL.Query()
	user := caller.user
	if q.Get("all") == "true" || q.Get("user") != "" && q.Get("user") != caller.user {
		if !a.isAdmin(r) {
			writeError(w, r, http.StatusForbidden, codeDenied, "only an administrator lists other users' tokens", nil)
			return
		}
		user = q.Get("user")
	}
	ts, err := a.accounts.Tokens(r.Context(), user)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	out := []TokenInfo{}
	for _, t := range ts {
		out = append(out, tokenInfo(t))
	}
	writeJSON(w, http.StatusOK, map[string][]TokenInfo{"tokens": out})
}

// validTokenName reports whether a token name is printable and short.
func validTokenName(s string) bool {
	return len(s) <= MaxTokenName && strings.IndexFunc(s, func(c rune) bool { return !unicode.IsPrint(c) }) < 0
}

func (a *Auth) createToken(w http.ResponseWriter, r *http.Request) {
	var req NewToken
	if !decodeBody(w, r, &req) {
		return
	}
	if !validTokenName(req.Name) {
		writeError(w, r, http.StatusBadRequest, codeInvalid, fmt.Sprintf("a token name is printable and at most %d bytes", MaxTokenName), nil)
		return
	}
	if len(req.Scopes) == 0 || len(req.Scopes) > MaxScopes {
		writeError(w, r, http.StatusBadRequest, codeInvalid, fmt.Sprintf("a token needs 1 to %d scopes", MaxScopes), nil)
		return
	}
	var scopes []string
	for _, s := range req.Scopes {
		acc, err := ParseScope(s, true)
		if err == nil && acc.Type == TypeRegistry && acc.Name == ResourceTokens {
			err = fmt.Errorf("%w: API tokens cannot manage API tokens", ErrScopeInvalid)
		}
		if err != nil {
			writeError(w, r, http.StatusBadRequest, codeInvalid, err.Error(), nil)
			return
		}
		scopes = append(scopes, acc.String())
	}
	if req.ExpiresIn < 0 || time.Duration(req.ExpiresIn) > MaxTokenLifetime/time.Second {
		writeError(w, r, http.StatusBadRequest, codeInvalid, "expiresIn is 0 (never) or a positive number of seconds up to ten years", nil)
		return
	}
	caller := callerOf(r)
	now := a.now().UTC()
	token, id, hash := newAPIToken()
	t := storage.APIToken{ID: id, User: caller.user, Name: req.Name, Scopes: scopes, Hash: hash, Created: now}
	if req.ExpiresIn > 0 {
		t.Expires = now.Add(time.Duration(req.ExpiresIn) * time.Second)
	}
	if err := a.accounts.PutToken(r.Context(), t); err != nil {
		a.storeError(w, r, err)
		return
	}
	a.changed(r, storage.ActionToken, fmt.Sprintf("API token %s created for %s with scopes %q", id, caller.user, strings.Join(scopes, " ")))
	writeJSON(w, http.StatusCreated, CreatedToken{TokenInfo: tokenInfo(t), Token: token})
}

func (a *Auth) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	caller := callerOf(r)
	t, err := a.accounts.Token(r.Context(), id)
	if err == nil && t.User != caller.user && !a.isAdmin(r) {
		err = storage.ErrTokenUnknown // another user's token: as if absent
	}
	if err == nil {
		err = a.accounts.DeleteToken(r.Context(), id)
	}
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	a.changed(r, storage.ActionToken, fmt.Sprintf("API token %s of %s revoked", id, t.User))
	w.WriteHeader(http.StatusNoContent)
}

// RevokedSessions answers DELETE /_cairn/admin/sessions?user=U.
type RevokedSessions struct {
	User    string `json:"user"`
	Revoked int    `json:"revoked"`
}

func (a *Auth) listSessions(w http.ResponseWriter, r *http.Request) {
	out, err := a.liveSessions(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]SessionInfo{"sessions": out})
}

// revokeSessions ends every web UI session of a user.
func (a *Auth) revokeSessions(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		writeError(w, r, http.StatusBadRequest, codeInvalid, "name the user whose sessions to revoke: ?user=NAME", nil)
		return
	}
	if _, err := a.accounts.User(r.Context(), user); err != nil {
		a.storeError(w, r, err)
		return
	}
	n, err := a.accounts.DeleteSessions(r.Context(), user)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	a.changed(r, storage.ActionAdmin, fmt.Sprintf("revoked the %d web sessions of %s", n, user))
	writeJSON(w, http.StatusOK, RevokedSessions{User: user, Revoked: n})
}

// revokeSession ends one web UI session.
func (a *Auth) revokeSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validSessionID(id) {
		writeError(w, r, http.StatusNotFound, codeNotFound, "no such session", nil)
		return
	}
	s, err := a.accounts.Session(r.Context(), id)
	if err == nil {
		err = a.accounts.DeleteSession(r.Context(), id)
	}
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	a.changed(r, storage.ActionAdmin, fmt.Sprintf("revoked web session %.12s of %s", id, s.User))
	w.WriteHeader(http.StatusNoContent)
}
