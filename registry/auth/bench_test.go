package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cairn.dev/cairn/registry/auth"
)

// BenchmarkAuth_Bearer measures what auth adds to one manifest GET with a
// valid bearer token (the registry behind it does nothing).
func BenchmarkAuth_Bearer(b *testing.B) {
	s := newServer(b, auth.Config{})
	tok := s.bearer(b, "admin", adminPassword, "repository:bench/m:pull")
	h := s.Auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/v2/bench/m/manifests/latest", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}

// BenchmarkAuth_Basic is the same with Basic credentials on every request
// (the verified password is cached).
func BenchmarkAuth_Basic(b *testing.B) {
	s := newServer(b, auth.Config{})
	h := s.Auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/v2/bench/m/manifests/latest", nil)
		req.SetBasicAuth("admin", adminPassword)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}

// BenchmarkAuth_Session measures the check of a web UI session cookie
// (the record cached for auth.SessionCacheTTL, the user's stamp).
func BenchmarkAuth_Session(b *testing.B) {
	s := newServer(b, auth.Config{})
	secret, _, err := s.Auth.StartSession(b.Context(), auth.AdminUser, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := s.Auth.Session(context.Background(), secret); !ok {
				b.Fatal("session refused")
			}
		}
	})
}
