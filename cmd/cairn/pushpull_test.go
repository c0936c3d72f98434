package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
)

// writeTree creates files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every regular file under dir but .cairn/.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == ".cairn" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s is not a regular file (%v)", rel, d.Type())
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	return out
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// randomSafetensors is a valid safetensors file of exactly n bytes: one U8
// tensor of random bytes (pull scans every file, and random bytes named
// .safetensors are a malformed, unsafe header).
func randomSafetensors(n int) []byte {
	m := n
	var hdr []byte
	for range 3 {
		hdr = fmt.Appendf(nil, `{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, m, m)
		for len(hdr)%8 != 0 {
			hdr = append(hdr, ' ')
		}
		m = n - 8 - len(hdr)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(append(b, hdr...), random(m)...)
	if len(b) != n {
		panic(fmt.Sprintf("randomSafetensors(%d): %d bytes", n, len(b)))
	}
	return b
}

// countingServer serves a registry and counts the blob bytes it sends.
type countingServer struct {
	*registrytest.Server
	sent atomic.Int64
	// slow paces blob bodies, so that a test can kill a pull mid-transfer.
	slow atomic.Bool
}

func newCountingServer(t *testing.T) *countingServer {
	cs := &countingServer{Server: registrytest.NewServer(t, registry.Config{})}
	h := cs.Server.Config.Handler
	cs.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = &countWriter{ResponseWriter: w, n: &cs.sent}
			if cs.slow.Load() {
				w = &slowWriter{ResponseWriter: w}
			}
		}
		h.ServeHTTP(w, r)
	})
	return cs
}

type countWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func TestPushPull_RoundTrip(t *testing.T) {
	srv := newCountingServer(t)
	cache := t.TempDir()
	src := t.TempDir()
	files := map[string][]byte{
		"config.json":                      []byte(`{"architectures":["LlamaForCausalLM"],"model_type":"llama","torch_dtype":"bfloat16"}`),
		"model-00001-of-00002.safetensors": randomSafetensors(3 << 20),
		"nested/deeper/weights.bin":        random(1 << 20),
		"README.md":                        []byte("# model\n"),
		"tokenizer.json":                   []byte(`{"version":"1.0"}`),
	}
	writeTree(t, src, files)
	ref := srv.Host + "/models/llama:v1"

	code, out := runCLI(t, "push", src, ref, "--cache", cache, "--json")
	if code != 0 {
		t.Fatalf("push: exit %d: %s", code, out)
	}
	var first client.PushResult
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatalf("push --json: %v: %s", err, out)
	}
	if first.Files != len(files) || first.Uploaded != len(files) {
		t.Fatalf("first push: %+v", first)
	}
	// Pushing the same directory again gives the same digest and uploads
	// nothing: the digests are known and the registry has the blobs.
	code, out = runCLI(t, "push", src, srv.Host+"/models/llama:v1-again", "--cache", cache, "--json")
	var second client.PushResult
	json.Unmarshal([]byte(out), &second)
	if code != 0 || second.Digest != first.Digest || second.Uploaded != 0 || second.Skipped != len(files) {
		t.Fatalf("second push: exit %d: %+v (first %+v)", code, second, first)
	}
	// And from a fresh cache (nothing known locally) still the same digest.
	code, out = runCLI(t, "push", src, srv.Host+"/models/llama:v1-fresh", "--cache", t.TempDir(), "--json")
	var third client.PushResult
	json.Unmarshal([]byte(out), &third)
	if code != 0 || third.Digest != first.Digest {
		t.Fatalf("push with a fresh cache: exit %d: %+v, want digest %s", code, third, first.Digest)
	}

	dst := filepath.Join(t.TempDir(), "out")
	if code, out := runCLI(t, "pull", ref, dst, "--cache", t.TempDir()); code != 0 {
		t.Fatalf("pull: exit %d: %s", code, out)
	}
	got := readTree(t, dst)
	if len(got) != len(files) {
		t.Fatalf("pulled %d files, want %d", len(got), len(files))
	}
	for p, want := range files {
		if !bytes.Equal(got[p], want) {
			t.Errorf("%s differs after the round trip", p)
		}
	}
	for _, f := range []string{"manifest.json", "config.json", "referrers.json", "pull.json"} {
		if _, err := os.Stat(filepath.Join(dst, ".cairn", f)); err != nil {
			t.Errorf(".cairn/%s: %v", f, err)
		}
	}
	man, _ := os.ReadFile(filepath.Join(dst, ".cairn", "manifest.json"))
	if digest.FromBytes(man) != first.Digest {
		t.Errorf(".cairn/manifest.json is not the pushed manifest")
	}

	// A signature attached as a referrer is recorded in .cairn/referrers
	// with its blob, for offline verification later.
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: first.Digest, Size: int64(len(man))}
	sig := attachReferrer(t, srv.Host, "models/llama", subject, "application/vnd.dev.sigstore.bundle.v0.3+json", nil)
	dst2 := filepath.Join(t.TempDir(), "out2")
	if code, out := runCLI(t, "pull", ref, dst2, "--cache", t.TempDir()); code != 0 {
		t.Fatalf("pull with a referrer: exit %d: %s", code, out)
	}
	idx, _ := os.ReadFile(filepath.Join(dst2, ".cairn", "referrers.json"))
	var index ocispec.Index
	if err := json.Unmarshal(idx, &index); err != nil || len(index.Manifests) != 1 || index.Manifests[0].Digest != sig.Digest {
		t.Fatalf(".cairn/referrers.json = %s (%v), want %s", idx, err, sig.Digest)
	}
	sigMan, err := os.ReadFile(filepath.Join(dst2, ".cairn", "referrers", sig.Digest.Encoded()+".json"))
	if err != nil || digest.FromBytes(sigMan) != sig.Digest {
		t.Fatalf("referrer manifest not recorded: %v", err)
	}
	var sm ocispec.Manifest
	json.Unmarshal(sigMan, &sm)
	if b, err := os.ReadFile(filepath.Join(dst2, ".cairn", "referrers", sm.Layers[0].Digest.Encoded())); err != nil || digest.FromBytes(b) != sm.Layers[0].Digest {
		t.Errorf("referrer blob not recorded: %v", err)
	}

	// --include pulls part of the model.
	part := filepath.Join(t.TempDir(), "part")
	if code, out := runCLI(t, "pull", ref, part, "--cache", t.TempDir(), "--include", "*.json"); code != 0 {
		t.Fatalf("pull --include: exit %d: %s", code, out)
	}
	if got := readTree(t, part); len(got) != 2 || got["config.json"] == nil || got["tokenizer.json"] == nil {
		t.Fatalf("pull --include '*.json' gave %d files", len(got))
	}
}

func TestPull_TamperedBlob(t *testing.T) {
	srv := newCountingServer(t)
	src := t.TempDir()
	weights := random(2 << 20)
	writeTree(t, src, map[string][]byte{"weights/model.safetensors": weights, "config.json": []byte(`{}`)})
	ref := srv.Host + "/models/m:v1"
	if code, out := runCLI(t, "push", src, ref, "--cache", t.TempDir()); code != 0 {
		t.Fatalf("push: exit %d: %s", code, out)
	}
	want := digest.FromBytes(weights)
	p, _ := srv.Blobs.BlobPath(want)
	os.Chmod(p, 0o644)
	bad := bytes.Clone(weights)
	bad[12345] ^= 0xff
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	code, out := runCLI(t, "pull", ref, dst, "--cache", t.TempDir())
	if code != exitRefused {
		t.Fatalf("pull of a tampered blob: exit %d: %s", code, out)
	}
	for _, s := range []string{"weights/model.safetensors", want.String(), digest.FromBytes(bad).String()} {
		if !strings.Contains(out, s) {
			t.Errorf("error does not name %s: %s", s, out)
		}
	}
	for p, b := range readTree(t, dst) {
		if bytes.Equal(b, bad) {
			t.Errorf("%s holds the tampered content", p)
		}
	}
}

// pushRaw pushes a manifest made with oras-go whose layers carry the given
// file paths, as a hostile registry user could.
func pushRaw(t *testing.T, host, repo, tag string, paths []string) {
	t.Helper()
	ctx := t.Context()
	mem := memory.New()
	var layers []ocispec.Descriptor
	for i, p := range paths {
		b := []byte{byte(i)}
		d := content.NewDescriptorFromBytes("application/vnd.cncf.model.weight.v1.raw", b)
		d.Annotations = map[string]string{"org.cncf.model.filepath": p}
		mem.Push(ctx, d, bytes.NewReader(b))
		layers = append(layers, d)
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, "application/vnd.cncf.model.manifest.v1+json", oras.PackManifestOptions{Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	mem.Tag(ctx, desc, tag)
	r, _ := remote.NewRepository(host + "/" + repo)
	r.PlainHTTP = true
	if _, err := oras.Copy(ctx, mem, tag, r, tag, oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
}

func TestPull_RefusesUnsafePaths(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	for _, tc := range []struct{ name, path string }{
		{"parent", "../x"},
		{"absolute", "/tmp/cairn-escape-x"},
		{"nested parent", "a/../../x"},
		{"metadata dir", ".cairn/manifest.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "model")
			pushRaw(t, srv.Host, "evil/m", "v1", []string{"ok.bin", tc.path})
			code, out := runCLI(t, "pull", srv.Host+"/evil/m:v1", dst, "--cache", t.TempDir())
			if code != exitRefused || !strings.Contains(out, tc.path) {
				t.Fatalf("exit %d, want 1 naming %q: %s", code, tc.path, out)
			}
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.Name() != "model" {
					t.Errorf("pull wrote %s outside DIR", e.Name())
				}
			}
			if _, err := os.Stat("/tmp/cairn-escape-x"); err == nil {
				t.Error("pull wrote /tmp/cairn-escape-x")
			}
			if _, err := os.Stat(dst); err == nil {
				if got := readTree(t, dst); len(got) != 0 {
					t.Errorf("refused pull left files: %v", got)
				}
			}
		})
	}
	pushRaw(t, srv.Host, "evil/dup", "v1", []string{"a.bin", "a.bin"})
	if code, out := runCLI(t, "pull", srv.Host+"/evil/dup:v1", t.TempDir(), "--cache", t.TempDir()); code != exitRefused || !strings.Contains(out, "a.bin") {
		t.Fatalf("duplicate paths: exit %d: %s", code, out)
	}
}

// TestPull_ResumeAndShare kills a pull (the real binary, SIGKILL) half way,
// then checks that the next pull fetches only what was missing, and that a
// second model sharing files with the first fetches only its new files.
func TestPull_ResumeAndShare(t *testing.T) {
	bin := buildCairn(t)
	srv := newCountingServer(t)
	cache := t.TempDir()
	src := t.TempDir()
	shared := randomSafetensors(8 << 20)
	writeTree(t, src, map[string][]byte{"a.safetensors": randomSafetensors(24 << 20), "shared.safetensors": shared})
	if code, out := runCLI(t, "push", src, srv.Host+"/models/one:v1", "--cache", t.TempDir()); code != 0 {
		t.Fatalf("push: %s", out)
	}
	total := int64(32 << 20)

	// Slow the server down so the kill lands mid-transfer.
	srv.slow.Store(true)
	dst := t.TempDir()
	cmd := exec.Command(bin, "pull", srv.Host+"/models/one:v1", dst, "--cache", cache, "--concurrency", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.sent.Load() < total*2/3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	before := srv.sent.Load()
	if before >= total {
		t.Fatalf("the pull finished (%d bytes) before it was killed", before)
	}
	srv.slow.Store(false)

	code, out := runCLI(t, "pull", srv.Host+"/models/one:v1", dst, "--cache", cache)
	if code != 0 {
		t.Fatalf("resumed pull: exit %d: %s", code, out)
	}
	// The resumed pull fetches what was missing, plus at most what arrived
	// after the last checkpoint of the interrupted file.
	again := srv.sent.Load() - before
	if again > total-before+client.CheckpointEvery {
		t.Fatalf("resumed pull fetched %d bytes after %d of %d: more than the missing %d plus one checkpoint interval", again, before, total, total-before)
	}
	if again >= total {
		t.Fatalf("resumed pull fetched everything again (%d bytes)", again)
	}
	t.Logf("killed pull fetched %d of %d bytes; the resumed pull fetched %d more", before, total, again)

	// A second model with one new file and the shared one.
	src2 := t.TempDir()
	fresh := randomSafetensors(4 << 20)
	writeTree(t, src2, map[string][]byte{"b.safetensors": fresh, "shared.safetensors": shared})
	if code, out := runCLI(t, "push", src2, srv.Host+"/models/two:v1", "--cache", t.TempDir()); code != 0 {
		t.Fatalf("push two: %s", out)
	}
	start := srv.sent.Load()
	if code, out := runCLI(t, "pull", srv.Host+"/models/two:v1", t.TempDir(), "--cache", cache); code != 0 {
		t.Fatalf("pull two: %s", out)
	}
	fetched := srv.sent.Load() - start
	t.Logf("second model: fetched %d bytes (its new file is %d)", fetched, len(fresh))
	if fetched > int64(len(fresh))+64<<10 {
		t.Fatalf("pull of the second model fetched %d bytes; only the new file (%d) was missing", fetched, len(fresh))
	}
}

// slowWriter paces blob bodies to about 16 MiB/s.
type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 64<<10)
		m, err := s.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		p = p[c:]
		time.Sleep(4 * time.Millisecond)
	}
	return n, nil
}

// TestPull_NonEmptyDir: a pull never silently replaces a file the user
// edited or leaves the model beside files it does not have: it refuses with
// nothing changed, unless --force; pulling the same model again is fine.
func TestPull_NonEmptyDir(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	cache := t.TempDir()
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{"a":1}`), "weights.bin": []byte("weights")})
	ref := srv.Host + "/models/m:v1"
	mustRun(t, "push", src, ref, "--cache", cache)

	dir := t.TempDir()
	mustRun(t, "pull", ref, dir, "--cache", cache)
	mustRun(t, "pull", ref, dir, "--cache", cache) // the same files: fine

	os.Chmod(filepath.Join(dir, "config.json"), 0o644)
	os.Remove(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"edited":true}`), 0o644)
	code, out := runCLI(t, "pull", ref, dir, "--cache", cache)
	if code != exitRefused || !strings.Contains(out, "config.json") || !strings.Contains(out, "--force") {
		t.Errorf("pull over an edited file: exit %d, want 1 naming it and --force: %s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != `{"edited":true}` {
		t.Errorf("the edited file was replaced: %s", b)
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	code, out = runCLI(t, "pull", ref, other, "--cache", cache)
	if code != exitRefused || !strings.Contains(out, "notes.txt") {
		t.Errorf("pull beside another file: exit %d, want 1 naming it: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(other, "weights.bin")); err == nil {
		t.Error("a refused pull left a model file")
	}

	mustRun(t, "pull", ref, dir, "--cache", cache, "--force")
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != `{"a":1}` {
		t.Errorf("--force did not replace the edited file: %s", b)
	}
}

// TestPull_ScansByDefault: a plain pull (no --key, no --policy) of a model
// carrying a malicious pickle is refused, naming it, with nothing left in
// the directory; --allow-unsafe pulls it with a warning; files the scanner
// cannot judge are listed. The old pull scanned nothing without --key.
func TestPull_ScansByDefault(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	cache := t.TempDir()
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{}`), "model.pkl": maliciousPickle, "blob.bin": []byte("\x00\x01opaque")})
	ref := srv.Host + "/models/evil:v1"
	mustRun(t, "push", src, ref, "--cache", cache)

	dir := filepath.Join(t.TempDir(), "m")
	code, out := runCLI(t, "pull", ref, dir, "--cache", cache)
	if code != exitRefused || !strings.Contains(out, "model.pkl: the scanner finds it unsafe") || !strings.Contains(out, "--allow-unsafe") {
		t.Errorf("pull of an unsafe pickle: exit %d, want 1 naming it:\n%s", code, out)
	}
	if files := filesIn(t, dir); len(files) != 0 {
		t.Errorf("a refused pull left %v", files)
	}
	code, out = runCLI(t, "pull", ref, dir, "--cache", cache, "--allow-unsafe")
	if code != exitOK || !strings.Contains(out, "UNSAFE (pulled with --allow-unsafe; never load it): model.pkl") || !strings.Contains(out, "not scanned (content the scanner cannot judge): blob.bin") {
		t.Errorf("pull --allow-unsafe: exit %d:\n%s", code, out)
	}
}

