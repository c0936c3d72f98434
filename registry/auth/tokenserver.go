package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"cairn.dev/cairn/registry/storage"
)

// maxFormBody bounds the body of POST /token and of admin API requests.
const maxFormBody = 64 << 10

// tokenResponse is the answer of the token endpoint: the docker token
// spec's fields and the OAuth2 ones.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// serveToken is the realm: GET /token with Basic credentials (user name and
// password, or any user name and an API token), and POST /token with the
// OAuth2 password and refresh_token grants. The token carries the subset of
// the asked scopes that the identity may have now.
func (a *Auth) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var (
		service string
		params  []string
		offline bool
		id      identity
		err     error
		via     string
	)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		service, params, offline = q.Get("service"), q["scope"], q.Get("offline_token") == "true"
		if r.Header.Get("Authorization") == "" {
			// No anonymous access: ask for credentials.
			w.Header().Set("WWW-Authenticate", `Basic realm="cairn"`)
			writeError(w, r, http.StatusUnauthorized, codeUnauthorized, "credentials required", nil)
			return
		}
		u, _, ok := r.BasicAuth()
		if !ok {
			writeError(w, r, http.StatusUnauthorized, codeUnauthorized, "the token endpoint takes Basic credentials", nil)
			return
		}
		via = "GET /token as " + clip(u)
		id, _, err = a.authenticate(r)
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			writeError(w, r, http.StatusBadRequest, codeInvalid, "invalid form", nil)
			return
		}
		f := r.PostForm
		service, offline = f.Get("service"), f.Get("access_type") == "offline"
		params = f["scope"]
		switch f.Get("grant_type") {
		case "password":
			via = "POST /token (password grant)"
			id, _, err = a.checkPassword(r, f.Get("username"), f.Get("password"))
		case "refresh_token":
			via = "POST /token (refresh token)"
			id, err = a.checkRefresh(r, f.Get("refresh_token"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"unsupported_grant_type"}`))
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, r, http.StatusMethodNotAllowed, codeUnsupported, "GET or POST", nil)
		return
	}
	if err != nil {
		var te *ThrottledError
		if errors.As(err, &te) {
			throttled(w, r, te.RetryAfter)
			return
		}
		if !errors.Is(err, ErrCredentials) && !errors.Is(err, ErrTokenInvalid) {
			a.internalError(w, r, err)
			return
		}
		writeError(w, r, http.StatusUnauthorized, codeUnauthorized, "authentication failed", nil)
		return
	}
	asked, granted, err := a.grant(r, id, params)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	now := a.now()
	c := claims{Access: granted, TokenID: id.tokenID, Use: useAccess}
	c.Subject = id.user
	if service != "" {
		c.Audience = jwt.Audience{service}
	}
	tok, err := a.sign.issue(c, now, a.tokenTTL)
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	resp := tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(a.tokenTTL / time.Second),
		IssuedAt: now.UTC().Format(time.RFC3339), Scope: scopeString(granted)}
	if offline {
		rc := claims{TokenID: id.tokenID, Use: useRefresh}
		rc.Subject = id.user
		if id.tokenID == "" {
			rc.PasswordTag = id.passwordTag
		}
		if resp.RefreshToken, err = a.sign.issue(rc, now, a.refTTL); err != nil {
			a.internalError(w, r, err)
			return
		}
	}
	a.recordLogin(r, id, fmt.Sprintf("%s; asked %q, granted %q", via, scopeString(asked), scopeString(granted)))
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// grant returns the asked scopes that parse and, of them, what id may have.
// Scopes that do not parse grant nothing; they do not fail the request.
func (a *Auth) grant(r *http.Request, id identity, params []string) (asked, granted []Access, err error) {
	n := 0
	for _, p := range params {
		for s := range strings.FieldsSeq(p) {
			if n++; n > MaxScopes {
				break
			}
			acc, perr := ParseScope(s, false)
			if perr != nil {
				a.log.Debug("auth: token request with an invalid scope", "scope", clip(s), "err", perr)
				continue
			}
			asked = mergeAccess(asked, acc)
		}
	}
	for _, acc := range asked {
		var acts []string
		for _, act := range acc.Actions {
			ok, err := a.may(r.Context(), id, acc.Type, acc.Name, act)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				acts = append(acts, act)
			}
		}
		if len(acts) > 0 {
			granted = append(granted, Access{Type: acc.Type, Name: acc.Name, Actions: acts})
		}
	}
	return asked, granted, nil
}

// checkRefresh verifies a refresh token: signed by this registry, not
// expired, its user and API token still there, and for a password login
// the password unchanged since.
func (a *Auth) checkRefresh(r *http.Request, raw string) (identity, error) {
	now := a.now()
	addr := clientAddr(r)
	if wait := a.throttle.refusal("(refresh)", addr, now); wait > 0 {
		return identity{}, &ThrottledError{RetryAfter: wait}
	}
	fail := func(err error) (identity, error) {
		a.throttle.fail("(refresh)", addr, now)
		a.log.Warn("login failed", "addr", addr, "credentials", "refresh token", "reason", err)
		a.record(r, storage.AccessRecord{Action: storage.ActionLogin, Result: storage.ResultRefused,
			Status: http.StatusUnauthorized, Detail: "refresh token: " + err.Error()})
		return identity{}, err
	}
	a.pollRevision(r.Context())
	c, err := a.sign.verify(raw, now, useRefresh)
	if err != nil {
		return fail(err)
	}
	id, err := a.identityOf(r.Context(), c, false)
	if err != nil {
		if errors.Is(err, ErrCredentials) {
			return fail(err)
		}
		return identity{}, err
	}
	if c.TokenID == "" && c.PasswordTag != id.passwordTag {
		return fail(fmt.Errorf("%w: the password changed", ErrCredentials))
	}
	return id, nil
}
