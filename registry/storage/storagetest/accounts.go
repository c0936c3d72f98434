package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cairn.dev/cairn/registry/storage"
)

// TestAccounts runs the conformance suite for storage.Accounts. newAccounts
// must return a new, empty store each time it is called.
func TestAccounts(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	t.Run("Users", func(t *testing.T) { testUsers(t, newAccounts) })
	t.Run("SetPassword", func(t *testing.T) { testSetPassword(t, newAccounts) })
	t.Run("Grants", func(t *testing.T) { testGrants(t, newAccounts) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newAccounts) })
	t.Run("DeleteUserCascades", func(t *testing.T) { testDeleteUserCascades(t, newAccounts) })
	t.Run("Secret", func(t *testing.T) { testSecret(t, newAccounts) })
	t.Run("Revision", func(t *testing.T) { testAccountsRevision(t, newAccounts) })
	t.Run("Copies", func(t *testing.T) { testAccountsCopies(t, newAccounts) })
	t.Run("Concurrent", func(t *testing.T) { testAccountsConcurrent(t, newAccounts) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, newAccounts) })
}

var accountTime = time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC)

func newUser(name string) storage.User {
	return storage.User{Name: name, PasswordHash: []byte("hash of " + name), Created: accountTime, PasswordChanged: accountTime}
}

func createUser(t *testing.T, a storage.Accounts, name string) storage.User {
	t.Helper()
	u := newUser(name)
	if err := a.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

func putGrant(t *testing.T, a storage.Accounts, user, pattern, role string) storage.Grant {
	t.Helper()
	g := storage.Grant{User: user, Pattern: pattern, Role: role, Created: accountTime, By: "admin"}
	if err := a.PutGrant(t.Context(), g); err != nil {
		t.Fatalf("PutGrant(%s, %s, %s): %v", user, pattern, role, err)
	}
	return g
}

func newToken(id, user string, created time.Time) storage.APIToken {
	return storage.APIToken{
		ID: id, User: user, Name: "ci " + id, Scopes: []string{"repository:team-a/*:pull", "registry:catalog:*"},
		Hash: []byte("0123456789abcdef0123456789abcdef" + id), Created: created, Expires: created.Add(time.Hour),
	}
}

func putToken(t *testing.T, a storage.Accounts, tok storage.APIToken) {
	t.Helper()
	if err := a.PutToken(t.Context(), tok); err != nil {
		t.Fatalf("PutToken(%s): %v", tok.ID, err)
	}
}

func sameUser(a, b storage.User) bool {
	return a.Name == b.Name && bytes.Equal(a.PasswordHash, b.PasswordHash) &&
		a.Created.Equal(b.Created) && a.PasswordChanged.Equal(b.PasswordChanged)
}

func sameGrant(a, b storage.Grant) bool {
	return a.User == b.User && a.Pattern == b.Pattern && a.Role == b.Role && a.Created.Equal(b.Created) && a.By == b.By
}

func sameToken(a, b storage.APIToken) bool {
	return a.ID == b.ID && a.User == b.User && a.Name == b.Name && slices.Equal(a.Scopes, b.Scopes) &&
		bytes.Equal(a.Hash, b.Hash) && a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires)
}

func grantKeys(gs []storage.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.User+" "+g.Pattern+" "+g.Role)
	}
	return out
}

func tokenIDs(ts []storage.APIToken) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func testUsers(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	if us, err := a.Users(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Users of an empty store = %v, %v", us, err)
	}
	if _, err := a.User(ctx, "alice"); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("User(alice) of an empty store: %v, want ErrUserUnknown", err)
	}
	bob := createUser(t, a, "bob")
	alice := createUser(t, a, "alice")
	createUser(t, a, "alice.b")
	dup := newUser("alice")
	dup.PasswordHash = []byte("another")
	if err := a.CreateUser(ctx, dup); !errors.Is(err, storage.ErrUserExists) {
		t.Errorf("CreateUser(alice) twice: %v, want ErrUserExists", err)
	}
	got, err := a.User(ctx, "alice")
	if err != nil || !sameUser(got, alice) {
		t.Errorf("User(alice) = %+v, %v, want %+v (a refused CreateUser must not change it)", got, err, alice)
	}
	if got, err := a.User(ctx, "bob"); err != nil || !sameUser(got, bob) {
		t.Errorf("User(bob) = %+v, %v, want %+v", got, err, bob)
	}
	us, err := a.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range us {
		names = append(names, u.Name)
	}
	if !slices.Equal(names, []string{"alice", "alice.b", "bob"}) {
		t.Errorf("Users = %q, want [alice alice.b bob]", names)
	}
	if err := a.DeleteUser(ctx, "bob"); err != nil {
		t.Fatalf("DeleteUser(bob): %v", err)
	}
	if _, err := a.User(ctx, "bob"); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("User(bob) after delete: %v, want ErrUserUnknown", err)
	}
	if err := a.DeleteUser(ctx, "bob"); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("DeleteUser(bob) twice: %v, want ErrUserUnknown", err)
	}
	// A deleted name can be created again, from nothing.
	createUser(t, a, "bob")
}

