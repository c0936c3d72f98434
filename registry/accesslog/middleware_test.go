package accesslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/accesslog"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/registry/storage"
)

var quiet = slog.New(slog.DiscardHandler)

// userHeader names the principal for standIn.
const userHeader = "X-Test-User"

// standIn plays the authentication layer in front of the middleware: it
// sets the principal from a test header.
func standIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get(userHeader); u != "" {
			r = r.WithContext(registry.WithPrincipal(r.Context(), u))
		}
		next.ServeHTTP(w, r)
	})
}

// secretGate answers 401 to anonymous and 403 to everyone else for the
// repositories under secret/: a handler behind the middleware that denies,
// as quarantine and the policy gate do.
func secretGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := registry.ParseRoute(r.URL.EscapedPath())
		if ok && strings.HasPrefix(rt.Name, "secret/") {
			if registry.Principal(r.Context()) == "anonymous" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			http.Error(w, `{"errors":[{"code":"DENIED"}]}`, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

var specsVersioned = specs.Versioned{SchemaVersion: 2}

type recordedServer struct {
	*registrytest.Server
	rec  *accesslog.Recorder
	host string
}

func newRecordedServer(t testing.TB, opts accesslog.Options) *recordedServer {
	t.Helper()
	s := registrytest.NewServer(t, registry.Config{Logger: quiet})
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	rec := accesslog.New(s.Meta, opts)
	srv := httptest.NewServer(standIn(rec.Middleware(secretGate(s.Registry))))
	t.Cleanup(func() {
		srv.Close()
		rec.Close(context.Background())
	})
	return &recordedServer{Server: s, rec: rec, host: strings.TrimPrefix(srv.URL, "http://")}
}

func (s *recordedServer) repo(t testing.TB, name, user string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(s.host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	c := &auth.Client{Header: http.Header{}}
	if user != "" {
		c.Header.Set(userHeader, user)
	}
	r.Client = c
	return r
}

// pushImage pushes a config, a layer and a manifest tagged tag.
func pushImage(t testing.TB, r *remote.Repository, tag string, layer []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg := []byte("{}")
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	layerDesc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cfgDesc, cfg}, {layerDesc, layer}} {
		if err := r.Push(ctx, b.d, bytes.NewReader(b.b)); err != nil {
			t.Fatal(err)
		}
	}
	man, _ := json.Marshal(ocispec.Manifest{Versioned: specsVersioned, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{layerDesc}})
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man))}
	if err := r.PushReference(ctx, desc, bytes.NewReader(man), tag); err != nil {
		t.Fatal(err)
	}
	return desc
}

