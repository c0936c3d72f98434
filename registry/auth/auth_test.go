package auth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

// TestAuth_Anonymous: with auth on, a request without credentials gets 401
// with a Bearer challenge naming the scope it needs, and nothing happens.
func TestAuth_Anonymous(t *testing.T) {
	s := newServer(t, auth.Config{})
	img := s.pushImage(t, "team-a/m", "v1", []byte("weights"), nil)
	for _, tc := range []struct {
		method, path, scope string
	}{
		{"GET", "/v2/", ""},
		{"GET", "/v2/team-a/m/manifests/v1", "repository:team-a/m:pull"},
		{"HEAD", "/v2/team-a/m/manifests/v1", "repository:team-a/m:pull"},
		{"GET", "/v2/team-a/m/blobs/" + img.Layer.String(), "repository:team-a/m:pull"},
		{"GET", "/v2/team-a/m/tags/list", "repository:team-a/m:pull"},
		{"GET", "/v2/team-a/m/referrers/" + img.Manifest.String(), "repository:team-a/m:pull"},
		{"GET", "/v2/team-a/m/_cairn/history", "repository:team-a/m:pull"},
		{"GET", "/v2/_catalog", "registry:catalog:*"},
		{"POST", "/v2/team-a/m/blobs/uploads/", "repository:team-a/m:pull,push"},
		{"POST", "/v2/team-a/new/blobs/uploads/?mount=" + img.Layer.String() + "&from=team-a/m", "repository:team-a/new:pull,push repository:team-a/m:pull"},
		{"PUT", "/v2/team-a/m/manifests/v2", "repository:team-a/m:pull,push"},
		{"DELETE", "/v2/team-a/m/manifests/" + img.Manifest.String(), "repository:team-a/m:delete"},
		{"GET", "/_cairn/admin/users", "registry:admin:*"},
		{"GET", "/_cairn/tokens", "registry:tokens:*"},
	} {
		code, h, body := s.do(t, tc.method, tc.path, "", "", nil)
		if code != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401", tc.method, tc.path, code)
			continue
		}
		scheme, p, err := auth.ParseChallenge(h.Get("WWW-Authenticate"))
		if err != nil || scheme != "bearer" || p["realm"] != s.URL+"/token" || p["service"] != s.Host || p["scope"] != tc.scope {
			t.Errorf("%s %s: challenge %q (%v), want realm %s/token, service %s, scope %q", tc.method, tc.path, h.Get("WWW-Authenticate"), err, s.URL, s.Host, tc.scope)
		}
		if tc.method != "HEAD" && !bytes.Contains(body, []byte(`"UNAUTHORIZED"`)) {
			t.Errorf("%s %s: body %s", tc.method, tc.path, body)
		}
	}
	// Nothing was deleted or pushed; the token endpoint gives nothing
	// without credentials.
	if _, err := s.Meta.Manifest(t.Context(), "team-a/m", img.Manifest); err != nil {
		t.Errorf("manifest gone: %v", err)
	}
	if _, err := s.Meta.Tags(t.Context(), "team-a/new", "", 0); !errors.Is(err, storage.ErrNameUnknown) {
		t.Errorf("the mount target exists: %v", err)
	}
	if code, h, _ := s.do(t, "GET", "/token?service="+s.Host+"&scope=repository:team-a/m:pull", "", "", nil); code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("anonymous token request: %d %q", code, h.Get("WWW-Authenticate"))
	}
	// An anonymous oras-go client fails as a client sees it.
	repo := s.repo(t, "team-a/m", orasauth.EmptyCredential)
	if _, err := repo.Resolve(t.Context(), "v1"); !refusedErr(err) {
		t.Errorf("anonymous Resolve: %v", err)
	}
	// Anonymous pulls are recorded as denials (the ping is not).
	if n := len(s.Rec.find(func(r storage.AccessRecord) bool {
		return r.Action == storage.ActionDenied && r.Principal == "anonymous" && r.Repository == "team-a/m" && r.Status == 401
	})); n == 0 {
		t.Error("no access record of the anonymous pull")
	}
	if n := len(s.Rec.find(func(r storage.AccessRecord) bool {
		return r.Principal == "anonymous" && r.Repository == "" && r.Action == storage.ActionDenied && strings.Contains(r.Detail, "GET /v2/ ")
	})); n != 0 {
		t.Errorf("%d access records of the anonymous ping", n)
	}
}

