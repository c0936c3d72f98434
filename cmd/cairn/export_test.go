package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// rewriteTar copies the tar at src to a new file with fn applied to each
// entry's content.
func rewriteTar(t *testing.T, src string, fn func(h *tar.Header, data []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data = fn(h, data)
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "changed.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Air gap: export from A, stop A, import into B (its own data directory),
// and cairn run against B with the policy starts the workload. A file
// with one byte of one blob changed, or without its signature, is refused
// and B is left as it was.
func TestExportImport_AirGap(t *testing.T) {
	e := newAgentEnv(t)
	good := e.push(t, "models/good:v1", e.model(), e.key)
	pub, _ := os.ReadFile(e.key + ".pub")
	pdir := t.TempDir()
	os.WriteFile(filepath.Join(pdir, "release.pub"), pub, 0o644)
	policy := filepath.Join(pdir, "policy.yaml")
	os.WriteFile(policy, []byte("version: 1\nrules:\n  - match: \"**\"\n    signers:\n      - key: release.pub\n"), 0o644)

	file := filepath.Join(t.TempDir(), "good.tar")
	out := mustRun(t, "export", good, "-o", file, "--policy", policy)
	if !strings.Contains(out, "exported 1 versions, 1 referrers") {
		t.Fatalf("export: %s", out)
	}
	e.srv.Close()

	b := registrytest.NewServer(t, registry.Config{})
	before := tagsOf(t, b)
	// The signature's referrer manifest, to remove it from the file.
	var sig string
	changedByte := rewriteTar(t, file, func(h *tar.Header, d []byte) []byte {
		if len(d) == len(e.tiny) {
			d = bytes.Clone(d)
			d[len(d)-1] ^= 1
		}
		return d
	})
	unsigned := rewriteTar(t, file, func(h *tar.Header, d []byte) []byte {
		if h.Name != "index.json" {
			return d
		}
		var idx ocispec.Index
		json.Unmarshal(d, &idx)
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(m ocispec.Descriptor) bool {
			if m.Annotations["dev.cairn.source"] == "" {
				sig = m.Digest.String()
				return true
			}
			return false
		})
		d, _ = json.Marshal(idx)
		return d
	})
	for name, f := range map[string]string{"one byte of one blob": changedByte, "signature removed": unsigned} {
		code, out := runCLI(t, "import", f, b.Host+"/mirror", "--policy", policy)
		if code != exitRefused {
			t.Fatalf("import of a file with %s: exit %d, want %d: %s", name, code, exitRefused, out)
		}
		if after := tagsOf(t, b); !slices.Equal(after, before) {
			t.Fatalf("import of a file with %s changed the catalog: %v", name, after)
		}
	}
	if sig == "" {
		t.Fatal("no referrer in the exported index")
	}

	out = mustRun(t, "import", file, b.Host+"/mirror", "--policy", policy)
	imported := b.Host + "/mirror/models/good:v1"
	if !strings.Contains(out, imported) {
		t.Fatalf("import: %s", out)
	}
	dir := filepath.Join(t.TempDir(), "models")
	marker := filepath.Join(t.TempDir(), "ran")
	code, out := e.cairn(t, append([]string{"run", "--policy", policy, "--ref", imported, "--dir", dir}, workload(marker, dir, 7)...)...)
	if code != 7 {
		t.Fatalf("run against B: exit %d, want the workload's 7:\n%s", code, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the workload did not run: %v\n%s", err, out)
	}
}

// editLayout rewrites the index.json of the tar at src with fn, which may
// add blobs (returned by name).
func editLayout(t *testing.T, src string, fn func(idx *ocispec.Index, blob func(digest.Digest) []byte) map[string][]byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		blobs[h.Name], _ = io.ReadAll(tr)
		names = append(names, h.Name)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(blobs["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	added := fn(&idx, func(d digest.Digest) []byte { return blobs["blobs/sha256/"+d.Encoded()] })
	blobs["index.json"], _ = json.Marshal(idx)
	for n, d := range added {
		blobs[n] = d
		names = append([]string{n}, names...)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: int64(len(blobs[n])), Mode: 0o644})
		tw.Write(blobs[n])
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "edited.tar")
	os.WriteFile(p, out.Bytes(), 0o644)
	return p
}

// Under transparency: required, export carries the log's checkpoint and
// inclusion proof of the tag's move, and import checks them offline (the
// source is stopped): a proof for another tag, or none, is refused.
func TestExportImport_Transparency(t *testing.T) {
	e := newTransparencyEnv(t)
	t.Setenv("CAIRN_CONFIG_DIR", t.TempDir())
	e.serve(t, e.data)
	e.push(t, "v1", "one")
	policy := e.policy(t, true)
	file := filepath.Join(t.TempDir(), "m.tar")
	if code, out, errs := runCode(t, "", "export", e.host+"/models/m:v1", "-o", file, "--policy", policy); code != exitOK || !strings.Contains(errs, "ok   transparency") {
		t.Fatalf("export: exit %d\n%s%s", code, out, errs)
	}
	e.stop()
	b := registrytest.NewServer(t, registry.Config{})
	before := tagsOf(t, b)

	const cpKey, incKey = "dev.cairn.transparency.checkpoint", "dev.cairn.transparency.inclusion"
	otherTag := editLayout(t, file, func(idx *ocispec.Index, blob func(digest.Digest) []byte) map[string][]byte {
		v := &idx.Manifests[0]
		inc := strings.Replace(string(blob(digest.Digest(v.Annotations[incKey]))), `\"v1\"`, `\"v2\"`, 1)
		d := digest.FromString(inc)
		v.Annotations[incKey] = d.String()
		return map[string][]byte{"blobs/sha256/" + d.Encoded(): []byte(inc)}
	})
	noProof := editLayout(t, file, func(idx *ocispec.Index, _ func(digest.Digest) []byte) map[string][]byte {
		delete(idx.Manifests[0].Annotations, cpKey)
		delete(idx.Manifests[0].Annotations, incKey)
		return nil
	})
	for name, f := range map[string]string{"a proof of another tag": otherTag, "no proof": noProof} {
		code, out, errs := runCode(t, "", "import", f, b.Host+"/mirror", "--policy", policy)
		if code != exitRefused || !strings.Contains(errs, "FAIL transparency") {
			t.Fatalf("import with %s: exit %d\n%s%s", name, code, out, errs)
		}
		if after := tagsOf(t, b); !slices.Equal(after, before) {
			t.Fatalf("import with %s changed the catalog: %v", name, after)
		}
	}
	code, out, errs := runCode(t, "", "import", file, b.Host+"/mirror", "--policy", policy)
	if code != exitOK || !strings.Contains(errs, "ok   transparency") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	if got := tagsOf(t, b); !slices.Contains(got, "mirror/models/m:v1") {
		t.Fatalf("destination: %v", got)
	}
}

// oras and skopeo read an exported file, when they are installed.
func TestExport_ReadByOrasAndSkopeo(t *testing.T) {
	oras, _ := exec.LookPath("oras")
	skopeo, _ := exec.LookPath("skopeo")
	if oras == "" && skopeo == "" {
		t.Skip("neither oras nor skopeo on PATH")
	}
	srv := registrytest.NewServer(t, registry.Config{})
	dir := t.TempDir()
	files := map[string][]byte{"config.json": []byte(`{"model_type":"tiny"}`), "notes.txt": random(4096)}
	writeTree(t, dir, files)
	mustRun(t, "push", dir, srv.Host+"/models/m:v1", "--cache", t.TempDir())
	file := filepath.Join(t.TempDir(), "m.tar")
	mustRun(t, "export", srv.Host+"/models/m:v1", "-o", file)
	if oras != "" {
		out := t.TempDir()
		if b, err := exec.Command(oras, "pull", "--oci-layout", file+":v1", "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("oras pull: %v\n%s", err, b)
		}
		if got := readTree(t, out); string(got["notes.txt"]) != string(files["notes.txt"]) {
			t.Fatalf("oras pulled %v", slices.Collect(maps.Keys(got)))
		}
	} else {
		t.Log("oras not on PATH")
	}
	if skopeo != "" {
		b, err := exec.Command(skopeo, "inspect", "--raw", "oci-archive:"+file+":v1").CombinedOutput()
		if err != nil || !strings.Contains(string(b), `"artifactType"`) {
			t.Fatalf("skopeo inspect: %v\n%s", err, b)
		}
	} else {
		t.Log("skopeo not on PATH")
	}
}
