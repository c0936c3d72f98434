package storagetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"cairn.dev/cairn/registry/storage"
)

func newSession(id, user string, created time.Time) storage.Session {
	return storage.Session{ID: id, User: user, Stamp: "stamp-" + user, Created: created, Expires: created.Add(time.Hour), Address: "192.0.2.1"}
}

func sessionIDs(ss []storage.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func sameSession(a, b storage.Session) bool {
	return a.ID == b.ID && a.User == b.User && a.TokenID == b.TokenID && a.Stamp == b.Stamp &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) && a.Address == b.Address
}

// testSessions: sessions are created, read, listed and deleted one by one
// or per user; they go with their user; creating one prunes expired ones
// and bounds the user's; they do not change the accounts revision.
func testSessions(t *testing.T, newAccounts func(t *testing.T) storage.Accounts) {
	a := newAccounts(t)
	ctx := t.Context()
	if _, err := a.Session(ctx, "none"); !errors.Is(err, storage.ErrSessionUnknown) {
		t.Errorf("Session of an empty store: %v, want ErrSessionUnknown", err)
	}
	if ss, err := a.Sessions(ctx, ""); err != nil || len(ss) != 0 {
		t.Errorf("Sessions of an empty store = %v, %v", ss, err)
	}
	if n, err := a.DeleteSessions(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("DeleteSessions of an empty store = %d, %v", n, err)
	}
	if err := a.CreateSession(ctx, newSession("s0", "nobody", accountTime), 0); !errors.Is(err, storage.ErrUserUnknown) {
		t.Errorf("CreateSession for an unknown user: %v, want ErrUserUnknown", err)
	}
	createUser(t, a, "alice")
	createUser(t, a, "bob")
	rev0, err := a.AccountsRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s1 := newSession("s1", "alice", accountTime)
	s1.TokenID = "0123456789abcdef"
	for _, s := range []storage.Session{s1, newSession("s2", "bob", accountTime.Add(time.Second)), newSession("s3", "alice", accountTime.Add(2*time.Second))} {
		if err := a.CreateSession(ctx, s, 0); err != nil {
			t.Fatalf("CreateSession(%s): %v", s.ID, err)
		}
	}
	if err := a.CreateSession(ctx, newSession("s1", "bob", accountTime.Add(3*time.Second)), 0); !errors.Is(err, storage.ErrSessionExists) {
		t.Errorf("CreateSession with a taken ID: %v, want ErrSessionExists", err)
	}
	if got, err := a.Session(ctx, "s1"); err != nil || !sameSession(got, s1) {
		t.Errorf("Session(s1) = %+v, %v, want %+v", got, err, s1)
	}
	if ss, _ := a.Sessions(ctx, ""); !slices.Equal(sessionIDs(ss), []string{"s1", "s3", "s2"}) {
		t.Errorf("Sessions() = %q, want by user then creation", sessionIDs(ss))
	}
	if ss, _ := a.Sessions(ctx, "alice"); !slices.Equal(sessionIDs(ss), []string{"s1", "s3"}) {
		t.Errorf("Sessions(alice) = %q", sessionIDs(ss))
	}
	if rev, _ := a.AccountsRevision(ctx); rev != rev0 {
		t.Errorf("creating sessions changed the accounts revision %d -> %d", rev0, rev)
	}

	if err := a.DeleteSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteSession(ctx, "s1"); !errors.Is(err, storage.ErrSessionUnknown) {
		t.Errorf("deleting a deleted session: %v, want ErrSessionUnknown", err)
	}
	if _, err := a.Session(ctx, "s1"); !errors.Is(err, storage.ErrSessionUnknown) {
		t.Errorf("Session(s1) after DeleteSession: %v", err)
	}
	a.CreateSession(ctx, newSession("s4", "alice", accountTime.Add(3*time.Second)), 0)
	if n, err := a.DeleteSessions(ctx, "alice"); err != nil || n != 2 {
		t.Errorf("DeleteSessions(alice) = %d, %v, want 2", n, err)
	}
	if ss, _ := a.Sessions(ctx, ""); !slices.Equal(sessionIDs(ss), []string{"s2"}) {
		t.Errorf("Sessions() after DeleteSessions(alice) = %q, want bob's only", sessionIDs(ss))
	}

	// A user's sessions go with the user.
	if err := a.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, "s2"); !errors.Is(err, storage.ErrSessionUnknown) {
		t.Errorf("a deleted user's session is still there: %v", err)
	}

	// Bounded: at most max per user, the oldest go first; expired ones
	// (anyone's) go at the next login.
	createUser(t, a, "bob")
	old := newSession("bob-old", "bob", accountTime.Add(-2*time.Hour))
	if err := a.CreateSession(ctx, old, 0); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a1", "a2", "a3", "a4", "a5"} {
		if err := a.CreateSession(ctx, newSession(id, "alice", accountTime.Add(time.Duration(i)*time.Minute)), 3); err != nil {
			t.Fatalf("CreateSession(%s): %v", id, err)
		}
	}
	if ss, _ := a.Sessions(ctx, "alice"); !slices.Equal(sessionIDs(ss), []string{"a3", "a4", "a5"}) {
		t.Errorf("alice's sessions with max 3 = %q, want the newest three", sessionIDs(ss))
	}
	if _, err := a.Session(ctx, "bob-old"); !errors.Is(err, storage.ErrSessionUnknown) {
		t.Errorf("an expired session survived a later login: %v", err)
	}
}
