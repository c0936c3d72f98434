package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/backend"
	"cairn.dev/cairn/web"
)

// The web UI asks the auth layer who a visitor is.
var _ web.Authorizer = (*auth.Auth)(nil)

const testAdminPassword = "admin-password-1"

// authServe serves a registry with auth on, bootstrapped as cairn serve
// does with CAIRN_ADMIN_PASSWORD, and returns its host.
func authServe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("CAIRN_ADMIN_PASSWORD", testAdminPassword)
	blobs, db, err := backend.OpenEmbedded(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	a, err := setupAuth(t.Context(), serveOptions{data: dir}, db, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.SecurityHeaders(a.Wrap(reg), false))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// runCLIIn is runCLI with standard input; stdout and stderr apart.
func runCLIIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		errb.WriteString("error: " + err.Error())
		return exitError, out.String(), errb.String()
	}
	return exitOK, out.String(), errb.String()
}

// TestCLI_UserAccessToken drives cairn login, user, access and token
// against a running server with auth on.
func TestCLI_UserAccessToken(t *testing.T) {
	host := authServe(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	must := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errs := runCLIIn(t, stdin, args...)
		if code != 0 {
			t.Fatalf("cairn %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	fails := func(want string, args ...string) {
		t.Helper()
		code, out, errs := runCLIIn(t, "some-password-1\n", args...)
		if code == 0 || !strings.Contains(out+errs, want) {
			t.Errorf("cairn %s: exit %d, output %q, want a failure saying %q", strings.Join(args, " "), code, out+errs, want)
		}
	}
	reg := []string{"--registry", host}
	fails("cairn login "+host, append([]string{"user", "list"}, reg...)...)
	fails("--registry", "user", "list")
	must(testAdminPassword+"\n", "login", host, "-u", "admin", "--password-stdin")

	if out := must("alice-password\n", append([]string{"user", "add", "alice", "--password-stdin"}, reg...)...); !strings.Contains(out, "added user alice") {
		t.Errorf("user add: %q", out)
	}
	must("bob-password-1\n", append([]string{"user", "add", "bob", "--password-stdin"}, reg...)...)
	fails("409", append([]string{"user", "add", "alice", "--password-stdin"}, reg...)...)
	fails("user name", append([]string{"user", "add", "a:b", "--password-stdin"}, reg...)...)
	must("", append([]string{"access", "grant", "alice", "team-a/*", "write"}, reg...)...)
	must("", append([]string{"access", "grant", "bob", "**", "read"}, reg...)...)
	fails("role", append([]string{"access", "grant", "alice", "team-a/*", "owner"}, reg...)...)
	fails("pattern", append([]string{"access", "grant", "alice", "Team//x", "read"}, reg...)...)
	fails("404", append([]string{"access", "grant", "nobody", "x", "read"}, reg...)...)
	if out := must("", append([]string{"access", "list", "alice"}, reg...)...); !strings.Contains(out, "alice  team-a/*  write") || strings.Contains(out, "bob") {
		t.Errorf("access list alice:\n%s", out)
	}
	var grants []auth.GrantInfo
	if err := json.Unmarshal([]byte(must("", append([]string{"access", "list", "--json"}, reg...)...)), &grants); err != nil || len(grants) != 3 {
		t.Errorf("access list --json: %v %v", grants, err)
	}
	if out := must("", append([]string{"user", "list"}, reg...)...); !strings.Contains(out, "write on team-a/*") || !strings.Contains(out, "admin on **") {
		t.Errorf("user list:\n%s", out)
	}

	// alice makes a token for herself; it pulls within its scope only.
	must("alice-password\n", "login", host, "-u", "alice", "--password-stdin")
	fails("administrator", append([]string{"user", "list"}, reg...)...)
	code, out, errs := runCLIIn(t, "", append([]string{"token", "create", "--scope", "repository:team-a/*:pull", "--expires", "1h", "--name", "ci"}, reg...)...)
	if code != 0 {
		t.Fatalf("token create: %s%s", out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	if !strings.HasPrefix(tok, "cairn_") || !strings.Contains(errs, "shown only now") {
		t.Fatalf("token create printed %q (stderr %q)", out, errs)
	}
	fails("scope", append([]string{"token", "create", "--scope", "repository:team-a/*:write"}, reg...)...)
	fails("--scope", append([]string{"token", "create"}, reg...)...)
	grantedScope := func(user, pass, scope string) string {
		req, _ := http.NewRequest("GET", "http://"+host+"/token?service="+host+"&scope="+scope, nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var tr struct{ Scope string }
		json.Unmarshal(b, &tr)
		if resp.StatusCode != 200 {
			return resp.Status
		}
		return tr.Scope
	}
	if got := grantedScope("ci", tok, "repository:team-a/m:pull,push"); got != "repository:team-a/m:pull" {
		t.Errorf("the token was granted %q, want repository:team-a/m:pull", got)
	}
	out = must("", append([]string{"token", "list"}, reg...)...)
	if !strings.Contains(out, "repository:team-a/*:pull") || !strings.Contains(out, " ci ") || strings.Contains(out, tok) {
		t.Errorf("token list:\n%s", out)
	}
	var tl []auth.TokenInfo
	json.Unmarshal([]byte(must("", append([]string{"token", "list", "--json"}, reg...)...)), &tl)
	if len(tl) != 1 {
		t.Fatalf("token list --json: %v", tl)
	}
	must("", append([]string{"token", "revoke", tl[0].ID}, reg...)...)
	if got := grantedScope("ci", tok, "repository:team-a/m:pull"); got != "401 Unauthorized" {
		t.Errorf("a revoked token: %s", got)
	}
	fails("404", append([]string{"token", "revoke", tl[0].ID}, reg...)...)

	// Back as admin: passwords, revocations, removal.
	must(testAdminPassword+"\n", "login", host, "-u", "admin", "--password-stdin")
	must("alice-new-password\n", append([]string{"user", "passwd", "alice", "--password-stdin"}, reg...)...)
	if got := grantedScope("alice", "alice-password", ""); got != "401 Unauthorized" {
		t.Errorf("old password after passwd: %s", got)
	}
	if got := grantedScope("alice", "alice-new-password", "repository:team-a/m:push"); got != "repository:team-a/m:push" {
		t.Errorf("new password: %s", got)
	}
	must("", append([]string{"access", "revoke", "alice", "team-a/*"}, reg...)...)
	if got := grantedScope("alice", "alice-new-password", "repository:team-a/m:push"); got != "" {
		t.Errorf("after revoke, granted %q", got)
	}
	fails("last administrator", append([]string{"user", "rm", "admin"}, reg...)...)
	must("", append([]string{"user", "rm", "alice"}, reg...)...)
	if out := must("", append([]string{"user", "list", "--json"}, reg...)...); strings.Contains(out, `"alice"`) {
		t.Errorf("alice still listed: %s", out)
	}
}

func TestServe_AuthEnabled(t *testing.T) {
	for _, tc := range []struct {
		addr          string
		auth, no, err bool
		want          bool
	}{
		{addr: "127.0.0.1:5000"},
		{addr: "localhost:5000"},
		{addr: "[::1]:5000"},
		{addr: "127.0.0.1:5000", auth: true, want: true},
		{addr: "0.0.0.0:5000", want: true},
		{addr: ":5000", want: true},
		{addr: "10.1.2.3:5000", want: true},
		{addr: "reg.example.com:443", want: true},
		{addr: "0.0.0.0:5000", no: true},
		{addr: "0.0.0.0:5000", auth: true, no: true, err: true},
		{addr: "nonsense", err: true},
	} {
		got, err := authEnabled(serveOptions{addr: tc.addr, auth: tc.auth, insecureNoAuth: tc.no})
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("authEnabled(%s, --auth=%v, --insecure-no-auth=%v) = %v, %v; want %v (error %v)", tc.addr, tc.auth, tc.no, got, err, tc.want, tc.err)
		}
	}
}
