package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/gate"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/lineage"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/web"
)

// env is a registry and its UI on one loopback server, as cairn serve
// composes them: /v2/ to the registry (behind the UI's Watch and a pull
// recorder), everything else to the UI.
type env struct {
	t     testing.TB
	Dir   string
	Blobs *cas.Store
	Meta  *meta.DB
	UI    *web.UI
	Srv   *httptest.Server
	URL   string
	Host  string
	// Key signs; its public half is release.pub in Dir, trusted by the
	// policy when the env has one.
	Key *attest.Keypair
	// PolicyFile is the policy's path, when the env has one; the registry
	// enforces it (registry/gate) and the UI shows the gate's verdicts.
	PolicyFile string
}

type envOptions struct {
	// Policy, when set, is a policy file's text; %[1]s is the host.
	Policy string
	Auth   web.Authorizer
	Config func(*web.Config)
	// NoSync skips fsync in the metadata store (benchmarks).
	NoSync bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	blobs, err := cas.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{NoSync: o.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, Dir: dir, Blobs: blobs, Meta: db}
	key, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if e.Key, err = attest.NewKeypair(key); err != nil {
		t.Fatal(err)
	}
	pub, err := attest.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "release.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}

	var h http.Handler
	e.Srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	e.Srv.Start()
	t.Cleanup(e.Srv.Close)
	e.URL = e.Srv.URL
	e.Host = strings.TrimPrefix(e.Srv.URL, "http://")

	cfg := web.Config{Meta: db, Blobs: blobs, PolicyHost: e.Host, Auth: o.Auth,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	rcfg := registry.Config{Blobs: blobs, Meta: db}
	if o.Policy != "" {
		// As cairn serve --policy loads it: by the file's full path, which
		// no page may show.
		e.PolicyFile = filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(e.PolicyFile, []byte(fmt.Sprintf(o.Policy, e.Host)), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := verify.LoadPolicy(e.PolicyFile)
		if err != nil {
			t.Fatal(err)
		}
		g := gate.New(p, e.Host, db, blobs)
		cfg.Policy, cfg.Gate, rcfg.PullGate = p, g, g
	}
	reg, err := registry.New(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	if e.UI, err = web.New(cfg); err != nil {
		t.Fatal(err)
	}
	api := e.UI.Watch(recordPulls(t, db, reg))
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			api.ServeHTTP(w, r)
			return
		}
		e.UI.ServeHTTP(w, r)
	})
	return e
}

// recordPulls records the registry's requests in the access log with the
// recorder cairn serve uses, flushing after each request so that a page
// read next shows it.
func recordPulls(t testing.TB, log storage.AccessLog, next http.Handler) http.Handler {
	rec := accesslog.New(log, accesslog.Options{})
	t.Cleanup(func() { rec.Close(context.Background()) })
	mw := rec.Middleware(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r)
		if err := rec.Flush(context.WithoutCancel(r.Context())); err != nil {
			t.Errorf("flush access log: %v", err)
		}
	})
}

