package auth_test

import (
	"net/http"
	"testing"

	"cairn.dev/cairn/registry/auth"
)

// TestAuth_Quarantine: reading a repository's quarantines needs pull;
// quarantining or releasing a version needs the admin role on it.
func TestAuth_Quarantine(t *testing.T) {
	s := newServer(t, auth.Config{})
	img := s.pushImage(t, "team-a/m", "v1", []byte("weights"), nil)
	s.addUser(t, "reader", "reader-password", "team-a/*", "read")
	s.addUser(t, "writer", "writer-password", "team-a/*", "write")
	s.addUser(t, "owner", "owner-password", "team-a/*", "admin")
	q := "/v2/team-a/m/_cairn/quarantine?digest=" + img.Manifest.String()
	body := []byte(`{"reason":"CVE-2026-0001"}`)
	for _, tc := range []struct {
		user, pass, method string
		want               int
	}{
		{"", "", http.MethodGet, http.StatusUnauthorized},
		{"reader", "reader-password", http.MethodGet, http.StatusOK},
		{"reader", "reader-password", http.MethodPut, http.StatusForbidden},
		{"writer", "writer-password", http.MethodPut, http.StatusForbidden},
		{"owner", "owner-password", http.MethodPut, http.StatusOK},
		{"reader", "reader-password", http.MethodDelete, http.StatusForbidden},
		{"writer", "writer-password", http.MethodDelete, http.StatusForbidden},
		{"owner", "owner-password", http.MethodDelete, http.StatusNoContent},
	} {
		path := q
		if tc.method == http.MethodGet {
			path = "/v2/team-a/m/_cairn/quarantine"
		}
		var b []byte
		if tc.method == http.MethodPut {
			b = body
		}
		if code, _, out := s.do(t, tc.method, path, tc.user, tc.pass, b); code != tc.want {
			t.Errorf("%s %s as %q: %d, want %d: %s", tc.method, path, tc.user, code, tc.want, out)
		}
	}
}
