package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
)

// The attacks an outside review ran against `cairn run` with a signed model
// carrying a malicious pickle, each reproduced here: every one must be
// refused with exit 1, without starting the workload, and (for a pull)
// without leaving any model file in DIR.

// attackRun runs `cairn run ARGS --dir DIR -- workload` and checks it was
// refused: exit 1, the workload never ran, no model file in DIR, and the
// output says want.
func (e *agentEnv) attackRun(t *testing.T, dir, want string, args ...string) string {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "ran")
	argv := append(append([]string{"run"}, args...), "--dir", dir)
	code, out := e.cairn(t, append(argv, workload(marker, dir, 0)...)...)
	if code != exitRefused {
		t.Errorf("exit %d, want 1 (refused):\n%s", code, out)
	}
	if !strings.Contains(out, want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the workload ran")
	}
	return out
}

// noModelFiles checks that a refused pull left nothing of the model in dir.
func noModelFiles(t *testing.T, dir string) {
	t.Helper()
	if files := filesIn(t, dir); len(files) > 0 {
		t.Errorf("a refused pull left %v in DIR", files)
	}
}

// pushLayers pushes a manifest of the given layers (media type -> bytes,
// with optional annotations) to repo:tag with oras-go, as other tools
// (KitOps, oras) would, and signs it with key.
func (e *agentEnv) pushLayers(t *testing.T, repoTag string, configType string, layers []ocispec.Descriptor, blobs [][]byte, key string) string {
	t.Helper()
	ctx := t.Context()
	mem := memory.New()
	cfg := []byte(`{}`)
	cd := content.NewDescriptorFromBytes(configType, cfg)
	mem.Push(ctx, cd, bytes.NewReader(cfg))
	for i, d := range layers {
		if err := mem.Push(ctx, d, bytes.NewReader(blobs[i])); err != nil {
			t.Fatal(err)
		}
	}
	artifactType := ""
	if configType == ocispec.MediaTypeEmptyJSON {
		artifactType = "application/vnd.example.files"
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{ConfigDescriptor: &cd, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(repoTag, ":")
	mem.Tag(ctx, desc, tag)
	r, err := remote.NewRepository(e.srv.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	if _, err := oras.Copy(ctx, mem, tag, r, tag, oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	ref := e.srv.Host + "/" + repoTag
	mustRun(t, "sign", ref, "--key", key+".key")
	return ref
}

func layer(mediaType string, b []byte, annotations map[string]string) ocispec.Descriptor {
	d := content.NewDescriptorFromBytes(mediaType, b)
	d.Annotations = annotations
	return d
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zipped(t *testing.T, name string, b []byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, err := w.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	w.Close()
	return buf.Bytes()
}

func tarOf(t *testing.T, name string, b []byte) []byte {
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestAttack_ArchiveLayers: a pickle inside a dataset's tar group, a
// KitOps ModelKit layer and an oras directory layer is scanned as its
// layer is extracted, and refuses the model.
func TestAttack_ArchiveLayers(t *testing.T) {
	e := newAgentEnv(t)
	// A dataset of small files: cairn push --dataset packs them into a tar
	// group layer.
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"config.json": []byte(`{}`), "data/train.jsonl": []byte("{\"x\":1}\n"), "data/model.pkl": maliciousPickle})
	ref := e.srv.Host + "/data/set:v1"
	mustRun(t, "push", "--dataset", src, ref, "--cache", e.cache)
	mustRun(t, "sign", ref, "--key", e.key+".key")

	kit := e.pushLayers(t, "kit/m:v1", "application/vnd.kitops.modelkit.config.v1+json",
		[]ocispec.Descriptor{layer("application/vnd.kitops.modelkit.model.v1.tar", tarball(t, map[string]string{"model/weights.bin": string(maliciousPickle)}, []string{"model/weights.bin"}, false), nil)},
		[][]byte{tarball(t, map[string]string{"model/weights.bin": string(maliciousPickle)}, []string{"model/weights.bin"}, false)}, e.key)

	dirLayer := tarball(t, map[string]string{"model/pytorch_model.bin": string(maliciousPickle)}, []string{"model/pytorch_model.bin"}, true)
	orasDir := e.pushLayers(t, "oras/m:v1", "application/vnd.oci.empty.v1+json",
		[]ocispec.Descriptor{layer("application/vnd.oci.image.layer.v1.tar+gzip", dirLayer, map[string]string{"org.opencontainers.image.title": "model", "io.deis.oras.content.unpack": "true"})},
		[][]byte{dirLayer}, e.key)

	for _, tc := range []struct{ name, ref, want string }{
		{"dataset tar group", ref, "data/model.pkl"},
		{"KitOps ModelKit", kit, "model/weights.bin"},
		{"oras directory", orasDir, "model/pytorch_model.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "models")
			e.attackRun(t, dir, tc.want, "--key", e.key+".pub", "--ref", tc.ref)
			noModelFiles(t, dir)
			// The receipt names the member that refused the model.
			b, err := os.ReadFile(filepath.Join(dir, ".cairn", "receipt.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rc struct {
				Refusal string
				Files   []struct{ Path, Layer, Verdict string }
			}
			json.Unmarshal(b, &rc)
			found := false
			for _, f := range rc.Files {
				found = found || (f.Path == tc.want && f.Verdict == "unsafe" && f.Layer != "")
			}
			if !found || !strings.Contains(rc.Refusal, tc.want) {
				t.Errorf("receipt does not show %s as an unsafe member: %s", tc.want, b)
			}
		})
	}

	// A member that would replace a plain file of the model is refused.
	cfgPlain := []byte(`{"model_type":"llama"}`)
	shadow := tarball(t, map[string]string{"config.json": string(maliciousPickle)}, []string{"config.json"}, false)
	dup := e.pushLayers(t, "oras/dup:v1", "application/vnd.oci.empty.v1+json",
		[]ocispec.Descriptor{
			layer("application/vnd.oci.image.layer.v1.tar", cfgPlain, map[string]string{"org.opencontainers.image.title": "config.json"}),
			layer("application/vnd.oci.image.layer.v1.tar", shadow, map[string]string{"org.opencontainers.image.title": "model", "io.deis.oras.content.unpack": "true"}),
		},
		[][]byte{cfgPlain, shadow}, e.key)
	t.Run("member shadowing a file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "models")
		e.attackRun(t, dir, "config.json", "--key", e.key+".pub", "--ref", dup)
		noModelFiles(t, dir)
	})
}

// TestAttack_WrappedPickles: a pickle wrapped the way joblib, torch.save
// (before 1.6) and archivers write it, under a name that promises
// something else, is opened and refused.
func TestAttack_WrappedPickles(t *testing.T) {
	e := newAgentEnv(t)
	for _, tc := range []struct {
		name, path string
		data       []byte
	}{
		{"gzip as weights.bin", "weights.bin", gzipped(t, maliciousPickle)},
		{"zstd as model.safetensors", "model.safetensors", zstded(t, maliciousPickle)},
		{"xz as weights.bin", "weights.bin", xzed(t, maliciousPickle)},
		{"lzma as model.gguf", "model.gguf", lzmaed(t, maliciousPickle)},
		{"bz2 as weights.bin", "weights.bin", bz2Evil},
		{"gzip inside zstd inside xz", "weights.bin", xzed(t, zstded(t, gzipped(t, maliciousPickle)))},
		{"zlib as model.joblib", "model.joblib", zlibbed(t, maliciousPickle)},
		{"zlib as weights.bin", "weights.bin", zlibbed(t, maliciousPickle)},
		{"tar as checkpoint.pth.tar", "checkpoint.pth.tar", tarOf(t, "pickle", maliciousPickle)},
		{"tar inside zip as model.safetensors", "model.safetensors", zipped(t, "inner.tar", tarOf(t, "data.pkl", maliciousPickle))},
		{"gzip inside tar inside zip", "weights.bin", zipped(t, "a.tar", tarOf(t, "b.gz", gzipped(t, maliciousPickle)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := e.model()
			files[tc.path] = tc.data
			ref := e.push(t, "wrapped/"+strings.NewReplacer(" ", "-", ".", "-").Replace(tc.name)+":v1", files, e.key)
			dir := filepath.Join(t.TempDir(), "models")
			out := e.attackRun(t, dir, tc.path, "--key", e.key+".pub", "--ref", ref)
			if !strings.Contains(out, "the scanner found it unsafe") {
				t.Errorf("refused, but not as unsafe:\n%s", out)
			}
			noModelFiles(t, dir)
		})
	}
}

func zstded(t *testing.T, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

func xzed(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func lzmaed(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, err := lzma.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// bz2Evil is what bzip2 -9 writes for a protocol 2 pickle that calls
// os.system (Go's compress/bzip2 only reads), as verify/scan's fixtures
// hold it.
var bz2Evil = mustHex("425a68393141592653597e7a3a3e00000853e015000001100006228c2042040c0020002226834346ca68534c8c4c4c428158b86e297052078ca627e2ee48a70a120fcf4747c0")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestAttack_FormatsAllowList: a policy that allows only safetensors
// refuses a joblib file (and a file the scanner cannot judge) instead of
// letting an unknown format skip the list.
func TestAttack_FormatsAllowList(t *testing.T) {
	e := newAgentEnv(t)
	policy := filepath.Join(e.baseDir, "st-only.yaml")
	os.WriteFile(policy, fmt.Appendf(nil, "version: 1\nrules:\n  - match: %q\n    signers:\n      - key: release.pub\n    formats: [safetensors]\n", e.srv.Host+"/**"), 0o644)
	benignPickle := []byte("\x80\x04K\x01.") // the integer 1
	for _, tc := range []struct {
		name, path string
		data       []byte
	}{
		{"joblib", "model.joblib", zlibbed(t, benignPickle)},
		{"unknown binary named like a weight", "weights.bin", []byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := e.model()
			files[tc.path] = tc.data
			ref := e.push(t, "formats/"+strings.ReplaceAll(tc.name, " ", "-")+":v1", files, e.key)
			dir := filepath.Join(t.TempDir(), "models")
			e.attackRun(t, dir, tc.path, "--policy", policy, "--ref", ref)
			noModelFiles(t, dir)
		})
	}
}

// TestAttack_DirectoryRecords: what a directory says about itself is not
// trusted: a research model placed in the serving volume with its own
// record, an edited partial record, a file slipped into .cairn, and a
// digest pin offline.
func TestAttack_DirectoryRecords(t *testing.T) {
	e := newAgentEnv(t)
	host := e.srv.Host
	// Production: only the release key, only safetensors, pinned digests.
	// Research: the other key, pickles allowed.
	policy := filepath.Join(e.baseDir, "policy.yaml")
	os.WriteFile(policy, fmt.Appendf(nil, `version: 1
rules:
  - match: %q
    signers:
      - key: release.pub
    formats: [safetensors]
    pinDigest: true
  - match: %q
    signers:
      - key: other.pub
    allowUnsafe: [pickle]
`, host+"/prod/*", host+"/research/*"), 0o644)
	prodModel := e.model()
	prod := e.push(t, "prod/llm:v1", prodModel, e.key)
	research := e.model()
	research["weights/extra.pkl"] = maliciousPickle
	res := e.push(t, "research/llm:v1", research, e.other)

	// The research model, pulled under its own (lenient) rule.
	resDir := filepath.Join(t.TempDir(), "models")
	if code, out := e.cairn(t, "pull", res, resDir, "--policy", policy); code != 0 {
		t.Fatalf("pull of the research model under its rule: exit %d\n%s", code, out)
	}
	// ... then relabelled as production: its record now names prod.
	recPath := filepath.Join(resDir, ".cairn", "pull.json")
	rec, _ := os.ReadFile(recPath)
	os.WriteFile(recPath, bytes.ReplaceAll(rec, []byte("research/llm"), []byte("prod/llm")), 0o644)

	t.Run("no repository named", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "ran")
		code, out := e.cairn(t, append([]string{"run", "--policy", policy, "--dir", resDir}, workload(marker, resDir, 0)...)...)
		if code != exitError || !strings.Contains(out, "--repository") {
			t.Errorf("exit %d, want 2 asking for --repository:\n%s", code, out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the workload ran")
		}
	})
	t.Run("relabelled research model under the production rule", func(t *testing.T) {
		e.attackRun(t, resDir, "no signature verifies with a trusted key", "--policy", policy, "--repository", host+"/prod/llm", "--digest", digestOfDir(t, resDir).String())
	})

	// A production model pulled by digest, then checked offline.
	prodRepo, err := remote.NewRepository(prod)
	if err != nil {
		t.Fatal(err)
	}
	prodRepo.PlainHTTP = true
	pd, err := prodRepo.Resolve(t.Context(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	pinned := host + "/prod/llm@" + pd.Digest.String()
	fresh := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "models")
		if code, out := e.cairn(t, "pull", pinned, dir, "--policy", policy); code != 0 {
			t.Fatalf("pull: exit %d\n%s", code, out)
		}
		return dir
	}
	verifyArgs := []string{"--policy", policy, "--repository", host + "/prod/llm"}
	t.Run("pinned digest offline", func(t *testing.T) {
		dir := fresh(t)
		e.attackRun(t, dir, "pinDigest", verifyArgs...)
		e.attackRun(t, dir, "not sha256:", append(verifyArgs, "--digest", digest.FromString("other").String())...)
		marker := filepath.Join(t.TempDir(), "ran")
		code, out := e.cairn(t, append(append(append([]string{"run"}, verifyArgs...), "--digest", pd.Digest.String(), "--dir", dir), workload(marker, dir, 0)...)...)
		if code != 0 {
			t.Errorf("the pinned digest named: exit %d, want 0:\n%s", code, out)
		}
	})
	t.Run("edited partial record", func(t *testing.T) {
		dir := fresh(t)
		rp := filepath.Join(dir, ".cairn", "pull.json")
		b, _ := os.ReadFile(rp)
		var r map[string]any
		json.Unmarshal(b, &r)
		r["partial"] = true
		r["files"] = []string{"weights/model.safetensors"}
		b, _ = json.Marshal(r)
		os.WriteFile(rp, b, 0o644)
		os.Remove(filepath.Join(dir, "config.json"))
		e.attackRun(t, dir, "config.json", append(verifyArgs, "--digest", pd.Digest.String())...)
	})
	t.Run("extra file in .cairn", func(t *testing.T) {
		dir := fresh(t)
		os.WriteFile(filepath.Join(dir, ".cairn", "evil.py"), []byte("import os\n"), 0o644)
		e.attackRun(t, dir, ".cairn/evil.py", append(verifyArgs, "--digest", pd.Digest.String())...)
		code, out := e.cairn(t, append([]string{"verify", dir, "--digest", pd.Digest.String()}, verifyArgs...)...)
		if code != exitRefused || !strings.Contains(out, ".cairn/evil.py: an unexpected file") {
			t.Errorf("verify DIR: exit %d, want 1 naming .cairn/evil.py:\n%s", code, out)
		}
	})
}

// digestOfDir is the digest of the manifest a pulled directory holds.
func digestOfDir(t *testing.T, dir string) digest.Digest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".cairn", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(b)
}