// repo is an oras-go client for a repository of the env's registry.
func (e *env) repo(name string) *remote.Repository {
	e.t.Helper()
	r, err := remote.NewRepository(e.Host + "/" + name)
	if err != nil {
		e.t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

// pushModel packs files as a ModelPack model (or dataset) with cairn's own packer
// (model.Scan and model.Build) and pushes it as name:tag with oras-go.
func (e *env) pushModel(name, tag string, files map[string]string, annotations map[string]string) ocispec.Descriptor {
	e.t.Helper()
	ctx := context.Background()
	dir := e.t.TempDir()
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	// Repositories under datasets/ are packed as datasets (small files
	// grouped into tar layers), the rest as models.
	entries, err := model.Scan(dir, model.ScanOptions{Dataset: strings.HasPrefix(name, "datasets/")})
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.repo(name)
	digests := make([]digest.Digest, len(entries))
	for i, en := range entries {
		rc, err := en.Open()
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		digests[i] = digest.FromBytes(b)
		if err := r.Push(ctx, ocispec.Descriptor{MediaType: en.MediaType, Digest: digests[i], Size: int64(len(b))}, bytes.NewReader(b)); err != nil {
			e.t.Fatal(err)
		}
	}
	config, manifest, err := model.Build(entries, digests, model.BuildOptions{Annotations: annotations, Name: name, Version: tag})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Push(ctx, ocispec.Descriptor{MediaType: model.MediaTypeConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}, bytes.NewReader(config)); err != nil {
		e.t.Fatal(err)
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := r.PushReference(ctx, md, bytes.NewReader(manifest), tag); err != nil {
		e.t.Fatal(err)
	}
	return md
}

// sign attaches a cosign-style signature of desc by the env's key.
func (e *env) sign(name string, desc ocispec.Descriptor) {
	e.t.Helper()
	e.signWith(e.Key, name, desc)
}

// signWith attaches a cosign-style signature of desc by kp.
func (e *env) signWith(kp *attest.Keypair, name string, desc ocispec.Descriptor) {
	e.t.Helper()
	ctx := context.Background()
	b, err := attest.Sign(ctx, kp, desc, e.Host+"/"+name, sign.BundleOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := attest.Attach(ctx, e.repo(name), desc, verify.PredicateCosignSign, b); err != nil {
		e.t.Fatal(err)
	}
}

// attest attaches SLSA provenance of desc naming deps.
func (e *env) attest(name string, desc ocispec.Descriptor, builder string, params map[string]any, deps ...lineage.Dependency) {
	e.t.Helper()
	ctx := context.Background()
	pred, err := attest.Provenance(attest.BuildInfo{BuilderID: builder, ExternalParameters: params, Dependencies: deps})
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := attest.Attest(ctx, e.Key, desc, e.Host+"/"+name, attest.PredicateSLSAProvenance, pred, sign.BundleOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := attest.Attach(ctx, e.repo(name), desc, attest.PredicateSLSAProvenance, b); err != nil {
		e.t.Fatal(err)
	}
}

// pull fetches a manifest through the registry, as a client's pull does.
func (e *env) pull(name, ref string) {
	e.t.Helper()
	r := e.repo(name)
	desc, rc, err := r.FetchReference(context.Background(), ref)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	// A pull fetches the layers too: the first one makes it a download.
	var m ocispec.Manifest
	if json.Unmarshal(b, &m) == nil && len(m.Layers) > 0 {
		lrc, err := r.Blobs().Fetch(context.Background(), m.Layers[0])
		if err != nil {
			e.t.Fatal(err)
		}
		io.Copy(io.Discard, lrc)
		lrc.Close()
	}
	_ = desc
}

// client is an HTTP client with a cookie jar that does not follow
// redirects, so tests see them.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches a page and returns its status and body.
func get(t testing.TB, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// csrfRe finds the CSRF token of a form.
var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// login logs c in through the login form.
func login(t testing.TB, c *http.Client, base, user, password string) *http.Response {
	t.Helper()
	_, _, body := get(t, c, base+"/login")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("login page has no CSRF token:\n%s", body)
	}
	resp, err := c.PostForm(base+"/login", url.Values{"_csrf": {m[1]}, "user": {user}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// testAuth is an Authorizer of fixed users and grants: each user's
// password is its name reversed (the password "throttled" is answered as
// the auth layer answers a throttled address); grants are repository patterns as
// registry/auth matches them.
type testAuth struct {
	grants map[string][]string // user -> patterns readable
	admins map[string]bool

	mu       sync.Mutex
	sessions map[string]string // secret -> principal
}

func (a *testAuth) StartSession(ctx context.Context, principal string, ttl time.Duration) (string, time.Time, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions == nil {
		a.sessions = map[string]string{}
	}
	secret := rand.Text()
	a.sessions[secret] = principal
	return secret, time.Now().Add(ttl), nil
}

func (a *testAuth) Session(ctx context.Context, secret string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.sessions[secret]
	return p, ok
}

func (a *testAuth) EndSession(ctx context.Context, secret string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions, secret)
	return nil
}

func (a *testAuth) Authenticate(r *http.Request) (string, bool) { return "", false }

func (a *testAuth) Login(ctx context.Context, user, password string) (string, error) {
	if password == "throttled" {
		return "", &auth.ThrottledError{RetryAfter: 2500 * time.Millisecond}
	}
	if _, ok := a.grants[user]; !ok || password != reverse(user) {
		return "", fmt.Errorf("user %q: wrong password", user)
	}
	return user, nil
}

func (a *testAuth) CanRead(principal, repo string) bool {
	if a.admins[principal] {
		return true
	}
	for _, p := range a.grants[principal] {
		if auth.Match(p, repo) {
			return true
		}
	}
	return false
}

func (a *testAuth) IsAdmin(principal string) bool { return a.admins[principal] }

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
