package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify/model"
)

const sigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"

// testClock is a registry time source that a test sets between pushes.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// attachReferrer pushes a one-layer referrer of subject, untagged, as cosign
// and cairn sign do.
func attachReferrer(t *testing.T, host, repoName string, subject ocispec.Descriptor, artifactType string, annotations map[string]string) ocispec.Descriptor {
	t.Helper()
	ctx := t.Context()
	mem := memory.New()
	b := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	layer := content.NewDescriptorFromBytes(artifactType, b)
	if err := mem.Push(ctx, layer, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, Subject: &subject, ManifestAnnotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := remote.NewRepository(host + "/" + repoName)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	if err := oras.CopyGraph(ctx, mem, r, desc, oras.DefaultCopyGraphOptions); err != nil {
		t.Fatalf("push referrer: %v", err)
	}
	return desc
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("cairn %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return out
}

// modelVersions is a repository holding two versions of a model: v1 (first
// tagged latest), then v2 (tags v2 and latest), with a signature and an
// attestation of v2.
type modelVersions struct {
	srv                *registrytest.Server
	repo               string // host/models/m
	v1, v2             digest.Digest
	sig, att           ocispec.Descriptor
	files1, files2     map[string][]byte
	pushed1, pushed2   time.Time
	sigPushed, attTime time.Time
}

func newModelVersions(t *testing.T) *modelVersions {
	t.Helper()
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	clk := &testClock{t: t0}
	mv := &modelVersions{srv: registrytest.NewServer(t, registry.Config{Now: clk.now})}
	mv.repo = mv.srv.Host + "/models/m"
	mv.files1 = map[string][]byte{
		"config.json":               []byte(`{"architectures":["LlamaForCausalLM"],"model_type":"llama","torch_dtype":"bfloat16"}`),
		"model.safetensors":         random(64 << 10),
		"nested/tok/tokenizer.json": []byte(`{"version":"1.0"}`),
		"README.md":                 []byte("# model\n"),
		"old.bin":                   random(1000),
	}
	mv.files2 = map[string][]byte{
		"config.json":               mv.files1["config.json"],
		"model.safetensors":         random(80 << 10),
		"nested/tok/tokenizer.json": mv.files1["nested/tok/tokenizer.json"],
		"README.md":                 mv.files1["README.md"],
		"nested/extra/train.py":     []byte("print('hi')\n"),
	}
	push := func(files map[string][]byte, tag, version string) digest.Digest {
		dir := t.TempDir()
		writeTree(t, dir, files)
		out := mustRun(t, "push", dir, mv.repo+":"+tag, "--cache", t.TempDir(), "--name", "m", "--version", version)
		d, err := digest.Parse(strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
		if err != nil {
			t.Fatalf("push output %q: %v", out, err)
		}
		mustRun(t, "tag", mv.repo+":"+tag, "latest")
		return d
	}
	mv.pushed1 = t0
	mv.v1 = push(mv.files1, "v1", "1")
	mv.pushed2 = t0.Add(time.Hour)
	clk.set(mv.pushed2)
	mv.v2 = push(mv.files2, "v2", "2")

	subject, err := mv.srv.Repository(t, "models/m").Resolve(t.Context(), "v2")
	if err != nil {
		t.Fatal(err)
	}
	mv.sigPushed = t0.Add(2 * time.Hour)
	clk.set(mv.sigPushed)
	mv.sig = attachReferrer(t, mv.srv.Host, "models/m", subject, sigstoreBundle, map[string]string{attest.AnnotationPredicateType: attest.PredicateCosignSign})
	mv.attTime = t0.Add(3 * time.Hour)
	clk.set(mv.attTime)
	mv.att = attachReferrer(t, mv.srv.Host, "models/m", subject, sigstoreBundle, map[string]string{attest.AnnotationPredicateType: "https://slsa.dev/provenance/v1"})
	return mv
}

// tableRows splits a table into rows of whitespace-separated cells,
// header first.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestCLI_Ls(t *testing.T) {
	mv := newModelVersions(t)

	rows := tableRows(mustRun(t, "ls", mv.repo))
	want := [][]string{
		{"TAGS", "DIGEST", "SIZE", "CREATED", "SIGNED"},
		{"latest,v2", shortDigest(mv.v2)},
		{"v1", shortDigest(mv.v1)},
	}
	if len(rows) != len(want) {
		t.Fatalf("ls lists %d rows, want %d (referrers hidden): %q", len(rows), len(want), rows)
	}
	if !slices.Equal(rows[0], want[0]) {
		t.Errorf("header = %q", rows[0])
	}
	for i, w := range want[1:] {
		r := rows[i+1]
		if len(r) != 7 || r[0] != w[0] || r[1] != w[1] {
			t.Errorf("row %d = %q, want tags %s digest %s", i+1, r, w[0], w[1])
		}
	}
	if got := strings.Join(rows[1][4:], " "); got != "2025-03-04 11:00 yes" {
		t.Errorf("v2 created and signed = %q, want 2025-03-04 11:00 yes", got)
	}
	if got := strings.Join(rows[2][4:], " "); got != "2025-03-04 10:00 no" {
		t.Errorf("v1 created and signed = %q, want 2025-03-04 10:00 no", got)
	}
	if !strings.HasSuffix(rows[1][3], "iB") {
		t.Errorf("v2 size %q %q is not human-readable", rows[1][2], rows[1][3])
	}

	// --all shows the referrers with their subject.
	rows = tableRows(mustRun(t, "ls", mv.repo, "--all"))
	if len(rows) != 5 || rows[0][len(rows[0])-1] != "SUBJECT" {
		t.Fatalf("ls --all: %q", rows)
	}
	for _, r := range rows[1:3] {
		if r[0] != "-" || r[len(r)-1] != shortDigest(mv.v2) {
			t.Errorf("ls --all referrer row %q, want no tags and subject %s", r, shortDigest(mv.v2))
		}
	}
	if rows[1][1] != shortDigest(mv.att.Digest) || rows[2][1] != shortDigest(mv.sig.Digest) {
		t.Errorf("ls --all: referrers not newest first: %q", rows)
	}

	var res client.VersionList
	if err := json.Unmarshal([]byte(mustRun(t, "ls", mv.repo, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Source != "versions" || res.Truncated || len(res.Versions) != 2 {
		t.Fatalf("ls --json: %+v", res)
	}
	v2, v1 := res.Versions[0], res.Versions[1]
	if v2.Digest != mv.v2 || !slices.Equal(v2.Tags, []string{"latest", "v2"}) || !v2.Signed || v2.Created == nil || !v2.Created.Equal(mv.pushed2) ||
		v2.Referrers[sigstoreBundle] != 2 || v2.ArtifactType != model.ArtifactTypeModel {
		t.Errorf("ls --json v2 = %+v", v2)
	}
	if v1.Digest != mv.v1 || !slices.Equal(v1.Tags, []string{"v1"}) || v1.Signed || v1.Created == nil || !v1.Created.Equal(mv.pushed1) {
		t.Errorf("ls --json v1 = %+v", v1)
	}
	var size1 int64
	for _, b := range mv.files1 {
		size1 += int64(len(b))
	}
	if v1.Size <= size1 || v1.Size > size1+8<<10 {
		t.Errorf("v1 size %d, want the files (%d) plus manifest and config", v1.Size, size1)
	}

	if code, out := runCLI(t, "ls", mv.repo+":v1"); code != exitError || !strings.Contains(out, "without a tag") {
		t.Errorf("ls with a tag: exit %d: %s", code, out)
	}
	if code, out := runCLI(t, "ls", mv.srv.Host+"/models/nope"); code != exitError || !strings.Contains(out, "models/nope") {
		t.Errorf("ls of an unknown repository: exit %d: %s", code, out)
	}
}

// TestCLI_LsFallback lists a registry that has no versions extension: the
// tags list, resolve and the referrers API.
func TestCLI_LsFallback(t *testing.T) {
	mv := newModelVersions(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/_cairn/") {
			http.NotFound(w, r)
			return
		}
		mv.srv.Registry.ServeHTTP(w, r)
	}))
	t.Cleanup(plain.Close)
	repo := strings.TrimPrefix(plain.URL, "http://") + "/models/m"

	rows := tableRows(mustRun(t, "ls", repo))
	if len(rows) != 3 {
		t.Fatalf("ls (fallback): %q", rows)
	}
	// Tag order: latest (v2) first.
	if got := strings.Join(rows[1], " "); !strings.HasPrefix(got, "latest,v2 "+shortDigest(mv.v2)) || !strings.HasSuffix(got, "- yes") {
		t.Errorf("v2 row = %q", got)
	}
	if got := strings.Join(rows[2], " "); !strings.HasPrefix(got, "v1 "+shortDigest(mv.v1)) || !strings.HasSuffix(got, "- no") {
		t.Errorf("v1 row = %q", got)
	}

	var res client.VersionList
	if err := json.Unmarshal([]byte(mustRun(t, "ls", repo, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Source != "tags" || len(res.Versions) != 2 {
		t.Fatalf("ls --json (fallback): %+v", res)
	}
	// The same sizes and referrers as the extension reports.
	var ext client.VersionList
	json.Unmarshal([]byte(mustRun(t, "ls", mv.repo, "--json")), &ext)
	for i, v := range res.Versions {
		e := ext.Versions[i]
		if v.Digest != e.Digest || v.Size != e.Size || v.ArtifactType != e.ArtifactType || v.Signed != e.Signed || v.Referrers[sigstoreBundle] != e.Referrers[sigstoreBundle] || v.Created != nil {
			t.Errorf("fallback version %d = %+v, extension says %+v", i, v, e)
		}
	}

	// The tag limit truncates and says so.
	r, err := (&remoteOptions{}).open(repo)
	if err != nil {
		t.Fatal(err)
	}
	versionsFromTags := func(limit int) ([]client.Version, bool, error) {
		l, err := client.Versions(t.Context(), r, client.VersionsOptions{MaxTags: limit})
		if err != nil {
			return nil, false, err
		}
		return l.Versions, l.Truncated, nil
	}
	vs, truncated, err := versionsFromTags(2)
	if err != nil || !truncated || len(vs) != 2 || !slices.Equal(vs[0].Tags, []string{"latest"}) || !slices.Equal(vs[1].Tags, []string{"v1"}) {
		t.Errorf("versionsFromTags(limit 2) = %+v, %v, %v; want latest and v1, truncated", vs, truncated, err)
	}
	if _, truncated, err := versionsFromTags(3); err != nil || truncated {
		t.Errorf("versionsFromTags(limit 3) of 3 tags: truncated %v, %v", truncated, err)
	}
}

func TestCLI_Inspect(t *testing.T) {
	mv := newModelVersions(t)
	ref := mv.repo + ":v2"

	var res client.Inspection
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", ref, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Reference != ref || res.Digest != mv.v2 || res.ArtifactType != model.ArtifactTypeModel || res.Config.MediaType != model.MediaTypeConfig {
		t.Errorf("inspect: reference %s digest %s artifactType %s config %s", res.Reference, res.Digest, res.ArtifactType, res.Config.MediaType)
	}
	if res.Model == nil || res.Model.Descriptor["name"] != "m" || res.Model.Descriptor["version"] != "2" || res.Model.Descriptor["family"] != "llama" ||
		res.Model.Config["architecture"] != "LlamaForCausalLM" || res.Model.Config["format"] != "safetensors" {
		t.Errorf("inspect: model = %+v", res.Model)
	}
	wantKinds := map[string]model.Kind{
		"config.json": model.KindWeightConfig, "model.safetensors": model.KindWeight, "nested/tok/tokenizer.json": model.KindWeightConfig,
		"README.md": model.KindDoc, "nested/extra/train.py": model.KindCode,
	}
	if len(res.Files) != len(mv.files2) {
		t.Errorf("inspect lists %d files, want %d", len(res.Files), len(mv.files2))
	}
	var total int64
	for _, f := range res.Files {
		b, ok := mv.files2[f.Path]
		if !ok {
			t.Errorf("inspect lists %q, which v2 does not hold", f.Path)
			continue
		}
		if f.Digest != digest.FromBytes(b) || f.Size != int64(len(b)) || f.Kind != wantKinds[f.Path] || f.Mode != "0644" || f.Archive {
			t.Errorf("file %s = %+v, want digest %s size %d kind %s", f.Path, f, digest.FromBytes(b), len(b), wantKinds[f.Path])
		}
		total += int64(len(b))
	}
	if res.TotalSize != total {
		t.Errorf("totalSize = %d, want %d", res.TotalSize, total)
	}
	if len(res.Referrers) != 2 {
		t.Fatalf("referrers = %+v, want the signature and the attestation", res.Referrers)
	}
	kinds := map[digest.Digest]string{}
	for _, r := range res.Referrers {
		kinds[r.Digest] = r.Kind
		if r.ArtifactType != sigstoreBundle {
			t.Errorf("referrer %s has artifactType %s", r.Digest, r.ArtifactType)
		}
	}
	if kinds[mv.sig.Digest] != "signature" || kinds[mv.att.Digest] != "attestation" {
		t.Errorf("referrer kinds = %v, want %s signature and %s attestation", kinds, mv.sig.Digest, mv.att.Digest)
	}
	// The attestation here is not provenance: no edges either way.
	if res.Lineage == nil || len(res.Lineage.BuiltFrom) != 0 || len(res.Lineage.BuiltInto) != 0 || res.Lineage.BuiltIntoUnknown {
		t.Errorf("lineage = %+v, want none either way", res.Lineage)
	}

	// The text form names the same things.
	out := mustRun(t, "inspect", ref)
	for _, s := range []string{
		mv.v2.String(), model.ArtifactTypeModel, "architecture:", "LlamaForCausalLM", "nested/extra/train.py", "nested/tok/tokenizer.json",
		"signature", "attestation https://slsa.dev/provenance/v1", mv.sig.Digest.String(), "Files (5, ",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("inspect output lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(mustRun(t, "inspect", mv.repo+":v1"), "none: the model is not signed") {
		t.Error("inspect of v1 does not say it is unsigned")
	}
	if code, out := runCLI(t, "inspect", mv.repo+":nope"); code != exitError || !strings.Contains(out, "nope") {
		t.Errorf("inspect of an unknown tag: exit %d: %s", code, out)
	}
}

func TestCLI_Diff(t *testing.T) {
	mv := newModelVersions(t)
	v1, v2 := mv.repo+":v1", mv.repo+":v2"

	var res client.Difference
	if err := json.Unmarshal([]byte(mustRun(t, "diff", v1, v2, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	paths := func(fs []client.DiffFile) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return out
	}
	if got := paths(res.Added); !slices.Equal(got, []string{"nested/extra/train.py"}) {
		t.Errorf("added = %q", got)
	}
	if got := paths(res.Removed); !slices.Equal(got, []string{"old.bin"}) {
		t.Errorf("removed = %q", got)
	}
	if len(res.Changed) != 1 || res.Changed[0].Path != "model.safetensors" ||
		res.Changed[0].From.Digest != digest.FromBytes(mv.files1["model.safetensors"]) || res.Changed[0].To.Digest != digest.FromBytes(mv.files2["model.safetensors"]) ||
		res.Changed[0].From.Size != 64<<10 || res.Changed[0].To.Size != 80<<10 {
		t.Errorf("changed = %+v", res.Changed)
	}
	if res.Unchanged != 3 {
		t.Errorf("unchanged = %d, want 3", res.Unchanged)
	}
	if res.From.Digest != mv.v1 || res.To.Digest != mv.v2 {
		t.Errorf("from %s to %s, want %s to %s", res.From.Digest, res.To.Digest, mv.v1, mv.v2)
	}
	if res.Added[0].Kind != model.KindCode || res.Added[0].Digest != digest.FromBytes(mv.files2["nested/extra/train.py"]) {
		t.Errorf("added file = %+v", res.Added[0])
	}

	// The reverse swaps added and removed.
	var rev client.Difference
	json.Unmarshal([]byte(mustRun(t, "diff", v2, v1, "--json")), &rev)
	if !slices.Equal(paths(rev.Added), []string{"old.bin"}) || !slices.Equal(paths(rev.Removed), []string{"nested/extra/train.py"}) || len(rev.Changed) != 1 {
		t.Errorf("reverse diff = %+v", rev)
	}

	out := mustRun(t, "diff", v1, v2)
	rows := tableRows(out)
	if len(rows) != 6 || rows[2][0] != "added" || rows[2][1] != "nested/extra/train.py" || rows[3][0] != "removed" || rows[3][1] != "old.bin" ||
		rows[4][0] != "changed" || rows[4][1] != "model.safetensors" {
		t.Errorf("diff output:\n%s", out)
	}
	if !strings.Contains(out, "1 added, 1 removed, 1 changed, 3 unchanged") {
		t.Errorf("diff summary:\n%s", out)
	}

	// --exit-code: 1 when they differ, 0 when they do not.
	if code, out := runCLI(t, "diff", v1, v2, "--exit-code"); code != exitRefused {
		t.Errorf("diff --exit-code of different models: exit %d: %s", code, out)
	}
	code, out := runCLI(t, "diff", v2, mv.repo+":latest", "--exit-code")
	if code != 0 || !strings.Contains(out, "0 added, 0 removed, 0 changed, 5 unchanged") {
		t.Errorf("diff --exit-code of the same model: exit %d: %s", code, out)
	}
	if code, out := runCLI(t, "diff", v1, mv.repo+":nope"); code != exitError {
		t.Errorf("diff with an unknown tag: exit %d: %s", code, out)
	}
}