// TestAuth_TokenLifetime: an expired or revoked API token is refused at
// once, also through a bearer token exchanged for it before, and so is a
// bearer token of a user whose grant or account went away.
func TestAuth_TokenLifetime(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.pushImage(t, "team-a/m", "v1", []byte("weights"), nil)
	s.addUser(t, "alice", "alice-password", "team-a/*", "read")
	ctx := t.Context()
	pull := func(cred orasauth.Credential) error {
		_, err := s.repo(t, "team-a/m", cred).Resolve(ctx, "v1")
		return err
	}
	get := func(bearer string) int {
		code, _, _ := s.do(t, "GET", "/v2/team-a/m/manifests/v1", "", "", nil, "Authorization", "Bearer "+bearer, "Accept", ocispec.MediaTypeImageManifest)
		return code
	}

	// Expiry: a token for 3 minutes, exchanged for a 5-minute bearer token.
	short := s.createToken(t, "alice", "alice-password", 3*time.Minute, "repository:team-a/*:pull")
	if err := pull(orasauth.Credential{Username: "x", Password: short.Token}); err != nil {
		t.Fatalf("pull with a fresh token: %v", err)
	}
	jwt := s.bearer(t, "x", short.Token, "repository:team-a/m:pull")
	if code := get(jwt); code != 200 {
		t.Fatalf("bearer token of the API token: %d", code)
	}
	s.Clock.Add(4 * time.Minute)
	if err := pull(orasauth.Credential{Username: "x", Password: short.Token}); !refusedErr(err) {
		t.Errorf("pull with an expired API token: %v", err)
	}
	if code := get(jwt); code != 401 {
		t.Errorf("bearer token (still within its 5 minutes) of an expired API token: %d, want 401", code)
	}
	s.Clock.Add(2 * time.Minute)
	jwt2 := s.bearer(t, "alice", "alice-password", "repository:team-a/m:pull")
	s.Clock.Add(5*time.Minute + time.Second)
	if code := get(jwt2); code != 401 {
		t.Errorf("expired bearer token: %d, want 401", code)
	}

	// Revocation.
	tok := s.createToken(t, "alice", "alice-password", 0, "repository:team-a/*:pull")
	jwt = s.bearer(t, "x", tok.Token, "repository:team-a/m:pull")
	if code := get(jwt); code != 200 {
		t.Fatalf("bearer token of a new API token: %d", code)
	}
	if code, _, b := s.do(t, "DELETE", "/_cairn/tokens/"+tok.ID, "alice", "alice-password", nil); code != 204 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	if code := get(jwt); code != 401 {
		t.Errorf("bearer token of a revoked API token: %d, want 401", code)
	}
	if err := pull(orasauth.Credential{Username: "x", Password: tok.Token}); !refusedErr(err) {
		t.Errorf("pull with a revoked API token: %v", err)
	}
	if code, _, _ := s.do(t, "GET", "/v2/team-a/m/tags/list", "x", tok.Token, nil); code != 401 {
		t.Errorf("Basic with a revoked API token: %d, want 401", code)
	}

	// A revoked grant ends a bearer token's access at once; a deleted user
	// ends the token.
	jwt = s.bearer(t, "alice", "alice-password", "repository:team-a/m:pull")
	if code := get(jwt); code != 200 {
		t.Fatalf("alice's bearer token: %d", code)
	}
	if code := s.admin(t, "DELETE", "/_cairn/admin/grants?user=alice&pattern="+url.QueryEscape("team-a/*"), nil, nil); code != 204 {
		t.Fatalf("revoke grant: %d", code)
	}
	if code := get(jwt); code != 403 {
		t.Errorf("bearer token after its grant was revoked: %d, want 403", code)
	}
	if code := s.admin(t, "DELETE", "/_cairn/admin/users/alice", nil, nil); code != 204 {
		t.Fatalf("remove alice: %d", code)
	}
	if code := get(jwt); code != 401 {
		t.Errorf("bearer token of a deleted user: %d, want 401", code)
	}
	// A token signed by another registry is refused.
	other := newServer(t, auth.Config{})
	foreign := other.bearer(t, "admin", adminPassword, "repository:team-a/m:pull")
	if code := get(foreign); code != 401 {
		t.Errorf("another registry's token: %d, want 401", code)
	}
}

