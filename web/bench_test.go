package web_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/lineage"
	"cairn.dev/cairn/verify/model"
)

// Sizes of the benchmark registry.
const (
	benchRepos    = 1000
	benchVersions = 10 // per repository: 10,000 in all
	benchRecords  = 100_000
	benchSigned   = 10 // every 10th repository's latest version is signed and attested
)

// benchRegistry fills an env's stores directly: 1,000 repositories of 10
// ModelPack versions each (tags v1..v10 and "latest" moved at every push),
// 100 of them signed and attested through the API with provenance naming
// the repository before, and 100,000 access records.
func benchRegistry(b *testing.B) (*env, string, digest.Digest) {
	b.Helper()
	e := newEnv(b, envOptions{Policy: testPolicy, NoSync: true})
	ctx := context.Background()

	dir := b.TempDir()
	files := map[string]string{"config.json": `{"architectures":["LlamaForCausalLM"],"model_type":"llama"}`,
		"model.safetensors": safetensors(64), "README.md": benchCard, "tokenizer/tokenizer.json": "{}"}
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(body), 0o644)
	}
	entries, err := model.Scan(dir, model.ScanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	digests := make([]digest.Digest, len(entries))
	sizes := make([]int64, len(entries))
	for i, en := range entries {
		rc, _ := en.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		digests[i], sizes[i] = digest.FromBytes(data), int64(len(data))
		if err := e.Blobs.Put(ctx, digests[i], sizes[i], strings.NewReader(string(data))); err != nil {
			b.Fatal(err)
		}
	}
	var config []byte
	manifests := make([][]byte, benchVersions)
	for v := range benchVersions {
		var m []byte
		config, m, err = model.Build(entries, digests, model.BuildOptions{Annotations: map[string]string{"org.opencontainers.image.version": fmt.Sprint(v + 1)}})
		if err != nil {
			b.Fatal(err)
		}
		manifests[v] = m
	}
	cd := digest.FromBytes(config)
	if err := e.Blobs.Put(ctx, cd, int64(len(config)), strings.NewReader(string(config))); err != nil {
		b.Fatal(err)
	}
	blobs := append(slices.Clone(digests), cd)
	blobSizes := append(slices.Clone(sizes), int64(len(config)))

	start := time.Now().Add(-30 * 24 * time.Hour)
	latest := map[string]ocispec.Descriptor{}
	for r := range benchRepos {
		repo := fmt.Sprintf("team-%02d/model-%04d", r%20, r)
		for i, d := range blobs {
			if err := e.Meta.LinkBlob(ctx, repo, d, blobSizes[i]); err != nil {
				b.Fatal(err)
			}
		}
		for v, content := range manifests {
			m := &storage.Manifest{Repository: repo, Digest: digest.FromBytes(content), MediaType: ocispec.MediaTypeImageManifest,
				Size: int64(len(content)), Content: content, ArtifactType: model.ArtifactTypeModel, Blobs: blobs,
				Pushed: start.Add(time.Duration(r*benchVersions+v) * time.Minute), PushedBy: fmt.Sprintf("user-%02d", r%50)}
			if _, err := e.Meta.PutManifest(ctx, m, []string{fmt.Sprintf("v%d", v+1), "latest"}); err != nil {
				b.Fatal(err)
			}
			latest[repo] = ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
		}
	}
	for r := 0; r < benchRepos; r += benchSigned {
		repo := fmt.Sprintf("team-%02d/model-%04d", r%20, r)
		e.sign(repo, latest[repo])
		if r > 0 {
			prev := fmt.Sprintf("team-%02d/model-%04d", (r-benchSigned)%20, r-benchSigned)
			e.attest(repo, latest[repo], "https://ci.example/train", map[string]any{"epochs": r},
				lineage.Dependency{Name: e.Host + "/" + prev, Digest: latest[prev].Digest, Role: "base-model"})
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	actions := []string{storage.ActionPull, storage.ActionDownload, storage.ActionPull, storage.ActionDownload, storage.ActionPull,
		storage.ActionDownload, storage.ActionPull, storage.ActionPush, storage.ActionLogin, storage.ActionDenied}
	batch := make([]storage.AccessRecord, 0, 1000)
	for i := range benchRecords {
		r := rng.IntN(benchRepos)
		repo := fmt.Sprintf("team-%02d/model-%04d", r%20, r)
		rec := storage.AccessRecord{Time: start.Add(time.Duration(i) * 20 * time.Second), Principal: fmt.Sprintf("user-%02d", rng.IntN(50)),
			Address: fmt.Sprintf("10.0.%d.%d", rng.IntN(4), rng.IntN(250)), Action: actions[rng.IntN(len(actions))],
			Repository: repo, Reference: "latest", Digest: latest[repo].Digest, Result: storage.ResultOK, Status: 200}
		switch rec.Action {
		case storage.ActionLogin:
			rec.Repository, rec.Reference, rec.Digest = "", "", ""
		case storage.ActionDenied:
			rec.Result, rec.Status, rec.Detail = storage.ResultDenied, 403, "no read grant"
		}
		batch = append(batch, rec)
		if len(batch) == cap(batch) {
			if _, err := e.Meta.AppendAccess(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	repo := fmt.Sprintf("team-%02d/model-%04d", 500%20, 500)
	return e, repo, latest[repo].Digest
}

// benchCard is the README of every benchmark version: the version page
// renders it (goldmark, bluemonday), which is part of what it times.
var benchCard = "---\nlicense: apache-2.0\nlanguage: [en]\n---\n# model\n\n" + strings.Repeat("Some text with a [link](https://example.org) and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n", 40) +
	"<script>alert(1)</script>\n"

// BenchmarkPages times each page on a registry of 1,000 repositories,
// 10,000 versions and 100,000 access records, over loopback HTTP as a
// browser fetches it. It reports the median (ms/median) and the first,
// cold request of each page (ms/first): the caches start empty.
func BenchmarkPages(b *testing.B) {
	e, repo, d := benchRegistry(b)
	pages := []struct{ name, path string }{
		{"index", "/"},
		{"search", "/?q=model-05"},
		{"repository", "/r/" + repo},
		{"version", "/r/" + repo + "@" + string(d)},
		{"repository-by-size", "/r/" + repo + "?sort=size&page=1"},
		{"compare", "/r/" + repo + "@" + string(d) + "/compare"},
		{"namespace", "/r/team-05"},
		{"search-tag", "/?q=v10"},
		{"search-digest", "/?q=" + string(d)[:19]},
		{"search-arch", "/?q=llamaforcausal"},
		{"access", "/access"},
		{"access-filtered", "/access?action=pull&repository=" + repo},
	}
	c := &http.Client{}
	fetch := func(b *testing.B, path string) time.Duration {
		t0 := time.Now()
		resp, err := c.Get(e.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		return time.Since(t0)
	}
	first := map[string]time.Duration{}
	for _, p := range pages {
		first[p.name] = fetch(b, p.path)
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				times = append(times, fetch(b, p.path))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/1e6, "ms/median")
			b.ReportMetric(float64(first[p.name])/1e6, "ms/first")
		})
	}
}
