package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/gate"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify"
)

// floodReferrers pushes n referrers of subject in repo through the
// registry's API, each with the artifact type of a Sigstore bundle and one
// layer of junk that is not a bundle, all created after the model's real
// signature (so newest-first alone would read only junk). Every other one
// names a key id (not the trusted key's) as its signer hint. It returns
// their digests.
func floodReferrers(t testing.TB, srv *registrytest.Server, repo string, subject ocispec.Descriptor, n int, otherKeyID string) []digest.Digest {
	t.Helper()
	base := srv.URL + "/v2/" + repo
	junk := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","junk":true}`)
	empty := []byte("{}")
	for _, b := range [][]byte{junk, empty} {
		resp, err := http.Post(base+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("push blob: %s", resp.Status)
		}
	}
	start := time.Now().Add(time.Hour)
	out := make([]digest.Digest, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				ann := fmt.Sprintf(`{%q:%q,"flood":"%d"`, ocispec.AnnotationCreated, start.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339), i)
				if i%2 == 1 {
					ann += fmt.Sprintf(`,%q:%q`, attest.AnnotationKeyID, otherKeyID)
				}
				ann += "}"
				man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,`+
					`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},`+
					`"layers":[{"mediaType":%q,"digest":%q,"size":%d}],`+
					`"subject":{"mediaType":%q,"digest":%q,"size":%d},"annotations":%s}`,
					ocispec.MediaTypeImageManifest, attest.MediaTypeBundle, digest.FromBytes(empty),
					attest.MediaTypeBundle, digest.FromBytes(junk), len(junk),
					subject.MediaType, subject.Digest, subject.Size, ann))
				out[i] = digest.FromBytes(man)
				req, _ := http.NewRequest("PUT", base+"/manifests/"+out[i].String(), bytes.NewReader(man))
				req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("PUT referrer %d: %s", i, resp.Status)
					}
				}
				if err != nil {
					failed.Store(err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAttack_ReferrerFlood: anyone who may push can attach any number of
// junk sigstore-typed referrers to a model. The one valid signature among
// 10,000 of them still verifies for `cairn verify --key`, `cairn run` and
// the pull gate; with only junk left, the refusal says how many
// candidates there were and how many were read.
func TestAttack_ReferrerFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 10,000 referrers")
	}
	const flood = 10_000
	e := newAgentEnv(t)
	e.srv = registrytest.NewServerNoSync(t, registry.Config{}) // 10,000 commits
	ref := e.push(t, "models/flooded:v1", e.model(), e.key)
	repo := e.srv.Repository(t, "models/flooded")
	subject, err := repo.Resolve(t.Context(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := verify.LoadPublicKey(e.other + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	floodReferrers(t, e.srv, "models/flooded", subject, flood, verify.KeyID(other))

	var sig ocispec.Descriptor
	var candidates int
	repo.Referrers(t.Context(), subject, attest.MediaTypeBundle, func(page []ocispec.Descriptor) error {
		for _, d := range page {
			candidates++
			if d.Annotations[attest.AnnotationPredicateType] == attest.PredicateCosignSign {
				sig = d
			}
		}
		return nil
	})
	if candidates != flood+1 || sig.Digest == "" {
		t.Fatalf("listed %d bundle referrers (signature %q), want %d and the signature", candidates, sig.Digest, flood+1)
	}

	// cairn verify --key and cairn run accept the model.
	code, out := e.cairn(t, "verify", ref, "--key", e.key+".pub", "--signatures-only")
	if code != 0 {
		t.Fatalf("verify --signatures-only of a flooded model: exit %d\n%s", code, out)
	}
	dir := filepath.Join(t.TempDir(), "models")
	marker := filepath.Join(t.TempDir(), "ran")
	code, out = e.cairn(t, append([]string{"run", "--key", e.key + ".pub", "--ref", ref, "--dir", dir}, workload(marker, dir, 0)...)...)
	if code != 0 {
		t.Fatalf("run of a flooded model: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the workload did not run: %v", err)
	}
	// The pulled directory's record keeps the signature: verified offline.
	if code, out := e.cairn(t, "verify", dir, "--key", e.key+".pub"); code != 0 {
		t.Fatalf("verify of the pulled directory: exit %d\n%s", code, out)
	}

	// The pull gate accepts it.
	pub, err := verify.LoadPublicKey(e.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	trust := verify.Trust{Keys: []verify.Key{{Name: e.key + ".pub", Public: pub}}}
	g := gate.New(verify.SignersRule(trust, ""), e.srv.Host, e.srv.Meta, e.srv.Blobs)
	m, err := e.srv.Meta.Manifest(t.Context(), "models/flooded", subject.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(t.Context(), "models/flooded", "v1", m); err != nil {
		t.Fatalf("gate refused a flooded model: %v", err)
	}

	// Only junk: the refusal names the candidates and what was read.
	if err := repo.Delete(t.Context(), sig); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d signature candidates, none verified with key %s (%d read, %d not read: limit %d)",
		flood, e.key+".pub", verify.MaxBundles, flood-verify.MaxBundles, verify.MaxBundles)
	code, out = e.cairn(t, "verify", ref, "--key", e.key+".pub", "--signatures-only")
	if code != exitRefused || !strings.Contains(out, want) {
		t.Errorf("verify of junk only: exit %d, want %d with %q:\n%s", code, exitRefused, want, out)
	}
	err = g.Check(t.Context(), "models/flooded", "v1", m)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("gate over junk only: %v, want %q", err, want)
	}
}

// TestReferrers_Pages: 15,000 referrers of one manifest are all listed,
// page by page (Link headers), through oras-go's Referrers and through
// `cairn ls --all`; none is cut.
func TestReferrers_Pages(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 15,000 referrers")
	}
	const n = 15_000
	srv := registrytest.NewServerNoSync(t, registry.Config{})
	pushImage(t, srv.URL, "models/many", "v1", []byte("weights"))
	repo := srv.Repository(t, "models/many")
	subject, err := repo.Resolve(t.Context(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	pushed := floodReferrers(t, srv, "models/many", subject, n, "0000")

	for _, at := range []string{"", attest.MediaTypeBundle} {
		seen := map[digest.Digest]bool{}
		pages := 0
		err := repo.Referrers(t.Context(), subject, at, func(page []ocispec.Descriptor) error {
			pages++
			for _, d := range page {
				seen[d.Digest] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := n / registry.DefaultReferrersPageSize; pages != want {
			t.Errorf("artifactType %q: %d pages, want %d of %d", at, pages, want, registry.DefaultReferrersPageSize)
		}
		for _, d := range pushed {
			if !seen[d] {
				t.Fatalf("artifactType %q: referrer %s not listed (%d of %d seen)", at, d, len(seen), n)
			}
		}
	}

	out := mustRun(t, "ls", srv.Host+"/models/many", "--all", "--json")
	var res client.VersionList
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, v := range res.Versions {
		if v.Subject == subject.Digest {
			listed++
		}
	}
	if listed != n {
		t.Errorf("cairn ls --all listed %d referrers, want %d", listed, n)
	}
}

// BenchmarkVerify_ReferrerFlood measures `cairn verify REF --key
// --signatures-only` (a process, as users run it) on a signed model with
// no other referrers and with 10,000 junk sigstore-typed referrers: the
// time per verify and the largest resident set of the process.
func BenchmarkVerify_ReferrerFlood(b *testing.B) {
	srv := registrytest.NewServerNoSync(b, registry.Config{})
	bin := buildCairn(b)
	key := writePair(b, b.TempDir(), "release")
	cache := b.TempDir()
	tiny, err := os.ReadFile("../../testdata/model/tiny.safetensors")
	if err != nil {
		b.Fatal(err)
	}
	cairn := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "CAIRN_CACHE="+cache, passwordEnv+"=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("cairn %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return cmd
	}
	for _, n := range []int{0, 10_000} {
		repo := fmt.Sprintf("models/flood%d", n)
		ref := srv.Host + "/" + repo + ":v1"
		dir := b.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644)
		os.WriteFile(filepath.Join(dir, "model.safetensors"), tiny, 0o644)
		cairn("push", dir, ref, "--cache", cache)
		cairn("sign", ref, "--key", key+".key")
		subject, err := srv.Repository(b, repo).Resolve(b.Context(), "v1")
		if err != nil {
			b.Fatal(err)
		}
		if n > 0 {
			floodReferrers(b, srv, repo, subject, n, "00")
		}
		b.Run(fmt.Sprintf("referrers=%d", n), func(b *testing.B) {
			var maxRSS int64
			for b.Loop() {
				cmd := cairn("verify", ref, "--key", key+".pub", "--signatures-only")
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
				}
			}
			b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
		})
	}
}
