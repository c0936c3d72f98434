package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

// FuzzParseScope: no panic; what parses formats back to a scope that
// parses to the same thing.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:a/b:pull,push", "repository(plugin):x:*", "registry:catalog:*", "repository:team-a/*:pull", "a:b:c:d", "::", "repository:**:delete"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, patterns bool) {
		a, err := ParseScope(s, patterns)
		if err != nil {
			return
		}
		b, err := ParseScope(a.String(), patterns)
		if err != nil || b.String() != a.String() {
			t.Fatalf("%q -> %s -> %v %v", s, a, b, err)
		}
		if a.Type == TypeRepository && !patterns && strings.ContainsAny(a.Name, "*") {
			t.Fatalf("a pattern in a request scope: %q", s)
		}
	})
}

// FuzzMatch: no panic, bounded time, and a pattern without "*" matches only
// itself.
func FuzzMatch(f *testing.F) {
	f.Add("team-a/*", "team-a/m")
	f.Add("**/x/**/y", "a/x/b/c/y")
	f.Add("a*b*c*d*e*f", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("**/**/**/**/**/z", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/b")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 255 || len(name) > 255 {
			return
		}
		got := Match(pattern, name)
		if !strings.Contains(pattern, "*") && got != (pattern == name) {
			t.Fatalf("Match(%q, %q) = %v", pattern, name, got)
		}
		if ValidPattern(pattern) && pattern == name && !got {
			t.Fatalf("a pattern does not match itself: %q", pattern)
		}
	})
}

// FuzzVerifyToken: random input never verifies; no panic.
func FuzzVerifyToken(f *testing.F) {
	s := testSigner(f)
	c := claims{Use: useAccess, Access: []Access{{Type: TypeRepository, Name: "a", Actions: []string{ActionPull}}}}
	c.Subject = "alice"
	now := time.Unix(1_800_000_000, 0)
	good, _ := s.issue(c, now, time.Hour)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 100))
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := s.verify(raw, now, useAccess)
		if err == nil && raw != good {
			// A different string may still carry the same signed bytes
			// (base64 with ignored trailing bits): it must say the same.
			if got.Subject != "alice" || len(got.Access) != 1 || got.Access[0].String() != "repository:a:pull" {
				t.Fatalf("forged token verified: %q -> %+v", raw, got)
			}
		}
	})
}

