package auth

import (
	"net/http"
	"strings"
)

// Security headers. The API answers JSON and bytes, never pages, so its
// content security policy allows nothing; the web UI, which serves pages,
// sets its own.
const (
	apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	hsts   = "max-age=31536000"
)

// apiPath reports whether p is served by the registry, the token endpoint,
// the admin API or the operational endpoints rather than the web UI.
func apiPath(p string) bool {
	for _, root := range []string{"/v2", "/token", "/_cairn", "/healthz", "/metrics"} {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// secretPath reports whether answers on p carry credentials or account
// data, which no cache may keep.
func secretPath(p string) bool {
	return p == "/token" || p == "/_cairn/admin" || strings.HasPrefix(p, "/_cairn/admin/") ||
		p == "/_cairn/tokens" || strings.HasPrefix(p, "/_cairn/tokens/")
}

// SecurityHeaders sets, on every response of next: X-Content-Type-Options:
// nosniff, Referrer-Policy: no-referrer and X-Frame-Options: DENY; a strict
// Content-Security-Policy on the API paths (the web UI sets its own);
// Cache-Control: no-store on the token endpoint and the admin API; and
// Strict-Transport-Security when tls is set. It applies whether or not
// authentication is on.
func SecurityHeaders(next http.Handler, tls bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if apiPath(r.URL.Path) {
			h.Set("Content-Security-Policy", apiCSP)
		}
		if secretPath(r.URL.Path) {
			h.Set("Cache-Control", "no-store")
		}
		if tls {
			h.Set("Strict-Transport-Security", hsts)
		}
		next.ServeHTTP(w, r)
	})
}
