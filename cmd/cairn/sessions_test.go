package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cairn.dev/cairn/registry/auth"
)

// sessionDeadline is how soon a session that ended must be refused by
// every node.
const sessionDeadline = 5 * time.Second

// node is an in-process cairn serve with auth on.
type node struct {
	base string
	stop func()
}

// startNode runs cairn serve --auth over data (and metadata, a PostgreSQL
// URL, when not empty) until the test ends or stop is called.
func startNode(t *testing.T, data, metadata string) *node {
	t.Helper()
	args := []string{"--auth", "--data", data}
	if metadata != "" {
		// Nodes of one database share the transparency log's key: a node
		// with another key refuses to start.
		sum := sha256.Sum256([]byte(metadata))
		key := filepath.Join(os.TempDir(), "cairn-test-log-"+hex.EncodeToString(sum[:8])+".key")
		t.Cleanup(func() { os.Remove(key) })
		args = append(args, "--metadata", metadata, "--log-key", key)
	}
	return startServe(t, args...)
}

// startServe runs cairn serve with args (and a free loopback --addr) in
// this process until the test ends or stop is called.
func startServe(t *testing.T, args ...string) *node {
	t.Helper()
	t.Setenv("CAIRN_ADMIN_PASSWORD", testAdminPassword)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args = append([]string{"serve", "--addr", addr, "--log-level", "error", "--gc-interval", "0"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		done <- root.ExecuteContext(ctx)
	}()
	n := &node{base: "http://" + addr}
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cairn serve: %v", err)
		}
	}
	t.Cleanup(n.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(n.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case err := <-done:
			stopped = true // nothing left to wait for
			t.Fatalf("cairn serve %s ended: %v", strings.Join(args, " "), err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn serve on %s did not answer /healthz", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// admin calls a node's admin API as admin; it returns the status.
func (n *node) admin(t *testing.T, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.base+path, body)
	req.SetBasicAuth(auth.AdminUser, testAdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	} else if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

var formCSRF = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// browser is a web UI visitor: a cookie jar that does not follow
// redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// formPost posts a form from the page at pageURL, with its CSRF token.
func formPost(t *testing.T, c *http.Client, pageURL, postURL string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formCSRF.FindSubmatch(page)
	if m == nil {
		t.Fatalf("%s has no form with a CSRF token (%d)", pageURL, resp.StatusCode)
	}
	form.Set("_csrf", string(m[1]))
	resp, err = c.PostForm(postURL, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// webLogin logs user in to the web UI of n and returns the session
// cookie's value.
func webLogin(t *testing.T, n *node, user, password string) string {
	t.Helper()
	c := browser(t)
	resp := formPost(t, c, n.base+"/login", n.base+"/login", url.Values{"user": {user}, "password": {password}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("web login of %s: %d", user, resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "cairn_session" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("web login of %s set no session cookie", user)
	return ""
}

// visit reports whether the session cookie value lets its bearer see n's
// index (200) rather than being sent to the login page.
func visit(t *testing.T, n *node, session string) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", n.base+"/", nil)
	req.AddCookie(&http.Cookie{Name: "cairn_session", Value: session})
	resp, err := browser(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	t.Fatalf("GET / with a session: %d", resp.StatusCode)
	return false
}

// logout posts the logout form of n with session.
func logout(t *testing.T, n *node, session string) {
	t.Helper()
	c := browser(t)
	u, _ := url.Parse(n.base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "cairn_session", Value: session, Path: "/"}})
	if resp := formPost(t, c, n.base+"/", n.base+"/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
}

// refusedWithin checks that every node refuses each session within
// sessionDeadline.
func refusedWithin(t *testing.T, what string, nodes []*node, sessions ...string) {
	t.Helper()
	deadline := time.Now().Add(sessionDeadline)
	for _, n := range nodes {
		for _, s := range sessions {
			for visit(t, n, s) {
				if time.Now().After(deadline) {
					t.Errorf("%s: a session still works on %s after %v", what, n.base, sessionDeadline)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// TestServe_SessionsRestart: on the embedded store, a live session holds
// across a restart and a logged-out one stays refused.
func TestServe_SessionsRestart(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data, "")
	kept := webLogin(t, n, auth.AdminUser, testAdminPassword)
	gone := webLogin(t, n, auth.AdminUser, testAdminPassword)
	if !visit(t, n, kept) || !visit(t, n, gone) {
		t.Fatal("fresh sessions refused")
	}
	logout(t, n, gone)
	if visit(t, n, gone) {
		t.Error("a logged-out session works on its node")
	}
	n.stop()
	n = startNode(t, data, "")
	if visit(t, n, gone) {
		t.Error("a logged-out session works after a restart")
	}
	if !visit(t, n, kept) {
		t.Error("a live session was lost in a restart")
	}
}

// TestServe_SessionsTwoNodes: two nodes on one PostgreSQL database. A
// logout on one is refused on the other and after a restart; a password
// change, a role change, a user's deletion and cairn user sessions revoke
// end every older session of the user on both nodes within
// sessionDeadline, while other users' sessions go on.
func TestServe_SessionsTwoNodes(t *testing.T) {
	db := testDatabase(t)
	a := startNode(t, t.TempDir(), db)
	bData := t.TempDir()
	b := startNode(t, bData, db)
	both := []*node{a, b}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if code := a.admin(t, "POST", "/_cairn/admin/users", auth.NewUser{Name: u, Password: u + "-password"}, nil); code != http.StatusCreated {
			t.Fatalf("add %s: %d", u, code)
		}
		if code := a.admin(t, "PUT", "/_cairn/admin/grants", auth.GrantInfo{User: u, Pattern: "team/*", Role: "read"}, nil); code != http.StatusOK {
			t.Fatalf("grant %s: %d", u, code)
		}
	}
	// Every user has a session on each node; each works on both.
	sessions := map[string][]string{}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		sessions[u] = []string{webLogin(t, a, u, u+"-password"), webLogin(t, b, u, u+"-password")}
		for _, n := range both {
			for _, s := range sessions[u] {
				if !visit(t, n, s) {
					t.Fatalf("%s's session refused on %s", u, n.base)
				}
			}
		}
	}

	// Logout on a: refused on b, and on a after a restart.
	logout(t, a, sessions["erin"][0])
	refusedWithin(t, "logout on the other node", both, sessions["erin"][0])
	a.stop()
	a = startNode(t, t.TempDir(), db)
	both = []*node{a, b}
	refusedWithin(t, "logout, after a restart", both, sessions["erin"][0])
	if !visit(t, a, sessions["erin"][1]) {
		t.Error("erin's other session ended with her logout elsewhere")
	}

	// The admin lists live sessions.
	var list struct {
		Sessions []auth.SessionInfo `json:"sessions"`
	}
	if code := b.admin(t, "GET", "/_cairn/admin/sessions?user=dave", nil, &list); code != http.StatusOK || len(list.Sessions) != 2 {
		t.Errorf("dave's sessions: %d %+v, want 2", code, list.Sessions)
	}

	// Account changes, each through one node, end the user's sessions on
	// both.
	if code := a.admin(t, "PUT", "/_cairn/admin/users/alice/password", auth.NewPassword{Password: "alice-new-password"}, nil); code != http.StatusNoContent {
		t.Fatalf("password change: %d", code)
	}
	refusedWithin(t, "password change", both, sessions["alice"]...)
	if code := b.admin(t, "PUT", "/_cairn/admin/grants", auth.GrantInfo{User: "bob", Pattern: "team/*", Role: "write"}, nil); code != http.StatusOK {
		t.Fatalf("role change: %d", code)
	}
	refusedWithin(t, "role change", both, sessions["bob"]...)
	if code := a.admin(t, "DELETE", "/_cairn/admin/users/carol", nil, nil); code != http.StatusNoContent {
		t.Fatalf("user deletion: %d", code)
	}
	refusedWithin(t, "user deletion", both, sessions["carol"]...)
	var revoked auth.RevokedSessions
	if code := b.admin(t, "DELETE", "/_cairn/admin/sessions?user=dave", nil, &revoked); code != http.StatusOK || revoked.Revoked != 2 {
		t.Errorf("revoke dave's sessions: %d %+v, want 2 revoked", code, revoked)
	}
	refusedWithin(t, "sessions revoked", both, sessions["dave"]...)

	// Erin's remaining session was untouched by all that; new logins work.
	if !visit(t, b, sessions["erin"][1]) {
		t.Error("erin's session ended with other users' changes")
	}
	if s := webLogin(t, b, "alice", "alice-new-password"); !visit(t, a, s) {
		t.Error("alice's new session is refused on the other node")
	}
}

// TestCLI_UserSessions: cairn user sessions list shows the live web
// sessions; revoke ends a user's on the spot.
func TestCLI_UserSessions(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	host := strings.TrimPrefix(n.base, "http://")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	must := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errs := runCLIIn(t, stdin, args...)
		if code != 0 {
			t.Fatalf("cairn %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	reg := []string{"--registry", host}
	must(testAdminPassword+"\n", "login", host, "-u", "admin", "--password-stdin")
	must("alice-password\n", append([]string{"user", "add", "alice", "--password-stdin"}, reg...)...)
	s1 := webLogin(t, n, "alice", "alice-password")
	s2 := webLogin(t, n, "alice", "alice-password")
	admin := webLogin(t, n, auth.AdminUser, testAdminPassword)

	out := must("", append([]string{"user", "sessions", "list"}, reg...)...)
	if strings.Count(out, "alice") != 4 || strings.Count(out, "127.0.0.1") != 3 || !strings.Contains(out, "admin") {
		t.Errorf("user sessions list:\n%s", out)
	}
	var listed []auth.SessionInfo
	if err := json.Unmarshal([]byte(must("", append([]string{"user", "sessions", "list", "alice", "--json"}, reg...)...)), &listed); err != nil || len(listed) != 2 {
		t.Errorf("user sessions list alice --json: %v %+v", err, listed)
	}
	if out := must("", append([]string{"user", "sessions", "revoke", "alice"}, reg...)...); !strings.Contains(out, "revoked 2 web sessions of alice") {
		t.Errorf("user sessions revoke: %q", out)
	}
	if visit(t, n, s1) || visit(t, n, s2) {
		t.Error("a revoked session still works")
	}
	if !visit(t, n, admin) {
		t.Error("the admin's session ended with alice's")
	}
	if code, _, errs := runCLIIn(t, "", append([]string{"user", "sessions", "revoke", "nobody"}, reg...)...); code == 0 || !strings.Contains(errs, "404") {
		t.Errorf("revoking the sessions of an unknown user: exit %d %q", code, errs)
	}
}

// TestServe_Metrics: with auth on, /metrics answers 401 to a request
// without credentials and 200 to an administrator or a metrics API token;
// without auth (loopback only) it is open.
func TestServe_Metrics(t *testing.T) {
	n := startNode(t, t.TempDir(), "")
	get := func(base, user, pass, bearer string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && !strings.Contains(string(b), "go_goroutines") {
			t.Errorf("/metrics answered 200 without metrics: %.200s", b)
		}
		if resp.StatusCode == http.StatusOK && strings.Contains(resp.Header.Get("Content-Type"), "json") {
			t.Errorf("/metrics answered a JSON body: %.200s", b)
		}
		return resp.StatusCode
	}
	if code := get(n.base, "", "", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous /metrics under --auth: %d, want 401", code)
	}
	if code := get(n.base, auth.AdminUser, testAdminPassword, ""); code != http.StatusOK {
		t.Errorf("/metrics as admin: %d, want 200", code)
	}
	var tok auth.CreatedToken
	if code := n.admin(t, "POST", "/_cairn/tokens", auth.NewToken{Name: "prometheus", Scopes: []string{"registry:metrics:*"}}, &tok); code != http.StatusCreated {
		t.Fatalf("create a metrics token: %d", code)
	}
	if code := get(n.base, "", "", tok.Token); code != http.StatusOK {
		t.Errorf("/metrics with a metrics token: %d, want 200", code)
	}
	open := startServe(t, "--data", t.TempDir())
	if code := get(open.base, "", "", ""); code != http.StatusOK {
		t.Errorf("/metrics without auth: %d, want 200", code)
	}
}