// FuzzParseChallenge: no panic; a parsed challenge has a lower-case scheme.
func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer realm="https://h/token",service="h",scope="repository:a:pull"`)
	f.Add(`Basic realm="x\"y"`)
	f.Add(`Bearer realm=`)
	f.Fuzz(func(t *testing.T, h string) {
		scheme, _, err := ParseChallenge(h)
		if err == nil && scheme != strings.ToLower(scheme) {
			t.Fatalf("scheme %q", scheme)
		}
	})
}

// fuzzServer is an Auth over a real database with one user, in front of a
// handler that records whether it was reached.
func fuzzServer(f *testing.F) (*Auth, http.Handler, *bool) {
	db, err := meta.Open(filepath.Join(f.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := (Bootstrap{Password: "admin-password", Cost: 4}).Ensure(ctx, db); err != nil {
		f.Fatal(err)
	}
	a, err := New(ctx, Config{Accounts: db, Meta: db, PasswordCost: 4, Logger: discardLogger(),
		Throttle: Throttle{PairBurst: 1 << 30, UserBurst: 1 << 30, AddrBurst: 1 << 30}})
	if err != nil {
		f.Fatal(err)
	}
	reached := new(bool)
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { *reached = true }))
	return a, h, reached
}

// FuzzAuthorizationHeader: any Authorization header on a pull either is
// refused or authenticates as the one real user (admin).
func FuzzAuthorizationHeader(f *testing.F) {
	_, h, reached := fuzzServer(f)
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin-password")))
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("admin:wrong")))
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("x:cairn_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")))
	f.Add("Basic !!!")
	f.Add("Bearer a.b.c")
	f.Add("Digest x")
	f.Add("Bearer cairn_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, header string) {
		*reached = false
		req := httptest.NewRequest("GET", "/v2/a/b/manifests/latest", nil)
		req.Header.Set("Authorization", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if *reached {
			user, pass, ok := req.BasicAuth()
			if !ok || user != "admin" || pass != "admin-password" {
				t.Fatalf("header %q reached the registry (%d)", header, w.Code)
			}
		}
	})
}

// FuzzTokenRequest: any query and form on the token endpoint answers
// without a panic and grants nothing without the password.
func FuzzTokenRequest(f *testing.F) {
	_, h, _ := fuzzServer(f)
	f.Add("service=h&scope=repository:a:pull", "grant_type=password&username=admin&password=x")
	f.Add("scope=registry:catalog:*&offline_token=true", "grant_type=refresh_token&refresh_token=a.b.c")
	f.Add("scope=%zz", "scope=repository:a:pull%20repository:b:push&grant_type=password")
	f.Fuzz(func(t *testing.T, query, form string) {
		for _, req := range []*http.Request{
			httptest.NewRequest("GET", "/token?"+url.PathEscape(query), nil),
			httptest.NewRequest("POST", "/token?"+url.PathEscape(query), strings.NewReader(form)),
		} {
			if req.Method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == http.StatusOK && !strings.Contains(form, "admin-password") {
				t.Fatalf("token granted: GET/POST %q %q: %s", query, form, w.Body)
			}
		}
	})
}

// FuzzAdminJSON: admin API bodies never panic the handlers, and what is
// accepted follows the rules.
func FuzzAdminJSON(f *testing.F) {
	a, h, _ := fuzzServer(f)
	f.Add("/_cairn/admin/users", `{"name":"alice","password":"password-1"}`)
	f.Add("/_cairn/admin/grants", `{"user":"admin","pattern":"team-a/*","role":"read"}`)
	f.Add("/_cairn/tokens", `{"name":"ci","scopes":["repository:a/*:pull"],"expiresIn":3600}`)
	f.Add("/_cairn/admin/users/admin/password", `{"password":"`+strings.Repeat("x", 80)+`"}`)
	f.Add("/_cairn/tokens", `{"scopes":["registry:catalog:*"],"expiresIn":-1}`)
	f.Fuzz(func(t *testing.T, path, body string) {
		for _, method := range []string{"POST", "PUT"} {
			req := httptest.NewRequest(method, "http://h"+"/_cairn/admin/users", bytes.NewReader([]byte(body)))
			if u, err := url.Parse("http://h" + path); err == nil && (strings.HasPrefix(u.Path, "/_cairn/admin/") || strings.HasPrefix(u.Path, "/_cairn/tokens")) {
				req.URL = u
			}
			req.SetBasicAuth("admin", "admin-password")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == http.StatusCreated && req.URL.Path == "/_cairn/admin/users" {
				var nu NewUser
				if DecodeJSON([]byte(body), &nu) != nil || !ValidUserName(nu.Name) || len(nu.Password) < MinPasswordLength || len(nu.Password) > MaxPasswordLength {
					t.Fatalf("user accepted from %q", body)
				}
			}
		}
		// Whatever happened, the grants in the store are valid.
		gs, _ := a.accounts.Grants(context.Background(), "")
		for _, g := range gs {
			if !ValidPattern(g.Pattern) || !ValidRole(g.Role) {
				t.Fatalf("invalid grant stored: %+v (from %q %q)", g, path, body)
			}
		}
		var ts []storage.APIToken
		ts, _ = a.accounts.Tokens(context.Background(), "")
		for _, tok := range ts {
			if len(tok.Scopes) == 0 || len(tok.Scopes) > MaxScopes {
				t.Fatalf("token stored with %d scopes", len(tok.Scopes))
			}
			for _, s := range tok.Scopes {
				if _, err := ParseScope(s, true); err != nil {
					t.Fatalf("token stored with scope %q", s)
				}
			}
		}
	})
}