// TestAuth_Throttle: 40 wrong passwords in a row from one address get 429
// answers with Retry-After after the first few; the right password from
// that address is refused too while the window lasts, and works after it.
func TestAuth_Throttle(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "alice", "alice-password", "**", "read")
	tokenURL := "/token?service=" + s.Host + "&scope=repository:a/b:pull"
	var codes []int
	retry := 0
	for range 40 {
		code, h, _ := s.do(t, "GET", tokenURL, "alice", "wrong-password", nil)
		codes = append(codes, code)
		if code == 429 {
			retry, _ = strconv.Atoi(h.Get("Retry-After"))
		}
	}
	n429 := 0
	for i, c := range codes {
		switch {
		case i < auth.DefaultPairBurst && c != 401:
			t.Errorf("attempt %d: %d, want 401 within the budget", i+1, c)
		case i >= auth.DefaultPairBurst && c != 429:
			t.Errorf("attempt %d: %d, want 429", i+1, c)
		}
		if c == 429 {
			n429++
		}
	}
	if retry < 1 || retry > int(auth.DefaultPairEvery/time.Second) {
		t.Errorf("Retry-After %d, want 1 to %d", retry, int(auth.DefaultPairEvery/time.Second))
	}
	t.Logf("40 wrong passwords: %d answered 401, %d answered 429 (Retry-After %ds)", 40-n429, n429, retry)
	// The right password from that address, during the window: 429 too
	// (the password is not even checked), on every way to log in.
	if code, _, _ := s.do(t, "GET", tokenURL, "alice", "alice-password", nil); code != 429 {
		t.Errorf("right password during the window: %d, want 429", code)
	}
	if code, _, _ := s.do(t, "GET", "/v2/", "alice", "alice-password", nil); code != 429 {
		t.Errorf("Basic on /v2/ during the window: %d, want 429", code)
	}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "service": {s.Host}}
	if code, _, _ := s.do(t, "POST", "/token", "", "", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded"); code != 429 {
		t.Errorf("POST /token during the window: %d, want 429", code)
	}
	// Another user from the same address is not locked out.
	if code, _, _ := s.do(t, "GET", tokenURL, "admin", adminPassword, nil); code != 200 {
		t.Errorf("admin during alice's window: %d", code)
	}
	s.Clock.Add(auth.DefaultPairEvery)
	if code, _, b := s.do(t, "GET", tokenURL, "alice", "alice-password", nil); code != 200 {
		t.Errorf("right password after the window: %d %s", code, b)
	}
	// Logged and recorded.
	if n := len(s.Rec.find(func(r storage.AccessRecord) bool {
		return r.Action == storage.ActionLogin && r.Result == storage.ResultRefused && r.Principal == "alice" && r.Status == 429
	})); n < 30 {
		t.Errorf("%d throttled logins recorded, want >= 30", n)
	}
	if n := len(s.Rec.find(func(r storage.AccessRecord) bool {
		return r.Action == storage.ActionLogin && r.Result == storage.ResultRefused && r.Detail == "wrong password"
	})); n != auth.DefaultPairBurst {
		t.Errorf("%d wrong passwords recorded, want %d", n, auth.DefaultPairBurst)
	}

	// Per address: failures spread over many user names.
	s2 := newServer(t, auth.Config{Throttle: auth.Throttle{AddrBurst: 5, AddrEvery: time.Minute}})
	for i := range 5 {
		s2.do(t, "GET", "/v2/", "user"+strconv.Itoa(i), "wrong-password", nil)
	}
	if code, h, _ := s2.do(t, "GET", "/v2/", "someone-else", "wrong-password", nil); code != 429 || h.Get("Retry-After") == "" {
		t.Errorf("sixth failure from one address: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
}

// TestAuth_TokenEndpoint: GET and POST (password and refresh_token
// grants), the granted subset of the asked scope, refresh tokens dying with
// the password.
func TestAuth_TokenEndpoint(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "bob", "bob-password", "team-a/*", "read", "team-b/**", "write")
	type answer struct {
		Token, AccessToken, RefreshToken, Scope string
		ExpiresIn                               int
	}
	decode := func(b []byte) answer {
		var raw struct {
			Token        string `json:"token"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
			ExpiresIn    int    `json:"expires_in"`
		}
		json.Unmarshal(b, &raw)
		return answer{raw.Token, raw.AccessToken, raw.RefreshToken, raw.Scope, raw.ExpiresIn}
	}
	q := url.Values{"service": {s.Host}, "scope": {"repository:team-a/m:pull,push,delete", "repository:team-b/x/y:*", "repository:other/z:pull", "registry:catalog:* registry:admin:*", "bogus"}}
	code, h, b := s.do(t, "GET", "/token?"+q.Encode(), "bob", "bob-password", nil)
	a := decode(b)
	if code != 200 || a.Token == "" || a.Token != a.AccessToken || a.ExpiresIn != 300 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /token: %d %s (Cache-Control %q)", code, b, h.Get("Cache-Control"))
	}
	if want := "repository:team-a/m:pull repository:team-b/x/y:pull,push registry:catalog:*"; a.Scope != want {
		t.Errorf("granted %q, want %q", a.Scope, want)
	}
	if a.RefreshToken != "" {
		t.Error("a refresh token without offline_token=true")
	}
	// POST, password grant, offline: a refresh token.
	post := func(form url.Values) (int, answer, []byte) {
		code, _, b := s.do(t, "POST", "/token", "", "", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
		return code, decode(b), b
	}
	code, a, b = post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-password"}, "service": {s.Host},
		"client_id": {"test"}, "access_type": {"offline"}, "scope": {"repository:team-a/m:pull repository:team-b/x:push"}})
	if code != 200 || a.AccessToken == "" || a.RefreshToken == "" || a.Scope != "repository:team-a/m:pull repository:team-b/x:push" {
		t.Fatalf("POST password grant: %d %s", code, b)
	}
	refresh := a.RefreshToken
	code, a, b = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {s.Host}, "scope": {"repository:team-b/x:pull"}})
	if code != 200 || a.AccessToken == "" || a.Scope != "repository:team-b/x:pull" {
		t.Fatalf("POST refresh grant: %d %s", code, b)
	}
	// The refresh token is not an access token, nor the other way round.
	if code, _, _ := s.do(t, "GET", "/v2/team-b/x/tags/list", "", "", nil, "Authorization", "Bearer "+refresh); code != 401 {
		t.Errorf("refresh token as a bearer token: %d", code)
	}
	if code, _, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.AccessToken}}); code != 401 {
		t.Errorf("access token as a refresh token: %d", code)
	}
	if code, _, _ := post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"nope-nope"}}); code != 401 {
		t.Errorf("wrong password grant: %d", code)
	}
	if code, _, b := post(url.Values{"grant_type": {"client_credentials"}}); code != 400 || !bytes.Contains(b, []byte("unsupported_grant_type")) {
		t.Errorf("unknown grant: %d %s", code, b)
	}
	if code, _, _ := s.do(t, "PUT", "/token", "bob", "bob-password", nil); code != 405 {
		t.Errorf("PUT /token: %d", code)
	}
	// A new password ends the refresh tokens issued under the old one.
	if code := s.admin(t, "PUT", "/_cairn/admin/users/bob/password", auth.NewPassword{Password: "bob-new-password"}, nil); code != 204 {
		t.Fatalf("passwd: %d", code)
	}
	if code, _, _ := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); code != 401 {
		t.Errorf("refresh token after a password change: %d, want 401", code)
	}
	if code, _, _ := s.do(t, "GET", "/token?service="+s.Host, "bob", "bob-password", nil); code != 401 {
		t.Errorf("old password after the change: %d, want 401", code)
	}
	if code, _, _ := s.do(t, "GET", "/token?service="+s.Host, "bob", "bob-new-password", nil); code != 200 {
		t.Errorf("new password: %d", code)
	}
	// oras-go with a refresh token in the credential uses the OAuth2 flow.
	code, a, _ = post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-new-password"}, "access_type": {"offline"}, "service": {s.Host}})
	if code != 200 {
		t.Fatal(code)
	}
	s.pushImage(t, "team-b/x", "v1", []byte("x"), nil)
	if _, err := s.repo(t, "team-b/x", orasauth.Credential{RefreshToken: a.RefreshToken}).Resolve(t.Context(), "v1"); err != nil {
		t.Errorf("oras-go with a refresh token: %v", err)
	}
	// An unknown user costs the same answer as a wrong password.
	if code, _, _ := s.do(t, "GET", "/token?service="+s.Host, "nobody", "whatever-pass", nil); code != 401 {
		t.Errorf("unknown user: %d", code)
	}
}

// TestAuth_AdminAPI covers the admin and token APIs' rules.
func TestAuth_AdminAPI(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "alice", "alice-password", "team-a/*", "admin")
	body := func(v any) []byte { b, _ := json.Marshal(v); return b }
	for _, tc := range []struct {
		name, method, path, user, pass string
		body                           []byte
		want                           int
	}{
		{"non-admin lists users", "GET", "/_cairn/admin/users", "alice", "alice-password", nil, 403},
		{"non-admin adds a user", "POST", "/_cairn/admin/users", "alice", "alice-password", body(auth.NewUser{Name: "eve", Password: "eve-password"}), 403},
		{"duplicate user", "POST", "/_cairn/admin/users", "admin", adminPassword, body(auth.NewUser{Name: "alice", Password: "alice-password"}), 409},
		{"invalid user name", "POST", "/_cairn/admin/users", "admin", adminPassword, body(auth.NewUser{Name: "a:b", Password: "password-1"}), 400},
		{"short password", "POST", "/_cairn/admin/users", "admin", adminPassword, body(auth.NewUser{Name: "eve", Password: "short"}), 400},
		{"long password", "POST", "/_cairn/admin/users", "admin", adminPassword, body(auth.NewUser{Name: "eve", Password: strings.Repeat("x", 73)}), 400},
		{"unknown field", "POST", "/_cairn/admin/users", "admin", adminPassword, []byte(`{"name":"eve","password":"password-1","admin":true}`), 400},
		{"trailing data", "POST", "/_cairn/admin/users", "admin", adminPassword, []byte(`{"name":"eve","password":"password-1"}{}`), 400},
		{"not JSON", "POST", "/_cairn/admin/users", "admin", adminPassword, []byte(`name=eve`), 400},
		{"body too large", "POST", "/_cairn/admin/users", "admin", adminPassword, append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), 70<<10)...), 400},
		{"bad pattern", "PUT", "/_cairn/admin/grants", "admin", adminPassword, body(auth.GrantInfo{User: "alice", Pattern: "team-a//x", Role: "read"}), 400},
		{"bad role", "PUT", "/_cairn/admin/grants", "admin", adminPassword, body(auth.GrantInfo{User: "alice", Pattern: "x", Role: "owner"}), 400},
		{"grant to nobody", "PUT", "/_cairn/admin/grants", "admin", adminPassword, body(auth.GrantInfo{User: "nobody", Pattern: "x", Role: "read"}), 404},
		{"remove the last admin", "DELETE", "/_cairn/admin/users/admin", "admin", adminPassword, nil, 409},
		{"revoke the last admin grant", "DELETE", "/_cairn/admin/grants?user=admin&pattern=**", "admin", adminPassword, nil, 409},
		{"downgrade the last admin", "PUT", "/_cairn/admin/grants", "admin", adminPassword, body(auth.GrantInfo{User: "admin", Pattern: "**", Role: "write"}), 409},
		{"revoke an unknown grant", "DELETE", "/_cairn/admin/grants?user=alice&pattern=nope", "admin", adminPassword, nil, 404},
		{"remove an unknown user", "DELETE", "/_cairn/admin/users/nobody", "admin", adminPassword, nil, 404},
		{"unknown endpoint", "GET", "/_cairn/admin/nope", "admin", adminPassword, nil, 404},
		{"token with a bad scope", "POST", "/_cairn/tokens", "alice", "alice-password", body(auth.NewToken{Scopes: []string{"repository:team-a/*:write"}}), 400},
		{"token without scopes", "POST", "/_cairn/tokens", "alice", "alice-password", body(auth.NewToken{}), 400},
		{"token making tokens", "POST", "/_cairn/tokens", "alice", "alice-password", body(auth.NewToken{Scopes: []string{"registry:tokens:*"}}), 400},
		{"token with a negative lifetime", "POST", "/_cairn/tokens", "alice", "alice-password", body(auth.NewToken{Scopes: []string{"repository:x:pull"}, ExpiresIn: -1}), 400},
		{"non-admin lists all tokens", "GET", "/_cairn/tokens?all=true", "alice", "alice-password", nil, 403},
	} {
		if code, _, b := s.do(t, tc.method, tc.path, tc.user, tc.pass, tc.body); code != tc.want {
			t.Errorf("%s: %s %s: %d %s, want %d", tc.name, tc.method, tc.path, code, b, tc.want)
		}
	}
	// Tokens: alice's own; admin sees and revokes everyone's; alice cannot
	// revoke admin's; an API token cannot manage tokens nor use the admin
	// API unless its scope says so.
	ta := s.createToken(t, "alice", "alice-password", time.Hour, "repository:team-a/*:pull")
	tadm := s.createToken(t, "admin", adminPassword, 0, "repository:**:pull")
	var list struct{ Tokens []auth.TokenInfo }
	if code, _, b := s.do(t, "GET", "/_cairn/tokens", "alice", "alice-password", nil); code != 200 || json.Unmarshal(b, &list) != nil || len(list.Tokens) != 1 || list.Tokens[0].ID != ta.ID || list.Tokens[0].Expires.IsZero() {
		t.Errorf("alice's tokens: %d %s", code, b)
	}
	if bytes.Contains(mustJSON(list), []byte(ta.Token)) {
		t.Error("the token list shows the secret")
	}
	if code := s.admin(t, "GET", "/_cairn/tokens?all=true", nil, &list); code != 200 || len(list.Tokens) != 2 {
		t.Errorf("all tokens: %d %v", code, list.Tokens)
	}
	if code, _, _ := s.do(t, "DELETE", "/_cairn/tokens/"+tadm.ID, "alice", "alice-password", nil); code != 404 {
		t.Errorf("alice revokes admin's token: %d, want 404", code)
	}
	if code, _, _ := s.do(t, "GET", "/_cairn/tokens", "x", ta.Token, nil); code != 403 {
		t.Errorf("an API token lists tokens: %d, want 403", code)
	}
	if code, _, _ := s.do(t, "GET", "/_cairn/admin/users", "x", tadm.Token, nil); code != 403 {
		t.Errorf("admin's repository token on the admin API: %d, want 403", code)
	}
	tadm2 := s.createToken(t, "admin", adminPassword, 0, "registry:admin:*")
	if code, _, _ := s.do(t, "GET", "/_cairn/admin/users", "x", tadm2.Token, nil); code != 200 {
		t.Errorf("admin's registry:admin:* token on the admin API: %d, want 200", code)
	}
	if code := s.admin(t, "DELETE", "/_cairn/tokens/"+ta.ID, nil, nil); code != 204 {
		t.Errorf("admin revokes alice's token: %d", code)
	}
	// Users list with grants; removing a user takes its tokens.
	var users struct{ Users []auth.UserInfo }
	if code := s.admin(t, "GET", "/_cairn/admin/users", nil, &users); code != 200 || len(users.Users) != 2 ||
		users.Users[1].Name != "alice" || len(users.Users[1].Grants) != 1 || users.Users[1].Grants[0].Role != "admin" {
		t.Errorf("users: %+v", users)
	}
	s.addUser(t, "admin2", "admin2-password", "**", "admin")
	ta2 := s.createToken(t, "admin2", "admin2-password", 0, "repository:**:pull")
	if code := s.admin(t, "DELETE", "/_cairn/admin/users/admin", nil, nil); code != 204 {
		t.Errorf("remove admin while admin2 is an administrator too: %d, want 204", code)
	}
	if code, _, _ := s.do(t, "DELETE", "/_cairn/admin/users/admin2", "admin2", "admin2-password", nil); code != 409 {
		t.Errorf("remove the (now) last admin: %d, want 409", code)
	}
	s.addUser2(t, "admin2", "admin2-password", "temp", "temp-password-1")
	if code, _, _ := s.do(t, "DELETE", "/_cairn/admin/users/temp", "admin2", "admin2-password", nil); code != 204 {
		t.Errorf("remove temp: %d", code)
	}
	if _, err := s.Meta.Token(t.Context(), ta2.ID); err != nil {
		t.Errorf("admin2's token: %v", err)
	}
}

// addUser2 adds a user as another administrator.
func (s *server) addUser2(t *testing.T, admin, adminPass, name, password string) {
	t.Helper()
	b, _ := json.Marshal(auth.NewUser{Name: name, Password: password})
	if code, _, body := s.do(t, "POST", "/_cairn/admin/users", admin, adminPass, b); code != 201 {
		t.Fatalf("add %s: %d %s", name, code, body)
	}
	tok := s.createToken(t, name, password, 0, "repository:x:pull")
	if code, _, _ := s.do(t, "DELETE", "/_cairn/admin/users/"+name, admin, adminPass, nil); code != 204 {
		t.Fatalf("remove %s", name)
	}
	if _, err := s.Meta.Token(t.Context(), tok.ID); !errors.Is(err, storage.ErrTokenUnknown) {
		t.Errorf("a removed user's token is still there: %v", err)
	}
	if code, _, body := s.do(t, "POST", "/_cairn/admin/users", admin, adminPass, b); code != 201 {
		t.Fatalf("add %s again: %d %s", name, code, body)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// TestAuth_Principal: tag history names the user, or token:<id> for an API
// token.
func TestAuth_Principal(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "alice", "alice-password", "team-a/*", "write")
	tok := s.createToken(t, "alice", "alice-password", 0, "repository:team-a/*:pull,push")
	ctx := t.Context()
	push := func(cred orasauth.Credential, tag string) {
		t.Helper()
		repo := s.repo(t, "team-a/m", cred)
		blob := []byte("content " + tag)
		desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digestOf(blob), Size: int64(len(blob))}
		if err := repo.Push(ctx, desc, bytes.NewReader(blob)); err != nil {
			t.Fatal(err)
		}
		man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/octet-stream","digest":"` + desc.Digest.String() + `","size":` + strconv.Itoa(len(blob)) + `},"layers":[]}`)
		if err := repo.PushReference(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digestOf(man), Size: int64(len(man))}, bytes.NewReader(man), tag); err != nil {
			t.Fatal(err)
		}
	}
	push(orasauth.Credential{Username: "alice", Password: "alice-password"}, "by-alice")
	push(orasauth.Credential{Username: "ci", Password: tok.Token}, "by-token")
	moves, err := s.Meta.History(ctx, "team-a/m", "")
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]string{}
	for _, m := range moves {
		by[m.Tag] = m.By
	}
	if by["by-alice"] != "alice" || by["by-token"] != "token:"+tok.ID {
		t.Errorf("history principals: %v", by)
	}
	if n := len(s.Rec.find(func(r storage.AccessRecord) bool {
		return r.Action == storage.ActionToken && r.Principal == "token:"+tok.ID && r.Result == storage.ResultOK && strings.Contains(r.Detail, "alice")
	})); n == 0 {
		t.Error("no access record of the token's use")
	}
}

