package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/storage"
)

// Admin calls the account API of a running registry (/_cairn/admin and
// /_cairn/tokens) with the credential its Client carries. Most calls need
// an administrator (admin on **); the token calls serve anyone for their
// own tokens.
type Admin struct {
	// Client sends the requests; nil means DefaultClient().
	Client remote.Client
	// Base is the scheme and host, e.g. "http://127.0.0.1:5000".
	Base string
}

// maxAdminAnswer bounds an answer of the admin API.
const maxAdminAnswer = 16 << 20

// AccessLogPath is the admin endpoint of the access log.
const AccessLogPath = "/_cairn/admin/log"

// APIError is a refusal of the admin API: errors.Is(err, ErrUnauthorized)
// holds for a 401, errors.Is(err, ErrForbidden) for a 403.
type APIError struct {
	Method, Path string
	// Status is the HTTP status line, e.g. "403 Forbidden".
	Status string
	Code   int
	// Message is the server's error message (or its answer's body).
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.Method, e.Path, e.Status, e.Message)
}

// Is matches ErrUnauthorized and ErrForbidden by status.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && e.Code == http.StatusUnauthorized ||
		target == ErrForbidden && e.Code == http.StatusForbidden
}

// unauthorized is a transport error of the token flow that says 401: it
// reads as its cause and matches ErrUnauthorized.
type unauthorized struct{ err error }

func (e unauthorized) Error() string   { return e.err.Error() }
func (e unauthorized) Unwrap() []error { return []error{e.err, ErrUnauthorized} }

func (a *Admin) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := a.Client
	if c == nil {
		c = DefaultClient()
	}
	resp, err := c.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "unauthorized") {
			return unauthorized{err}
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			msg = e.Errors[0].Message
		}
		return &APIError{Method: method, Path: path, Status: resp.Status, Code: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
}

// Users lists the users and their roles.
func (a *Admin) Users(ctx context.Context) ([]auth.UserInfo, error) {
	var out struct {
		Users []auth.UserInfo `json:"users"`
	}
	err := a.call(ctx, http.MethodGet, "/_cairn/admin/users", nil, &out)
	return out.Users, err
}

// AddUser adds a user with no roles.
func (a *Admin) AddUser(ctx context.Context, name, password string) error {
	return a.call(ctx, http.MethodPost, "/_cairn/admin/users", auth.NewUser{Name: name, Password: password}, nil)
}

// RemoveUser removes a user, with its roles and API tokens.
func (a *Admin) RemoveUser(ctx context.Context, name string) error {
	return a.call(ctx, http.MethodDelete, "/_cairn/admin/users/"+url.PathEscape(name), nil, nil)
}

// SetPassword sets a user's password.
func (a *Admin) SetPassword(ctx context.Context, name, password string) error {
	return a.call(ctx, http.MethodPut, "/_cairn/admin/users/"+url.PathEscape(name)+"/password", auth.NewPassword{Password: password}, nil)
}

// Grant gives g.User the role g.Role on g.Pattern and returns the grant
// as stored.
func (a *Admin) Grant(ctx context.Context, g auth.GrantInfo) (auth.GrantInfo, error) {
	var out auth.GrantInfo
	err := a.call(ctx, http.MethodPut, "/_cairn/admin/grants", g, &out)
	return out, err
}

// Revoke removes user's grant on pattern.
func (a *Admin) Revoke(ctx context.Context, user, pattern string) error {
	q := url.Values{"user": {user}, "pattern": {pattern}}
	return a.call(ctx, http.MethodDelete, "/_cairn/admin/grants?"+q.Encode(), nil, nil)
}

// Grants lists the grants of user, or of everyone when user is "".
func (a *Admin) Grants(ctx context.Context, user string) ([]auth.GrantInfo, error) {
	path := "/_cairn/admin/grants"
	if user != "" {
		path += "?" + url.Values{"user": {user}}.Encode()
	}
	var out struct {
		Grants []auth.GrantInfo `json:"grants"`
	}
	err := a.call(ctx, http.MethodGet, path, nil, &out)
	return out.Grants, err
}

// CreateToken creates an API token for the caller; the answer holds the
// token itself, which the server never shows again.
func (a *Admin) CreateToken(ctx context.Context, t auth.NewToken) (auth.CreatedToken, error) {
	var out auth.CreatedToken
	err := a.call(ctx, http.MethodPost, "/_cairn/tokens", t, &out)
	return out, err
}

// Tokens lists the caller's API tokens, or user's, or everyone's with all
// (the last two for administrators).
func (a *Admin) Tokens(ctx context.Context, user string, all bool) ([]auth.TokenInfo, error) {
	q := url.Values{}
	if all {
		q.Set("all", "true")
	}
	if user != "" {
		q.Set("user", user)
	}
	path := "/_cairn/tokens"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Tokens []auth.TokenInfo `json:"tokens"`
	}
	err := a.call(ctx, http.MethodGet, path, nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes an API token by id.
func (a *Admin) RevokeToken(ctx context.Context, id string) error {
	return a.call(ctx, http.MethodDelete, "/_cairn/tokens/"+url.PathEscape(id), nil, nil)
}

// Sessions lists the live web UI sessions of user, or of everyone when
// user is "".
func (a *Admin) Sessions(ctx context.Context, user string) ([]auth.SessionInfo, error) {
	path := "/_cairn/admin/sessions"
	if user != "" {
		path += "?user=" + url.QueryEscape(user)
	}
	var out struct {
		Sessions []auth.SessionInfo `json:"sessions"`
	}
	err := a.call(ctx, http.MethodGet, path, nil, &out)
	return out.Sessions, err
}

// RevokeSessions ends every web UI session of user and returns how many
// there were.
func (a *Admin) RevokeSessions(ctx context.Context, user string) (int, error) {
	var out auth.RevokedSessions
	err := a.call(ctx, http.MethodDelete, "/_cairn/admin/sessions?user="+url.QueryEscape(user), nil, &out)
	return out.Revoked, err
}

// AccessLog calls fn with the access log's records that f selects, newest
// first, reading a page at a time; f.Limit 0 means all of them.
func (a *Admin) AccessLog(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error {
	left := f.Limit
	for {
		page := f
		page.Limit = accesslog.MaxPageSize
		if left > 0 {
			page.Limit = min(left, accesslog.MaxPageSize)
		}
		var p accesslog.Page
		if err := a.call(ctx, http.MethodGet, AccessLogPath+"?"+accesslog.Query(page).Encode(), nil, &p); err != nil {
			return err
		}
		for _, rec := range p.Records {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if left > 0 {
			if left -= len(p.Records); left <= 0 {
				return nil
			}
		}
		if p.Next == 0 || len(p.Records) == 0 {
			return nil
		}
		f.Before = p.Next
	}
}

// VerifyAccessLog asks the server to check its access log's hash chain.
func (a *Admin) VerifyAccessLog(ctx context.Context) (storage.AccessChainState, error) {
	var st storage.AccessChainState
	err := a.call(ctx, http.MethodGet, AccessLogPath+"/verify", nil, &st)
	return st, err
}
