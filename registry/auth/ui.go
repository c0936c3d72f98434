package auth

import (
	"context"
	"net/http"
	"strings"

	"cairn.dev/cairn/registry/storage"
)

// These methods make *Auth the web UI's Authorizer (web.Authorizer), so
// the UI shows each visitor only what the registry would let them pull.

type addrKey struct{}

// WithClientAddr returns a context that tells Login the client's address,
// so that the per-address budget of failed logins applies to it too.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addrKey{}, addr)
}

// Authenticate recognises Basic credentials or a bearer token on r and
// returns the principal (the user, or token:<id>).
func (a *Auth) Authenticate(r *http.Request) (principal string, ok bool) {
	id, _, err := a.authenticate(r)
	if err != nil || id.user == "" {
		return "", false
	}
	return id.principal(), true
}

// Login checks a user's password (or an API token as the password) within
// the failed-login budget of the user and, when ctx carries it
// (WithClientAddr), of the address, and returns the principal.
func (a *Auth) Login(ctx context.Context, user, password string) (string, error) {
	addr, _ := ctx.Value(addrKey{}).(string)
	id, fresh, err := a.checkCredentials(ctx, addr, user, password)
	if err != nil {
		return "", err
	}
	if fresh {
		action := storage.ActionLogin
		if id.tokenID != "" {
			action = storage.ActionToken
		}
		a.recordAt(ctx, addr, storage.AccessRecord{Principal: id.principal(), Action: action, Result: storage.ResultOK, Detail: "web UI login"})
	}
	return id.principal(), nil
}

// principalIdentity turns a principal back into an identity: a user name,
// or token:<id> for an API token (checked to exist and not be expired).
func (a *Auth) principalIdentity(ctx context.Context, principal string) (identity, bool) {
	id, ok := strings.CutPrefix(principal, "token:")
	if !ok {
		return identity{user: principal}, principal != "" && principal != "anonymous"
	}
	te, err := a.tokenInfo(ctx, id)
	if err != nil || !te.exists || !te.tok.Expires.IsZero() && !a.now().Before(te.tok.Expires) {
		return identity{}, false
	}
	return identity{user: te.tok.User, tokenID: id, scopes: te.scopes}, true
}

// CanRead reports whether principal may pull repository now.
func (a *Auth) CanRead(principal, repository string) bool {
	ctx := context.Background()
	a.pollRevision(ctx)
	id, ok := a.principalIdentity(ctx, principal)
	if !ok {
		return false
	}
	ok, err := a.may(ctx, id, TypeRepository, repository, ActionPull)
	return err == nil && ok
}

// IsAdmin reports whether principal administers the registry (admin on
// "**"; an API token also needs registry:admin:* in its scopes).
func (a *Auth) IsAdmin(principal string) bool {
	ctx := context.Background()
	a.pollRevision(ctx)
	id, ok := a.principalIdentity(ctx, principal)
	if !ok {
		return false
	}
	ok, err := a.may(ctx, id, TypeRegistry, ResourceAdmin, ActionAll)
	return err == nil && ok
}