func digestOf(b []byte) digestT { return digestT(sha(b)) }

// TestSecurityHeaders checks the headers of every kind of answer, with and
// without TLS.
func TestSecurityHeaders(t *testing.T) {
	s := newServer(t, auth.Config{})
	for _, path := range []string{"/v2/", "/token", "/_cairn/admin/users", "/elsewhere"} {
		_, h, _ := s.do(t, "GET", path, "", "", nil)
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, h)
		}
		if csp := h.Get("Content-Security-Policy"); (path != "/elsewhere") != strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if cc := h.Get("Cache-Control"); (path == "/token" || path == "/_cairn/admin/users") != (cc == "no-store") {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS without TLS", path)
		}
	}
}

// TestAuth_TLS: behind TLS the realm is https, HSTS is sent, and an
// oras-go client pulls through the token flow.
func TestAuth_TLS(t *testing.T) {
	dir := t.TempDir()
	blobs, _ := cas.Open(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if _, err := (auth.Bootstrap{Password: adminPassword}).Ensure(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(t.Context(), auth.Config{Accounts: db, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(auth.SecurityHeaders(a.Wrap(reg), true))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	resp, err := srv.Client().Get(srv.URL + "/v2/team-a/m/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, p, _ := auth.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
	if p["realm"] != "https://"+host+"/token" || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("over TLS: realm %q, HSTS %q", p["realm"], resp.Header.Get("Strict-Transport-Security"))
	}
	repo, _ := remote.NewRepository(host + "/team-a/m")
	repo.Client = &orasauth.Client{Client: srv.Client(), Cache: orasauth.NewCache(),
		Credential: orasauth.StaticCredential(host, orasauth.Credential{Username: "admin", Password: adminPassword})}
	blob := []byte("over tls")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digestOf(blob), Size: int64(len(blob))}
	if err := repo.Push(t.Context(), desc, bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	got, err := content.FetchAll(t.Context(), repo.Blobs(), desc)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("pull over TLS: %q %v", got, err)
	}
}

// TestBootstrap: CAIRN_ADMIN_PASSWORD's path, the generated one-time
// credential file (mode 0600), and nothing when users exist.
func TestBootstrap(t *testing.T) {
	open := func() *meta.DB {
		db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	ctx := t.Context()
	db := open()
	if _, err := (auth.Bootstrap{Password: "short"}).Ensure(ctx, db); err == nil {
		t.Error("a 5-byte administrator password was accepted")
	}
	if us, _ := db.Users(ctx); len(us) != 0 {
		t.Errorf("users after a refused bootstrap: %v", us)
	}
	res, err := (auth.Bootstrap{Password: "from-the-environment"}).Ensure(ctx, db)
	if err != nil || !res.Created || res.File != "" {
		t.Fatalf("bootstrap with a password: %+v %v", res, err)
	}
	gs, _ := db.Grants(ctx, "admin")
	if len(gs) != 1 || gs[0].Pattern != "**" || gs[0].Role != "admin" {
		t.Errorf("admin's grants: %v", gs)
	}
	if res, err := (auth.Bootstrap{Password: "another-password"}).Ensure(ctx, db); err != nil || res.Created {
		t.Errorf("second bootstrap: %+v %v", res, err)
	}

	db = open()
	file := filepath.Join(t.TempDir(), "admin-credential")
	os.WriteFile(file, []byte("stale"), 0o644)
	res, err = (auth.Bootstrap{CredentialFile: file}).Ensure(ctx, db)
	if err != nil || !res.Created || res.File != file {
		t.Fatalf("bootstrap with a file: %+v %v", res, err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(file)
	var pass string
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "password: "); ok {
			pass = p
		}
	}
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Wrap(http.NotFoundHandler()))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/_cairn/admin/users", nil)
	req.SetBasicAuth("admin", pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(pass) < 32 || resp.StatusCode != 200 {
		t.Errorf("logging in with the generated password %q: %d", pass, resp.StatusCode)
	}
	if slices.Contains([]string{"", "stale"}, pass) {
		t.Error("no password in the file")
	}
}

// TestAuth_UIAuthorizer: the methods the web UI asks (web.Authorizer).
func TestAuth_UIAuthorizer(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "alice", "alice-password", "team-a/*", "read")
	tok := s.createToken(t, "alice", "alice-password", time.Hour, "repository:team-a/m:pull")
	ctx := auth.WithClientAddr(t.Context(), "192.0.2.1")
	if p, err := s.Auth.Login(ctx, "alice", "alice-password"); err != nil || p != "alice" {
		t.Errorf("Login(alice) = %q, %v", p, err)
	}
	if p, err := s.Auth.Login(ctx, "alice", "wrong-password"); err == nil || p != "" {
		t.Errorf("Login with a wrong password = %q, %v", p, err)
	}
	if p, err := s.Auth.Login(ctx, "x", tok.Token); err != nil || p != "token:"+tok.ID {
		t.Errorf("Login with an API token = %q, %v", p, err)
	}
	for _, tc := range []struct {
		principal, repo string
		want            bool
	}{
		{"alice", "team-a/m", true}, {"alice", "team-a/n", true}, {"alice", "team-b/m", false},
		{"token:" + tok.ID, "team-a/m", true}, {"token:" + tok.ID, "team-a/n", false},
		{"token:0000000000000000", "team-a/m", false}, {"nobody", "team-a/m", false}, {"anonymous", "team-a/m", false},
		{"admin", "anything/at/all", true},
	} {
		if got := s.Auth.CanRead(tc.principal, tc.repo); got != tc.want {
			t.Errorf("CanRead(%s, %s) = %v, want %v", tc.principal, tc.repo, got, tc.want)
		}
	}
	if !s.Auth.IsAdmin("admin") || s.Auth.IsAdmin("alice") || s.Auth.IsAdmin("token:"+tok.ID) {
		t.Error("IsAdmin")
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.SetBasicAuth("alice", "alice-password")
	if p, ok := s.Auth.Authenticate(req); !ok || p != "alice" {
		t.Errorf("Authenticate(Basic alice) = %q, %v", p, ok)
	}
	req.Header.Set("Authorization", "Bearer "+s.bearer(t, "x", tok.Token))
	if p, ok := s.Auth.Authenticate(req); !ok || p != "token:"+tok.ID {
		t.Errorf("Authenticate(bearer of the token) = %q, %v", p, ok)
	}
	req.Header.Del("Authorization")
	if _, ok := s.Auth.Authenticate(req); ok {
		t.Error("Authenticate without credentials")
	}
	s.Clock.Add(2 * time.Hour)
	if s.Auth.CanRead("token:"+tok.ID, "team-a/m") {
		t.Error("CanRead with an expired token")
	}
}

// TestAuth_MountScope: a bearer token with push on the target but not pull
// on the source gets 401 insufficient_scope (naming both) when its user may
// pull the source, so that the client asks for the right token; a user who
// may not gets a plain upload.
func TestAuth_MountScope(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "alice", "alice-password", "team-a/*", "write", "shared/*", "read")
	img := s.pushImage(t, "shared/base", "v1", []byte("base layer"), nil)
	other := s.pushImage(t, "secret/x", "v1", []byte("secret layer"), nil)
	post := func(tok, from string, d string) (int, string) {
		code, h, _ := s.do(t, "POST", "/v2/team-a/m/blobs/uploads/?mount="+d+"&from="+from, "", "", nil, "Authorization", "Bearer "+tok)
		return code, h.Get("WWW-Authenticate")
	}
	narrow := s.bearer(t, "alice", "alice-password", "repository:team-a/m:pull,push")
	code, ch := post(narrow, "shared/base", img.Layer.String())
	_, p, _ := auth.ParseChallenge(ch)
	if code != 401 || p["error"] != "insufficient_scope" || p["scope"] != "repository:team-a/m:pull,push repository:shared/base:pull" {
		t.Errorf("mount with a token lacking the source: %d %q", code, ch)
	}
	wide := s.bearer(t, "alice", "alice-password", "repository:team-a/m:pull,push", "repository:shared/base:pull")
	if code, _ := post(wide, "shared/base", img.Layer.String()); code != 201 {
		t.Errorf("mount with both scopes: %d, want 201", code)
	}
	if code, _ := post(narrow, "secret/x", other.Layer.String()); code != 202 {
		t.Errorf("mount from a repository alice may not pull: %d, want 202 (a plain upload)", code)
	}
	// oras-go follows the challenge by itself.
	repo := s.repo(t, "team-a/n", orasauth.Credential{Username: "alice", Password: "alice-password"})
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: img.Layer, Size: int64(len("base layer"))}
	if err := repo.Mount(t.Context(), desc, "shared/base", nil); err != nil {
		t.Errorf("oras-go Mount: %v", err)
	}
	if _, err := s.Meta.BlobLink(t.Context(), "team-a/n", img.Layer); err != nil {
		t.Errorf("not mounted: %v", err)
	}
}
