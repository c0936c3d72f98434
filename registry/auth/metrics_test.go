package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cairn.dev/cairn/registry/auth"
)

// TestAuth_Metrics: /metrics needs registry:metrics:*: an administrator, a
// bearer token granted that scope, or an administrator's API token with it
// (as Basic password or as a bearer token, the way Prometheus sends one).
// Anonymous requests get 401 with a challenge for the scope; other users
// and tokens without the scope get 403.
func TestAuth_Metrics(t *testing.T) {
	s := newServer(t, auth.Config{})
	metrics := httptest.NewServer(s.Auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("cairn_http_requests_total 1\n"))
	})))
	t.Cleanup(metrics.Close)
	s.addUser(t, "alice", "alice-password", "**", "write")
	monitor := s.createToken(t, auth.AdminUser, adminPassword, time.Hour, "registry:metrics:*")
	pullOnly := s.createToken(t, auth.AdminUser, adminPassword, time.Hour, "repository:team-a/*:pull")
	alices := s.createToken(t, "alice", "alice-password", time.Hour, "registry:metrics:*")
	adminBearer := s.bearer(t, auth.AdminUser, adminPassword, "registry:metrics:*")
	catalogBearer := s.bearer(t, auth.AdminUser, adminPassword, "registry:catalog:*")

	get := func(user, pass, bearer string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", metrics.URL+"/metrics", nil)
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, tc := range []struct {
		name               string
		user, pass, bearer string
		want               int
	}{
		{"anonymous", "", "", "", http.StatusUnauthorized},
		{"wrong password", auth.AdminUser, "wrong-password", "", http.StatusUnauthorized},
		{"a user who is not an administrator", "alice", "alice-password", "", http.StatusForbidden},
		{"her API token with the metrics scope", "", "", alices.Token, http.StatusForbidden},
		{"an administrator's API token without the scope", "prometheus", pullOnly.Token, "", http.StatusForbidden},
		{"a bearer token for another scope", "", "", catalogBearer, http.StatusUnauthorized},
		{"an administrator", auth.AdminUser, adminPassword, "", http.StatusOK},
		{"a bearer token granted registry:metrics:*", "", "", adminBearer, http.StatusOK},
		{"a metrics API token as Basic password", "prometheus", monitor.Token, "", http.StatusOK},
		{"a metrics API token as bearer token", "", "", monitor.Token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h := get(tc.user, tc.pass, tc.bearer)
			if code != tc.want {
				t.Errorf("%d, want %d", code, tc.want)
			}
			if code == http.StatusUnauthorized && tc.user == "" && tc.bearer == "" {
				if c := h.Get("WWW-Authenticate"); c == "" || !strings.Contains(c, `scope="registry:metrics:*"`) {
					t.Errorf("challenge %q, want one for registry:metrics:*", c)
				}
			}
		})
	}
}
