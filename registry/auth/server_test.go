package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

const adminPassword = "admin-password-1"

// clock is a settable time source shared by the server and the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder keeps access records for the tests to read.
type recorder struct {
	mu   sync.Mutex
	recs []storage.AccessRecord
}

func (r *recorder) Record(ctx context.Context, rec storage.AccessRecord) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) find(match func(storage.AccessRecord) bool) []storage.AccessRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []storage.AccessRecord
	for _, rec := range r.recs {
		if match(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// server is a registry with auth on over a fresh data directory.
type server struct {
	*httptest.Server
	Host  string
	Auth  *auth.Auth
	Meta  *meta.DB
	Clock *clock
	Rec   *recorder
}

// newServer starts cas + bbolt + registry behind auth, with the user admin
// (admin on **) bootstrapped. cfg may set Throttle, TokenTTL and the like;
// its stores, clock and recorder are replaced.
func newServer(t testing.TB, cfg auth.Config) *server {
	t.Helper()
	dir := t.TempDir()
	blobs, err := cas.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC()}
	rec := &recorder{}
	if _, err := (auth.Bootstrap{Password: adminPassword, Now: clk.Now, Cost: bcrypt.MinCost}).Ensure(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	cfg.Accounts, cfg.Meta, cfg.Now, cfg.Recorder = db, db, clk.Now, rec
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.MinCost
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := auth.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.SecurityHeaders(a.Wrap(reg), false))
	t.Cleanup(srv.Close)
	return &server{Server: srv, Host: strings.TrimPrefix(srv.URL, "http://"), Auth: a, Meta: db, Clock: clk, Rec: rec}
}

// do sends a request with Basic credentials (user "" sends none) and returns
// the status, header and body.
func (s *server) do(t testing.TB, method, path, user, pass string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// admin calls the admin API as admin and decodes the answer into out.
func (s *server) admin(t testing.TB, method, path string, in, out any) int {
	t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	code, _, b := s.do(t, method, path, auth.AdminUser, adminPassword, body, "Content-Type", "application/json")
	if out != nil && code < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if code >= 300 {
		t.Logf("%s %s: %d %s", method, path, code, b)
	}
	return code
}

func (s *server) addUser(t testing.TB, name, password string, grants ...string) {
	t.Helper()
	if code := s.admin(t, "POST", "/_cairn/admin/users", auth.NewUser{Name: name, Password: password}, nil); code != http.StatusCreated {
		t.Fatalf("add user %s: %d", name, code)
	}
	for i := 0; i+1 < len(grants); i += 2 {
		if code := s.admin(t, "PUT", "/_cairn/admin/grants", auth.GrantInfo{User: name, Pattern: grants[i], Role: grants[i+1]}, nil); code != http.StatusOK {
			t.Fatalf("grant %s %s %s: %d", name, grants[i], grants[i+1], code)
		}
	}
}

// createToken makes an API token for user (who logs in with password).
func (s *server) createToken(t testing.TB, user, password string, expiresIn time.Duration, scopes ...string) auth.CreatedToken {
	t.Helper()
	body, _ := json.Marshal(auth.NewToken{Name: "test", Scopes: scopes, ExpiresIn: int64(expiresIn / time.Second)})
	code, _, b := s.do(t, "POST", "/_cairn/tokens", user, password, body)
	var ct auth.CreatedToken
	if code != http.StatusCreated || json.Unmarshal(b, &ct) != nil || ct.Token == "" {
		t.Fatalf("create token for %s %v: %d %s", user, scopes, code, b)
	}
	return ct
}

// repo returns an oras-go repository client that logs in with cred
// through the token flow, as oras does.
func (s *server) repo(t testing.TB, name string, cred orasauth.Credential) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(s.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	r.Client = s.client(cred)
	return r
}

// client is an oras-go auth client with its own token cache.
func (s *server) client(cred orasauth.Credential) *orasauth.Client {
	c := &orasauth.Client{Client: http.DefaultClient, Cache: orasauth.NewCache()}
	if cred != orasauth.EmptyCredential {
		c.Credential = orasauth.StaticCredential(s.Host, cred)
	}
	return c
}

// image is what pushImage pushed.
type image struct {
	Manifest, Config, Layer digest.Digest
	ManifestBody            []byte
}

// pushImage pushes a config, a layer and a manifest as admin, with Basic
// credentials straight on /v2/. subject, when set, makes it a referrer.
func (s *server) pushImage(t testing.TB, repo, tag string, layer []byte, subject *image) image {
	t.Helper()
	cfg := []byte("{}")
	put := func(method, path, ct string, body []byte) {
		t.Helper()
		code, _, b := s.do(t, method, path, auth.AdminUser, adminPassword, body, "Content-Type", ct)
		if code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
	}
	put("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "application/octet-stream", cfg)
	put("POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(layer).String(), "application/octet-stream", layer)
	m := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/octet-stream", "digest": digest.FromBytes(layer), "size": len(layer)}},
	}
	if subject != nil {
		m["artifactType"] = "application/vnd.example.sig"
		m["subject"] = map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.Manifest, "size": len(subject.ManifestBody)}
	}
	body, _ := json.Marshal(m)
	ref := tag
	if ref == "" {
		ref = digest.FromBytes(body).String()
	}
	put("PUT", "/v2/"+repo+"/manifests/"+ref, "application/vnd.oci.image.manifest.v1+json", body)
	return image{Manifest: digest.FromBytes(body), Config: digest.FromBytes(cfg), Layer: digest.FromBytes(layer), ManifestBody: body}
}

// bearer fetches a token from GET /token as user for scopes.
func (s *server) bearer(t testing.TB, user, pass string, scopes ...string) string {
	t.Helper()
	q := "service=" + s.Host
	for _, sc := range scopes {
		q += "&scope=" + sc
	}
	code, _, b := s.do(t, "GET", "/token?"+q, user, pass, nil)
	var tr struct {
		Token string `json:"token"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &tr) != nil || tr.Token == "" {
		t.Fatalf("token for %s %v: %d %s", user, scopes, code, b)
	}
	return tr.Token
}

func itoa(n int) string { return strconv.Itoa(n) }

type digestT = digest.Digest

func sha(b []byte) string { return digest.FromBytes(b).String() }
