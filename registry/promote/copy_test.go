package promote_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

// model is a version pushed to a test registry.
type model struct {
	ref  string             // HOST/REPO:TAG
	dir  string             // the files pushed
	desc ocispec.Descriptor // its manifest
	// sig and att are its signature and provenance referrers; sigsig is a
	// referrer of the signature (a referrer at depth 2).
	sig, att, sigsig ocispec.Descriptor
}

// pushModel pushes a model to ref; with key, signs it, attests its
// provenance and attaches a bundle to the signature.
func pushModel(t *testing.T, ref string, key crypto.Signer) *model {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), st, 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"tiny","ref":"`+ref+`"}`), 0o644)
	cache, err := client.OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo := open(t, ref)
	if _, err := client.Push(ctx, repo, dir, client.PushOptions{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	m := &model{ref: ref, dir: dir}
	if m.desc, _, err = repo.FetchManifest(ctx); err != nil {
		t.Fatal(err)
	}
	if key == nil {
		return m
	}
	kp, err := attest.NewKeypair(key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := client.Sign(ctx, repo, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.sig = signed.Referrer
	pt, _ := attest.PredicateType("slsaprovenance1")
	pred, _ := attest.Provenance(attest.BuildInfo{BuilderID: "https://ci.example/train"})
	attested, err := client.Attest(ctx, repo, kp, pt, pred, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.att = attested.Referrer
	b, err := attest.Sign(ctx, kp, m.sig, "sig", sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.sigsig, err = attest.Attach(ctx, repo.Repo, m.sig, attest.PredicateCosignSign, b); err != nil {
		t.Fatal(err)
	}
	return m
}

func open(t *testing.T, ref string) *client.Repository {
	t.Helper()
	r, err := client.Open(ref, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// gate is an agent trusting key, requiring a SLSA provenance.
func gate(t *testing.T, key crypto.Signer) *agent.Agent {
	t.Helper()
	pub, err := attest.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "release.pub"), pub, 0o644)
	p, err := verify.ParsePolicy([]byte(`version: 1
rules:
  - match: "**"
    signers:
      - key: release.pub
    attestations:
      - type: https://slsa.dev/provenance/v1