// TestPull_ForceWithKey: --force works with --key too (the verified pull
// used to drop it: an edited file could not be replaced).
func TestPull_ForceWithKey(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := registrytest.NewServer(t, registry.Config{})
	cache := t.TempDir()
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{"a":1}`), "model.safetensors": randomSafetensors(4096)})
	ref := srv.Host + "/models/m:v1"
	mustRun(t, "push", src, ref, "--cache", cache)
	key := writePair(t, t.TempDir(), "k")
	mustRun(t, "sign", ref, "--key", key+".key")
	dir := filepath.Join(t.TempDir(), "m")
	mustRun(t, "pull", ref, dir, "--cache", cache, "--key", key+".pub")
	p := filepath.Join(dir, "config.json")
	os.Chmod(p, 0o644)
	os.Remove(p)
	os.WriteFile(p, []byte(`{"edited":true}`), 0o644)
	if code, out := runCLI(t, "pull", ref, dir, "--cache", cache, "--key", key+".pub"); code != exitRefused || !strings.Contains(out, "--force") {
		t.Errorf("verified pull over an edited file: exit %d:\n%s", code, out)
	}
	if code, out := runCLI(t, "pull", ref, dir, "--cache", cache, "--key", key+".pub", "--force"); code != exitOK {
		t.Errorf("verified pull --force: exit %d:\n%s", code, out)
	}
	if b, _ := os.ReadFile(p); string(b) != `{"a":1}` {
		t.Errorf("--force with --key did not replace the edited file: %s", b)
	}
}
