package auth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"cairn.dev/cairn/registry/auth"
)

// TestAuth_Sessions: web UI sessions as the Authorizer keeps them: a
// session lives until it expires, is ended, or its user's password, roles
// or API token change; secrets that were never issued are refused; a user
// has at most MaxSessionsPerUser; administrators list and end them.
func TestAuth_Sessions(t *testing.T) {
	s := newServer(t, auth.Config{})
	s.addUser(t, "alice", "alice-password", "team-a/*", "read")
	ctx := auth.WithClientAddr(t.Context(), "192.0.2.7")
	start := func(principal string) string {
		t.Helper()
		secret, exp, err := s.Auth.StartSession(ctx, principal, time.Hour)
		if err != nil {
			t.Fatalf("StartSession(%s): %v", principal, err)
		}
		if want := s.Clock.Now().Add(time.Hour).Truncate(time.Second); !exp.Equal(want) {
			t.Errorf("session expires %v, want %v", exp, want)
		}
		return secret
	}
	live := func(secret string) string {
		t.Helper()
		p, ok := s.Auth.Session(context.Background(), secret)
		if !ok {
			return ""
		}
		return p
	}
	p, err := s.Auth.Login(ctx, "alice", "alice-password")
	if err != nil || p != "alice" {
		t.Fatalf("Login = %q, %v", p, err)
	}
	a1 := start(p)
	if got := live(a1); got != "alice" {
		t.Fatalf("a fresh session: %q, want alice", got)
	}
	end := "A"
	if a1[len(a1)-1] == 'A' {
		end = "B" // a different secret, whatever a1 ends with
	}
	for _, bogus := range []string{"", "x", a1 + "x", a1[:len(a1)-1] + end, "cairn_session"} {
		if got := live(bogus); got != "" {
			t.Errorf("Session(%q) = %q, want refused", bogus, got)
		}
	}
	if _, _, err := s.Auth.StartSession(ctx, "nobody", time.Hour); err == nil {
		t.Error("a session for a user who does not exist")
	}

	// Listed with the address; ended one by one.
	var list struct {
		Sessions []auth.SessionInfo `json:"sessions"`
	}
	s.Clock.Add(time.Millisecond)
	a2 := start("alice")
	if code := s.admin(t, "GET", "/_cairn/admin/sessions?user=alice", nil, &list); code != http.StatusOK || len(list.Sessions) != 2 ||
		list.Sessions[0].Address != "192.0.2.7" || list.Sessions[0].Principal != "alice" {
		t.Fatalf("sessions of alice: %d %+v", code, list.Sessions)
	}
	for _, ss := range list.Sessions {
		if ss.ID == a1 || ss.ID == a2 {
			t.Error("the admin API shows a session's secret")
		}
	}
	if code := s.admin(t, "DELETE", "/_cairn/admin/sessions/"+list.Sessions[0].ID, nil, nil); code != http.StatusNoContent {
		t.Errorf("end one session: %d", code)
	}
	if code := s.admin(t, "DELETE", "/_cairn/admin/sessions/"+list.Sessions[0].ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("end it again: %d, want 404", code)
	}
	if live(a1) != "" || live(a2) != "alice" {
		t.Errorf("after ending the oldest: %q %q, want the first refused and the second alive", live(a1), live(a2))
	}
	if err := s.Auth.EndSession(ctx, a2); err != nil || live(a2) != "" {
		t.Errorf("EndSession: %v; session %q", err, live(a2))
	}

	// Account changes end sessions.
	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"password change", func() {
			s.admin(t, "PUT", "/_cairn/admin/users/alice/password", auth.NewPassword{Password: "alice-password-2"}, nil)
		}},
		{"role granted", func() {
			s.admin(t, "PUT", "/_cairn/admin/grants", auth.GrantInfo{User: "alice", Pattern: "team-b/*", Role: "read"}, nil)
		}},
		{"role revoked", func() { s.admin(t, "DELETE", "/_cairn/admin/grants?user=alice&pattern=team-b/*", nil, nil) }},
	} {
		secret := start("alice")
		tc.change()
		if got := live(secret); got != "" {
			t.Errorf("%s: the session still works", tc.name)
		}
	}

	// Granting a role the user already has changes nothing.
	same := start("alice")
	s.admin(t, "PUT", "/_cairn/admin/grants", auth.GrantInfo{User: "alice", Pattern: "team-a/*", Role: "read"}, nil)
	if live(same) != "alice" {
		t.Error("granting a role alice already had ended her session")
	}

	// A session logged in with an API token ends with the token.
	tok := s.createToken(t, "alice", "alice-password-2", time.Hour, "repository:team-a/*:pull")
	tp, err := s.Auth.Login(ctx, "any", tok.Token)
	if err != nil || tp != "token:"+tok.ID {
		t.Fatalf("Login with an API token = %q, %v", tp, err)
	}
	ts := start(tp)
	if got := live(ts); got != tp {
		t.Errorf("token session: %q, want %q", got, tp)
	}
	if code := s.admin(t, "DELETE", "/_cairn/tokens/"+tok.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke the token: %d", code)
	}
	if got := live(ts); got != "" {
		t.Errorf("a session of a revoked API token: %q", got)
	}

	// Bounded per user: the oldest go (the ones that ended above first).
	s.Clock.Add(time.Millisecond)
	first := start("alice")
	for range auth.MaxSessionsPerUser {
		s.Clock.Add(time.Millisecond)
		start("alice")
	}
	if live(first) != "" {
		t.Errorf("the oldest of %d sessions survived", auth.MaxSessionsPerUser+1)
	}
	if code := s.admin(t, "GET", "/_cairn/admin/sessions?user=alice", nil, &list); code != http.StatusOK || len(list.Sessions) != auth.MaxSessionsPerUser {
		t.Errorf("alice has %d sessions, want %d", len(list.Sessions), auth.MaxSessionsPerUser)
	}

	// Expiry.
	last := start("alice")
	s.Clock.Add(time.Hour + time.Second)
	if live(last) != "" {
		t.Error("an expired session works")
	}
}