func TestMiddleware_Registry(t *testing.T) {
	s := newRecordedServer(t, accesslog.Options{})
	ctx := t.Context()
	alice := s.repo(t, "team/model", "alice")
	man := pushImage(t, alice, "v1", []byte("weights"))

	// A pull: HEAD (not recorded), GET of the manifest (a pull), blobs
	// (not recorded).
	anon := s.repo(t, "team/model", "")
	if _, err := anon.Resolve(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	desc, rc, err := anon.FetchReference(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if b, err := anon.Fetch(ctx, ocispec.Descriptor{Digest: digest.FromBytes([]byte("weights")), Size: 7}); err == nil {
		io.Copy(io.Discard, b)
		b.Close()
	}
	if _, _, err := anon.FetchReference(ctx, "nope"); err == nil {
		t.Fatal("pull of an unknown tag succeeded")
	}
	// Denials answered behind the middleware.
	if _, _, err := s.repo(t, "secret/model", "").FetchReference(ctx, "v1"); err == nil {
		t.Fatal("anonymous pull of secret/model succeeded")
	}
	if _, _, err := s.repo(t, "secret/model", "bob").FetchReference(ctx, "v1"); err == nil {
		t.Fatal("bob's pull of secret/model succeeded")
	}
	// Catalog and delete.
	reg, _ := remote.NewRegistry(s.host)
	reg.PlainHTTP = true
	reg.Client = &auth.Client{Header: http.Header{userHeader: {"alice"}}}
	if err := reg.Repositories(ctx, "", func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(ctx, desc); err != nil {
		t.Fatal(err)
	}
	if err := s.rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	type row struct {
		principal, action, result, repo, ref string
		dgst                                 digest.Digest
		status                               int
	}
	want := []row{
		{"alice", storage.ActionPush, storage.ResultOK, "team/model", "v1", man.Digest, 201},
		{"anonymous", storage.ActionPull, storage.ResultOK, "team/model", "v1", man.Digest, 200},
		// The layer GET after it makes the pull a download (counted).
		{"anonymous", storage.ActionDownload, storage.ResultOK, "team/model", "v1", man.Digest, 200},
		{"anonymous", storage.ActionPull, storage.ResultFailed, "team/model", "nope", "", 404},
		{"anonymous", storage.ActionDenied, storage.ResultDenied, "secret/model", "v1", "", 401},
		{"bob", storage.ActionDenied, storage.ResultDenied, "secret/model", "v1", "", 403},
		{"alice", storage.ActionCatalog, storage.ResultOK, "", "", "", 200},
		// oras-go fetches a manifest before it deletes it.
		{"alice", storage.ActionPull, storage.ResultOK, "team/model", man.Digest.String(), man.Digest, 200},
		{"alice", storage.ActionDelete, storage.ResultOK, "team/model", man.Digest.String(), man.Digest, 202},
	}
	got := all(t, s.Meta, storage.AccessFilter{})
	if len(got) != len(want) {
		for _, g := range got {
			t.Logf("%+v", g)
		}
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[len(got)-1-i]
		if (row{g.Principal, g.Action, g.Result, g.Repository, g.Reference, g.Digest, g.Status}) != w {
			t.Errorf("record %d = %+v, want %+v", g.Seq, g, w)
		}
		if g.Address != "127.0.0.1" {
			t.Errorf("record %d: address %q", g.Seq, g.Address)
		}
	}
	if d := got[3].Detail; !strings.Contains(d, "GET /v2/secret/model/manifests/v1") {
		t.Errorf("denial detail = %q", d)
	}
	if st, err := s.Meta.VerifyAccess(ctx); err != nil || !st.OK || st.Records != len(want) {
		t.Fatalf("VerifyAccess = %+v, %v", st, err)
	}
}

func TestClassify(t *testing.T) {
	d := digest.FromString("m")
	hdr := http.Header{"Docker-Content-Digest": {d.String()}}
	for _, tc := range []struct {
		name, method, target string
		auth                 bool
		status               int
		h                    http.Header
		want                 *storage.AccessRecord
	}{
		{"pull", "GET", "/v2/a/b/manifests/v1", false, 200, hdr,
			&storage.AccessRecord{Action: "pull", Result: "ok", Status: 200, Repository: "a/b", Reference: "v1", Digest: d}},
		{"pull by digest", "GET", "/v2/a/manifests/" + d.String(), false, 200, nil,
			&storage.AccessRecord{Action: "pull", Result: "ok", Status: 200, Repository: "a", Reference: d.String(), Digest: d}},
		{"pull with a bad digest header", "GET", "/v2/a/manifests/v1", false, 200, http.Header{"Docker-Content-Digest": {"sha256:zz"}},
			&storage.AccessRecord{Action: "pull", Result: "ok", Status: 200, Repository: "a", Reference: "v1"}},
		{"escaped name", "GET", "/v2/a%2Fb/manifests/v1", false, 404, nil,
			&storage.AccessRecord{Action: "pull", Result: "failed", Status: 404, Repository: "a/b", Reference: "v1"}},
		{"push with tags", "PUT", "/v2/a/manifests/" + d.String() + "?tag=x&tag=y", false, 201, hdr,
			&storage.AccessRecord{Action: "push", Result: "ok", Status: 201, Repository: "a", Reference: d.String(), Digest: d, Detail: "tags x,y"}},
		{"manifest delete", "DELETE", "/v2/a/manifests/v1", false, 202, nil,
			&storage.AccessRecord{Action: "delete", Result: "ok", Status: 202, Repository: "a", Reference: "v1"}},
		{"blob delete", "DELETE", "/v2/a/blobs/" + d.String(), false, 202, nil,
			&storage.AccessRecord{Action: "delete", Result: "ok", Status: 202, Repository: "a", Digest: d}},
		{"catalog", "GET", "/v2/_catalog?n=10", false, 200, nil,
			&storage.AccessRecord{Action: "catalog", Result: "ok", Status: 200}},
		{"denied blob", "GET", "/v2/a/blobs/" + d.String(), true, 403, nil,
			&storage.AccessRecord{Action: "denied", Result: "denied", Status: 403, Repository: "a", Digest: d, Detail: "GET /v2/a/blobs/" + d.String()}},
		{"denied upload", "POST", "/v2/a/blobs/uploads/", false, 401, nil,
			&storage.AccessRecord{Action: "denied", Result: "denied", Status: 401, Repository: "a", Detail: "POST /v2/a/blobs/uploads/"}},
		{"denied unknown path", "GET", "/v2/nothing", true, 401, nil,
			&storage.AccessRecord{Action: "denied", Result: "denied", Status: 401, Detail: "GET /v2/nothing"}},
		{"bad credentials on ping", "GET", "/v2/", true, 401, nil,
			&storage.AccessRecord{Action: "denied", Result: "denied", Status: 401, Detail: "GET /v2/"}},
		{"challenge", "GET", "/v2/", false, 401, nil, nil},
		{"blob get", "GET", "/v2/a/blobs/" + d.String(), false, 200, nil, nil},
		{"blob head", "HEAD", "/v2/a/blobs/" + d.String(), false, 200, nil, nil},
		{"manifest head", "HEAD", "/v2/a/manifests/v1", false, 200, nil, nil},
		{"tags", "GET", "/v2/a/tags/list", false, 200, nil, nil},
		{"upload", "PATCH", "/v2/a/blobs/uploads/x", false, 202, nil, nil},
		{"upload cancel", "DELETE", "/v2/a/blobs/uploads/x", false, 204, nil, nil},
		{"ping", "GET", "/v2/", false, 200, nil, nil},
		{"referrers", "GET", "/v2/a/referrers/" + d.String(), false, 200, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.auth {
				req.Header.Set("Authorization", "Bearer x")
			}
			h := tc.h
			if h == nil {
				h = http.Header{}
			}
			got, ok := accesslog.Classify(req, tc.status, h)
			if tc.want == nil {
				if ok {
					t.Fatalf("recorded %+v, want nothing", got)
				}
				return
			}
			if !ok || got != *tc.want {
				t.Fatalf("Classify = %+v, %v, want %+v", got, ok, *tc.want)
			}
		})
	}
}

func TestClientAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.1:1234", nil, nil, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"198.51.100.7"}, nil, "192.0.2.1"},       // not trusted: ignored
		{"192.0.2.1:1234", []string{"198.51.100.7"}, proxies, "192.0.2.1"},   // peer not a proxy
		{"10.1.2.3:1234", []string{"198.51.100.7"}, proxies, "198.51.100.7"}, // one proxy
		{"10.1.2.3:1234", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, proxies, "198.51.100.7"},
		{"10.1.2.3:1234", []string{"6.6.6.6", "198.51.100.7,10.9.9.9"}, proxies, "198.51.100.7"},
		{"10.1.2.3:1234", []string{"10.5.5.5"}, proxies, "10.5.5.5"},          // all proxies: the furthest
		{"10.1.2.3:1234", []string{"garbage, 10.5.5.5"}, proxies, "10.5.5.5"}, // malformed ends the walk
		{"10.1.2.3:1234", []string{"198.51.100.7:80"}, proxies, "10.1.2.3"},   // ports are not addresses
		{"[::1]:1234", []string{"2001:db8::1"}, proxies, "2001:db8::1"},
		{"[::ffff:10.1.2.3]:1234", []string{"::ffff:192.0.2.9"}, proxies, "192.0.2.9"},
		{"pipe", nil, proxies, "pipe"},
		{"10.1.2.3:1234", []string{strings.Repeat("10.0.0.1,", 40) + "10.0.0.2"}, proxies, "10.0.0.1"},
	} {
		if got := accesslog.ClientAddress(tc.remote, tc.xff, tc.trusted); got != tc.want {
			t.Errorf("ClientAddress(%q, %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestMiddleware_TrustedProxy(t *testing.T) {
	s := newRecordedServer(t, accesslog.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.host+"/v2/_catalog", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.rec.Flush(t.Context())
	got := all(t, s.Meta, storage.AccessFilter{})
	if len(got) != 1 || got[0].Address != "203.0.113.5" {
		t.Fatalf("records = %+v", got)
	}
}

// TestMiddleware_RefusalReason: a pull the registry refuses (here a
// quarantine) is recorded with the registry's reason, and a manifest read
// without a layer GET is no download while one with two layer GETs is one.
func TestMiddleware_RefusalReason(t *testing.T) {
	s := newRecordedServer(t, accesslog.Options{})
	ctx := t.Context()
	alice := s.repo(t, "team/model", "alice")
	man := pushImage(t, alice, "v1", []byte("weights"))
	bad := pushImage(t, alice, "bad", []byte("other weights"))
	if err := s.Meta.SetQuarantine(ctx, storage.Quarantine{Repository: "team/model", Digest: bad.Digest, Reason: "licence withdrawn", By: "security", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	anon := s.repo(t, "team/model", "")
	if _, _, err := anon.FetchReference(ctx, "bad"); err == nil {
		t.Fatal("the quarantined version was served")
	}
	// A manifest read alone (as cairn tag does), then a pull: two layer
	// GETs after one manifest GET make one download.
	if _, _, err := anon.FetchReference(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	_, rc, err := anon.FetchReference(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	json.NewDecoder(rc).Decode(&m)
	rc.Close()
	for range 2 {
		b, err := anon.Fetch(ctx, m.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, b)
		b.Close()
	}
	if err := s.rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	denied := all(t, s.Meta, storage.AccessFilter{Action: storage.ActionDenied})
	if len(denied) != 1 || !strings.Contains(denied[0].Detail, "quarantined: licence withdrawn") {
		t.Errorf("denied records %+v, want one naming the quarantine's reason", denied)
	}
	downloads := all(t, s.Meta, storage.AccessFilter{Action: storage.ActionDownload})
	if len(downloads) != 1 || downloads[0].Digest != man.Digest {
		t.Errorf("download records %+v, want one of %s", downloads, man.Digest)
	}
	if n := len(all(t, s.Meta, storage.AccessFilter{Action: storage.ActionPull})); n != 2 {
		t.Errorf("%d pull records, want 2 (every manifest GET)", n)
	}
}
