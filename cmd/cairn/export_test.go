package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
