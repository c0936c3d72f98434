package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/meta"
)

// TestAuth_LineageFiltered: the lineage endpoint looks across the whole
// registry; edges into repositories the caller may not pull are dropped
// from its answer (here the answer comes from a stand-in for the registry,
// so that the test controls it).
func TestAuth_LineageFiltered(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if _, err := (auth.Bootstrap{Password: adminPassword, Cost: bcrypt.MinCost}).Ensure(ctx, db); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(ctx, auth.Config{Accounts: db, Meta: db, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	answer := registry.Lineage{
		Digest:    "sha256:aa",
		BuiltFrom: []registry.LineageEdge{{Repository: "elsewhere.example/datasets/d", Digest: "sha256:bb"}},
		BuiltInto: []registry.LineageEdge{{Repository: "team-a/fine-tune", Digest: "sha256:cc"}, {Repository: "secret/model", Digest: "sha256:dd"}},
	}
	srv := httptest.NewServer(a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(answer)
	})))
	defer srv.Close()
	s := &server{Server: srv}
	s.admin(t, "POST", "/_cairn/admin/users", auth.NewUser{Name: "alice", Password: "alice-password"}, nil)
	s.admin(t, "PUT", "/_cairn/admin/grants", auth.GrantInfo{User: "alice", Pattern: "team-a/*", Role: "read"}, nil)
	get := func(user, pass string) registry.Lineage {
		t.Helper()
		code, _, b := s.do(t, "GET", "/v2/team-a/base/_cairn/lineage?digest=sha256:aa", user, pass, nil)
		var l registry.Lineage
		if code != 200 || json.Unmarshal(b, &l) != nil {
			t.Fatalf("lineage as %s: %d %s", user, code, b)
		}
		return l
	}
	if l := get("alice", "alice-password"); len(l.BuiltInto) != 1 || l.BuiltInto[0].Repository != "team-a/fine-tune" || len(l.BuiltFrom) != 1 {
		t.Errorf("alice's lineage: %+v", l)
	}
	if l := get("admin", adminPassword); len(l.BuiltInto) != 2 {
		t.Errorf("admin's lineage: %+v", l)
	}
}