`), "policy.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	return &agent.Agent{Policy: p}
}

// checkAt checks that ref holds m: the gate accepts its signature and
// provenance there, the signature's own referrer came along, and a pull
// through the agent writes the files byte-identical.
func checkAt(t *testing.T, ref string, m *model, ag *agent.Agent) {
	t.Helper()
	ctx := t.Context()
	repo := open(t, ref)
	cache, _ := client.OpenCache(t.TempDir())
	dir := filepath.Join(t.TempDir(), "pulled")
	res, err := client.Pull(ctx, repo, dir, client.PullOptions{Cache: cache, Agent: ag})
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if !res.Receipt.Verified || res.Receipt.Signature == nil || len(res.Receipt.Attestations) != 1 {
		t.Fatalf("receipt at %s: %+v", ref, res.Receipt)
	}
	if res.Target.Desc.Digest != m.desc.Digest {
		t.Fatalf("%s is %s, want %s", ref, res.Target.Desc.Digest, m.desc.Digest)
	}
	for _, f := range []string{"model.safetensors", "config.json"} {
		want, _ := os.ReadFile(filepath.Join(m.dir, f))
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s from %s differs (%v)", f, ref, err)
		}
	}
	var refs []ocispec.Descriptor
	if err := repo.Repo.Referrers(ctx, m.sig, "", func(p []ocispec.Descriptor) error { refs = append(refs, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == m.sigsig.Digest }) {
		t.Fatalf("the signature's referrer %s is not at %s: %v", m.sigsig.Digest, ref, refs)
	}
}

// catalog lists a registry's repositories and their tags.
func catalog(t *testing.T, host string) []string {
	t.Helper()
	reg, err := remote.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	reg.PlainHTTP = true
	var out []string
	err = reg.Repositories(t.Context(), "", func(repos []string) error {
		for _, name := range repos {
			r, _ := reg.Repository(t.Context(), name)
			r.(*remote.Repository).Tags(t.Context(), "", func(tags []string) error {
				for _, tag := range tags {
					out = append(out, name+":"+tag)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCopy_CairnToCairn(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)
	ag := gate(t, key)

	res, err := promote.Copy(t.Context(), open(t, m.ref), open(t, b.Host+"/prod/tiny:v1"), promote.CopyOptions{Agent: ag})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Receipt.Verified || res.Desc.Digest != m.desc.Digest || res.Tag != "v1" {
		t.Fatalf("result: %+v", res)
	}
	// The version, its config and two files; three referrers, each a
	// manifest, a bundle layer and the empty config.
	if res.Referrers != 3 || res.Copied < 4+3*2 || res.Mounted != 0 {
		t.Fatalf("copied %d, mounted %d, %d referrers", res.Copied, res.Mounted, res.Referrers)
	}
	checkAt(t, b.Host+"/prod/tiny:v1", m, ag)

	// Again: everything is there, nothing is sent.
	again, err := promote.Copy(t.Context(), open(t, m.ref), open(t, b.Host+"/prod/tiny:v1"), promote.CopyOptions{Agent: ag})
	if err != nil {
		t.Fatal(err)
	}
	if again.Copied != 0 || again.Bytes != 0 || again.Skipped == 0 {
		t.Fatalf("second copy sent %d (%d bytes), skipped %d", again.Copied, again.Bytes, again.Skipped)
	}
}

func TestCopy_SameRegistryMounts(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)
	res, err := promote.Copy(t.Context(), open(t, m.ref), open(t, a.Host+"/prod/tiny:v1"), promote.CopyOptions{Agent: gate(t, key)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mounted == 0 {
		t.Fatalf("nothing mounted: %+v", res)
	}
	checkAt(t, a.Host+"/prod/tiny:v1", m, gate(t, key))
}

// The promotion gate: what the policy refuses is not copied, and the
// destination is left as it was.
func TestCopy_Refused(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	pushModel(t, b.Host+"/prod/other:v1", nil)
	before := catalog(t, b.Host)
	unsigned := pushModel(t, a.Host+"/train/unsigned:v1", nil)
	foreign := pushModel(t, a.Host+"/train/foreign:v1", newKey(t))

	for _, tc := range []struct {
		name string
		m    *model
		want string
	}{
		{"unsigned", unsigned, "signature"},
		{"untrusted signer", foreign, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := promote.Copy(t.Context(), open(t, tc.m.ref), open(t, b.Host+"/prod/x:v1"), promote.CopyOptions{Agent: gate(t, key)})
			if !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("copy: %v, want a refusal", err)
			}
			if res.Receipt == nil || res.Receipt.Verified || res.Receipt.Refusal == "" {
				t.Fatalf("receipt: %+v", res.Receipt)
			}
			if res.Copied != 0 {
				t.Fatalf("%d copied", res.Copied)
			}
			if after := catalog(t, b.Host); !slices.Equal(after, before) {
				t.Fatalf("destination changed: %v, was %v", after, before)
			}
			for _, d := range []ocispec.Descriptor{tc.m.desc} {
				if ok, _ := open(t, b.Host+"/prod/x").Repo.Exists(t.Context(), d); ok {
					t.Fatalf("%s reached the destination", d.Digest)
				}
			}
		})
	}
}

// A source that serves a blob whose bytes do not match its digest: the
// copy fails and the version does not appear at the destination.
func TestCopy_TamperedSource(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	m := pushModel(t, a.Host+"/train/tiny:v1", nil)
	st, _ := os.ReadFile(filepath.Join(m.dir, "model.safetensors"))
	var layer ocispec.Descriptor
	_, mb, _ := open(t, m.ref).FetchManifest(t.Context())
	for _, l := range manifestLayers(t, mb) {
		if l.Size == int64(len(st)) {
			layer = l
		}
	}
	p := filepath.Join(a.Dir, "blobs", "sha256", layer.Digest.Encoded())
	os.Chmod(p, 0o644)
	bad := bytes.Clone(st)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := promote.Copy(t.Context(), open(t, m.ref), open(t, b.Host+"/prod/tiny:v1"), promote.CopyOptions{})
	// The client's own check refuses it, not only the destination's.
	if !errors.Is(err, content.ErrMismatchedDigest) || !errors.Is(err, verify.ErrVerification) {
		t.Fatalf("copy: %v, want %v", err, content.ErrMismatchedDigest)
	}
	if ok, _ := open(t, b.Host+"/prod/tiny").Repo.Exists(t.Context(), m.desc); ok {
		t.Fatal("the version reached the destination")
	}
	if ok, _ := open(t, b.Host+"/prod/tiny").Repo.Exists(t.Context(), layer); ok {
		t.Fatal("the tampered blob reached the destination")
	}
}

// An interrupted copy resumes: what the destination has is not sent again.
func TestCopy_Resumes(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)
	ctx := t.Context()
	// The first copy stops after the first blob lands.
	cctx, cancel := context.WithCancel(ctx)
	res, err := promote.Copy(cctx, open(t, m.ref), open(t, b.Host+"/prod/tiny:v1"), promote.CopyOptions{Concurrency: 1, OnCopied: func(ocispec.Descriptor) { cancel() }})
	cancel()
	if err == nil {
		t.Fatalf("the interrupted copy completed: %+v", res)
	}
	if res.Copied == 0 {
		t.Fatal("nothing was copied before the interruption")
	}
	done, err := promote.Copy(ctx, open(t, m.ref), open(t, b.Host+"/prod/tiny:v1"), promote.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if done.Skipped < res.Copied {
		t.Fatalf("resumed copy skipped %d, the first had copied %d", done.Skipped, res.Copied)
	}
	checkAt(t, b.Host+"/prod/tiny:v1", m, gate(t, key))
}

// cairn -> distribution -> cairn: the referrers cross a registry of
// another make (through its referrers API or the tag schema) and the
// version verifies and pulls byte-identical at the end.
func TestCopy_ThroughDistribution(t *testing.T) {
	bin := distribution(t)
	a := registrytest.NewServer(t, registry.Config{})
	c := registrytest.NewServer(t, registry.Config{})
	dist := startDistribution(t, bin)
	key := newKey(t)
	ag := gate(t, key)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)

	if _, err := promote.Copy(t.Context(), open(t, m.ref), open(t, dist+"/mirror/tiny:v1"), promote.CopyOptions{Agent: ag}); err != nil {
		t.Fatal(err)
	}
	checkAt(t, dist+"/mirror/tiny:v1", m, ag)
	if _, err := promote.Copy(t.Context(), open(t, dist+"/mirror/tiny:v1"), open(t, c.Host+"/prod/tiny:v1"), promote.CopyOptions{Agent: ag}); err != nil {
		t.Fatal(err)
	}
	checkAt(t, c.Host+"/prod/tiny:v1", m, ag)
}

// distribution returns the path of the distribution registry: $REGISTRY,
// `registry` on PATH, or .tools/bin/registry of the repository.
func distribution(t *testing.T) string {
	if p := os.Getenv("REGISTRY"); p != "" {
		return p
	}
	if p, err := exec.LookPath("registry"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../../.tools/bin/registry"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("distribution registry not found (set REGISTRY, or GOBIN=$PWD/.tools/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2)")
	return ""
}

// startDistribution runs a distribution registry on loopback over a
// temporary directory and returns its host.
func startDistribution(t *testing.T, bin string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), host)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("distribution did not start on %s", host)
	return ""
}

func manifestLayers(t *testing.T, b []byte) []ocispec.Descriptor {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Layers
}

// A registry without the referrers API in the middle: the referrers
// travel through the referrers tag schema and arrive at the end.
func TestCopy_WithoutReferrersAPI(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	c := registrytest.NewServer(t, registry.Config{})
	mid := registrytest.NewServer(t, registry.Config{})
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			http.NotFound(w, r)
			return
		}
		mid.Registry.ServeHTTP(noSubject{w}, r)
	}))
	t.Cleanup(old.Close)
	oldHost := strings.TrimPrefix(old.URL, "http://")
	key := newKey(t)
	ag := gate(t, key)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)

	if _, err := promote.Copy(t.Context(), open(t, m.ref), open(t, oldHost+"/mirror/tiny:v1"), promote.CopyOptions{Agent: ag}); err != nil {
		t.Fatal(err)
	}
	// The tag schema's index names the version's referrers.
	tags := catalog(t, oldHost)
	if want := "mirror/tiny:sha256-" + m.desc.Digest.Encoded(); !slices.Contains(tags, want) {
		t.Fatalf("no referrers tag %s in %v", want, tags)
	}
	if _, err := promote.Copy(t.Context(), open(t, oldHost+"/mirror/tiny:v1"), open(t, c.Host+"/prod/tiny:v1"), promote.CopyOptions{Agent: ag}); err != nil {
		t.Fatal(err)
	}
	checkAt(t, c.Host+"/prod/tiny:v1", m, ag)
}

// noSubject hides the OCI-Subject header, by which a registry says it
// indexed a manifest's subject.
type noSubject struct{ http.ResponseWriter }

func (w noSubject) WriteHeader(code int) {
	w.Header().Del("OCI-Subject")
	w.ResponseWriter.WriteHeader(code)
}

func (w noSubject) Write(b []byte) (int, error) {
	w.Header().Del("OCI-Subject")
	return w.ResponseWriter.Write(b)
}
