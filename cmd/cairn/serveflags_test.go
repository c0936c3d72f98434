package main

import (
	"net/http"
	"strings"
	"testing"

	"cairn.dev/cairn/registry/accesslog"
)

// TestServe_RealmAndProxies: --realm is the token endpoint the challenge
// names (a server behind a TLS-terminating proxy), and --trusted-proxy
// values must be addresses or prefixes.
func TestServe_RealmAndProxies(t *testing.T) {
	t.Setenv("CAIRN_ADMIN_PASSWORD", "admin-password-for-the-test")
	host, stop := serveInProcess(t, "--data", t.TempDir(), "--auth",
		"--realm", "https://registry.example.com/token", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "192.168.1.7")
	defer stop()
	resp, err := http.Get("http://" + host + "/v2/models/m/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(c, `realm="https://registry.example.com/token"`) {
		t.Errorf("challenge %d %q, want the realm given", resp.StatusCode, c)
	}

	for _, bad := range []string{"nonsense", "10.0.0.0/33", ""} {
		if _, err := accesslog.ParsePrefixes([]string{bad}); err == nil {
			t.Errorf("--trusted-proxy %q: no error", bad)
		}
	}
	ps, err := accesslog.ParsePrefixes([]string{"10.1.2.3/8", "::1", "192.168.1.7"})
	if err != nil || len(ps) != 3 || ps[0].String() != "10.0.0.0/8" || ps[1].String() != "::1/128" || ps[2].String() != "192.168.1.7/32" {
		t.Errorf("parsePrefixes = %v, %v", ps, err)
	}
}
