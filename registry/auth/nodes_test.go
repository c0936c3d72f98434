package auth_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
)

// TestAuth_TwoNodes: two nodes over one accounts store share the signing
// key (a token from one works on the other) and notice each other's
// account changes within a second.
func TestAuth_TwoNodes(t *testing.T) {
	dir := t.TempDir()
	blobs, _ := cas.Open(dir)
	db, err := meta.Open(filepath.Join(dir, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if _, err := (auth.Bootstrap{Password: adminPassword, Cost: bcrypt.MinCost}).Ensure(ctx, db); err != nil {
		t.Fatal(err)
	}
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	clk := &clock{now: time.Now()}
	node := func() *server {
		a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, Now: clk.Now, PasswordCost: bcrypt.MinCost, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Wrap(reg))
		t.Cleanup(srv.Close)
		return &server{Server: srv, Host: srv.Listener.Addr().String(), Auth: a, Meta: db, Clock: clk}
	}
	a, b := node(), node()
	a.addUser(t, "alice", "alice-password", "team-a/*", "read")
	a.pushImage(t, "team-a/m", "v1", []byte("w"), nil)
	get := func(s *server, tok string) int {
		code, _, _ := s.do(t, "GET", "/v2/team-a/m/tags/list", "", "", nil, "Authorization", "Bearer "+tok)
		return code
	}
	tok := a.bearer(t, "alice", "alice-password", "repository:team-a/m:pull")
	if code := get(b, tok); code != http.StatusOK {
		t.Fatalf("node A's token on node B: %d", code)
	}
	// B has alice's grants cached; A revokes them.
	if code := a.admin(t, "DELETE", "/_cairn/admin/grants?user=alice&pattern=team-a/*", nil, nil); code != 204 {
		t.Fatal(code)
	}
	if code := get(a, tok); code != http.StatusForbidden {
		t.Errorf("on node A, at once: %d, want 403", code)
	}
	clk.Add(1100 * time.Millisecond)
	if code := get(b, tok); code != http.StatusForbidden {
		t.Errorf("on node B, a second later: %d, want 403", code)
	}
}