func testSetPassword(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	if err := a.SetPassword(ctx, "alice", []byte("x"), accountTime); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("SetPassword of an unknown user: %v, want ErrUserUnknown", err)
	}
	u := createUser(t, a, "alice")
	later := accountTime.Add(time.Hour)
	if err := a.SetPassword(ctx, "alice", []byte("new hash"), later); err != nil {
		t.Fatal(err)
	}
	got, err := a.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.PasswordHash) != "new hash" || !got.PasswordChanged.Equal(later) || !got.Created.Equal(u.Created) {
		t.Errorf("after SetPassword: %+v, want hash %q, changed %v, created %v", got, "new hash", later, u.Created)
	}
}

func testGrants(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	if err := a.PutGrant(ctx, storage.Grant{User: "ghost", Pattern: "**", Role: storage.RoleRead}); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("PutGrant for an unknown user: %v, want ErrUserUnknown", err)
	}
	createUser(t, a, "alice")
	createUser(t, a, "alice.b")
	createUser(t, a, "bob")
	putGrant(t, a, "bob", "team-b/*", storage.RoleWrite)
	putGrant(t, a, "alice", "team-a/*", storage.RoleRead)
	putGrant(t, a, "alice", "**", storage.RoleRead)
	putGrant(t, a, "alice.b", "x", storage.RoleAdmin)
	want := putGrant(t, a, "alice", "team-a/*", storage.RoleAdmin) // replaces read
	gs, err := a.Grants(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := grantKeys(gs); !slices.Equal(got, []string{"alice ** read", "alice team-a/* admin"}) {
		t.Errorf("Grants(alice) = %q", got)
	}
	for _, g := range gs {
		if g.Pattern == "team-a/*" && !sameGrant(g, want) {
			t.Errorf("grant read back %+v, want %+v", g, want)
		}
	}
	all, err := a.Grants(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := grantKeys(all); !slices.Equal(got, []string{"alice ** read", "alice team-a/* admin", "alice.b x admin", "bob team-b/* write"}) {
		t.Errorf("Grants() = %q", got)
	}
	if gs, err := a.Grants(ctx, "nobody"); err != nil || len(gs) != 0 {
		t.Errorf("Grants(nobody) = %v, %v, want none", gs, err)
	}
	if err := a.DeleteGrant(ctx, "alice", "team-a/*"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteGrant(ctx, "alice", "team-a/*"); !errors.Is(err, storage.ErrGrantUnknown) {
		t.Errorf("DeleteGrant twice: %v, want ErrGrantUnknown", err)
	}
	if err := a.DeleteGrant(ctx, "bob", "team-a/*"); !errors.Is(err, storage.ErrGrantUnknown) {
		t.Errorf("DeleteGrant of another user's pattern: %v, want ErrGrantUnknown", err)
	}
	gs, _ = a.Grants(ctx, "alice")
	if got := grantKeys(gs); !slices.Equal(got, []string{"alice ** read"}) {
		t.Errorf("Grants(alice) after delete = %q", got)
	}
}

func testTokens(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	if err := a.PutToken(ctx, newToken("t0", "ghost", accountTime)); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("PutToken for an unknown user: %v, want ErrUserUnknown", err)
	}
	if _, err := a.Token(ctx, "t0"); !errors.Is(err, storage.ErrTokenUnknown) {
		t.Errorf("Token of a refused PutToken: %v, want ErrTokenUnknown", err)
	}
	createUser(t, a, "alice")
	createUser(t, a, "bob")
	t3 := newToken("t3", "alice", accountTime)
	t1 := newToken("t1", "bob", accountTime.Add(time.Minute))
	t2 := newToken("t2", "alice", accountTime.Add(2*time.Minute))
	t2.Expires = time.Time{} // never
	t2.Name = ""
	for _, tok := range []storage.APIToken{t3, t1, t2} {
		putToken(t, a, tok)
	}
	if err := a.PutToken(ctx, newToken("t1", "alice", accountTime)); !errors.Is(err, storage.ErrTokenExists) {
		t.Errorf("PutToken with a taken ID: %v, want ErrTokenExists", err)
	}
	for _, want := range []storage.APIToken{t1, t2, t3} {
		got, err := a.Token(ctx, want.ID)
		if err != nil || !sameToken(got, want) {
			t.Errorf("Token(%s) = %+v, %v, want %+v", want.ID, got, err, want)
		}
	}
	ts, err := a.Tokens(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := tokenIDs(ts); !slices.Equal(got, []string{"t3", "t2"}) {
		t.Errorf("Tokens(alice) = %q, want [t3 t2] (by creation time)", got)
	}
	ts, _ = a.Tokens(ctx, "")
	if got := tokenIDs(ts); !slices.Equal(got, []string{"t3", "t1", "t2"}) {
		t.Errorf("Tokens() = %q, want [t3 t1 t2]", got)
	}
	if err := a.DeleteToken(ctx, "t3"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(ctx, "t3"); !errors.Is(err, storage.ErrTokenUnknown) {
		t.Errorf("Token(t3) after delete: %v, want ErrTokenUnknown", err)
	}
	if err := a.DeleteToken(ctx, "t3"); !errors.Is(err, storage.ErrTokenUnknown) {
		t.Errorf("DeleteToken twice: %v, want ErrTokenUnknown", err)
	}
	ts, _ = a.Tokens(ctx, "alice")
	if got := tokenIDs(ts); !slices.Equal(got, []string{"t2"}) {
		t.Errorf("Tokens(alice) after delete = %q", got)
	}
}

func testDeleteUserCascades(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	createUser(t, a, "alice")
	createUser(t, a, "alice2")
	putGrant(t, a, "alice", "**", storage.RoleAdmin)
	putGrant(t, a, "alice", "team-a/*", storage.RoleRead)
	putGrant(t, a, "alice2", "team-a/*", storage.RoleRead)
	putToken(t, a, newToken("ta", "alice", accountTime))
	putToken(t, a, newToken("tb", "alice2", accountTime))
	if err := a.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if gs, _ := a.Grants(ctx, ""); !slices.Equal(grantKeys(gs), []string{"alice2 team-a/* read"}) {
		t.Errorf("grants after DeleteUser(alice) = %q", grantKeys(gs))
	}
	if ts, _ := a.Tokens(ctx, ""); !slices.Equal(tokenIDs(ts), []string{"tb"}) {
		t.Errorf("tokens after DeleteUser(alice) = %q", tokenIDs(ts))
	}
	// A new user of the same name inherits nothing.
	createUser(t, a, "alice")
	if gs, _ := a.Grants(ctx, "alice"); len(gs) != 0 {
		t.Errorf("a recreated user has grants %q", grantKeys(gs))
	}
	if _, err := a.Token(ctx, "ta"); !errors.Is(err, storage.ErrTokenUnknown) {
		t.Errorf("a deleted user's token is still there: %v", err)
	}
}

func testSecret(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	got, err := a.Secret(ctx, "jwt", []byte("first"))
	if err != nil || string(got) != "first" {
		t.Fatalf("Secret(jwt, first) = %q, %v", got, err)
	}
	got, err = a.Secret(ctx, "jwt", []byte("second"))
	if err != nil || string(got) != "first" {
		t.Errorf("Secret(jwt, second) = %q, %v, want the stored %q", got, err, "first")
	}
	got, err = a.Secret(ctx, "other", []byte("x"))
	if err != nil || string(got) != "x" {
		t.Errorf("Secret(other, x) = %q, %v", got, err)
	}
	// Concurrent first calls all get the one value stored.
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Go(func() {
			v, err := a.Secret(ctx, "race", fmt.Appendf(nil, "v%d", i))
			if err != nil {
				t.Error(err)
			}
			vals[i] = string(v)
		})
	}
	wg.Wait()
	for _, v := range vals {
		if v != vals[0] || v == "" {
			t.Fatalf("concurrent Secret calls got different values: %q", vals)
		}
	}
}

func testAccountsRevision(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	rev := func() uint64 {
		t.Helper()
		v, err := a.AccountsRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	last := rev()
	changed := func(what string, want bool) {
		t.Helper()
		now := rev()
		if (now != last) != want {
			t.Errorf("after %s: revision %d -> %d, changed=%v, want %v", what, last, now, now != last, want)
		}
		last = now
	}
	createUser(t, a, "alice")
	changed("CreateUser", true)
	a.User(ctx, "alice")
	a.Users(ctx)
	a.Grants(ctx, "")
	a.Tokens(ctx, "")
	changed("reads", false)
	a.SetPassword(ctx, "alice", []byte("h"), accountTime)
	changed("SetPassword", true)
	putGrant(t, a, "alice", "**", storage.RoleRead)
	changed("PutGrant", true)
	putGrant(t, a, "alice", "**", storage.RoleWrite)
	changed("PutGrant replacing a role", true)
	a.DeleteGrant(ctx, "alice", "**")
	changed("DeleteGrant", true)
	putToken(t, a, newToken("t", "alice", accountTime))
	changed("PutToken", true)
	a.DeleteToken(ctx, "t")
	changed("DeleteToken", true)
	a.DeleteGrant(ctx, "alice", "none")
	a.DeleteToken(ctx, "none")
	changed("refused deletes", false)
	a.DeleteUser(ctx, "alice")
	changed("DeleteUser", true)
}

func testAccountsCopies(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	u := createUser(t, a, "alice")
	u.PasswordHash[0] = 'X' // the caller's slice, after the call
	got, _ := a.User(ctx, "alice")
	if got.PasswordHash[0] == 'X' {
		t.Error("the store kept the caller's PasswordHash slice")
	}
	got.PasswordHash[0] = 'Y'
	again, _ := a.User(ctx, "alice")
	if again.PasswordHash[0] == 'Y' {
		t.Error("User returned the store's own PasswordHash slice")
	}
	tok := newToken("t", "alice", accountTime)
	putToken(t, a, tok)
	tok.Scopes[0] = "changed"
	gt, _ := a.Token(ctx, "t")
	if gt.Scopes[0] == "changed" {
		t.Error("the store kept the caller's Scopes slice")
	}
	gt.Scopes[0], gt.Hash[0] = "changed", 'Z'
	gt2, _ := a.Token(ctx, "t")
	if gt2.Scopes[0] == "changed" || gt2.Hash[0] == 'Z' {
		t.Error("Token returned the store's own slices")
	}
	s, _ := a.Secret(ctx, "k", []byte("secret"))
	s[0] = 'X'
	if s2, _ := a.Secret(ctx, "k", nil); string(s2) != "secret" {
		t.Errorf("Secret returned the store's own slice: now %q", s2)
	}
}

func testAccountsConcurrent(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	createUser(t, a, "alice")
	var wg sync.WaitGroup
	const n = 16
	for i := range n {
		wg.Go(func() {
			p := fmt.Sprintf("team-%d/*", i)
			if err := a.PutGrant(ctx, storage.Grant{User: "alice", Pattern: p, Role: storage.RoleRead, Created: accountTime}); err != nil {
				t.Error(err)
			}
			if err := a.PutToken(ctx, newToken(fmt.Sprintf("t%02d", i), "alice", accountTime)); err != nil {
				t.Error(err)
			}
			if err := a.CreateUser(ctx, newUser("same")); err != nil && !errors.Is(err, storage.ErrUserExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	gs, _ := a.Grants(ctx, "alice")
	ts, _ := a.Tokens(ctx, "alice")
	us, _ := a.Users(ctx)
	if len(gs) != n || len(ts) != n || len(us) != 2 {
		t.Errorf("after %d concurrent writers: %d grants, %d tokens, %d users, want %d, %d, 2", n, len(gs), len(ts), len(us), n, n)
	}
}
