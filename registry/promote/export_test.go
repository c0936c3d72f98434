package promote_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify"
)

// export writes refs of a to a file and returns its bytes.
func export(t *testing.T, o promote.ExportOptions, refs ...string) ([]byte, *promote.ExportResult) {
	t.Helper()
	var srcs []*client.Repository
	for _, r := range refs {
		srcs = append(srcs, open(t, r))
	}
	var buf bytes.Buffer
	res, err := promote.Export(t.Context(), &buf, srcs, o)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

func importBytes(t *testing.T, b []byte, dst string, o promote.ImportOptions) (*promote.ImportResult, error) {
	t.Helper()
	l, err := promote.ReadLayout(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	return promote.Import(t.Context(), l, dst, o)
}

// rewrite returns the tar b with fn applied to each entry's name and
// content; fn drops an entry by returning false.
func rewrite(t *testing.T, b []byte, fn func(h *tar.Header, data []byte) ([]byte, bool)) []byte {
	t.Helper()
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
		data, keep := fn(h, data)
		if !keep {
			continue
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

// Air gap: export from A, stop A, import into B; the version verifies and
// pulls byte-identical at B, with its referrers.
func TestExportImport_AirGap(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	ag := gate(t, key)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)
	m2 := pushModel(t, a.Host+"/train/small:v2", key)
	file, res := export(t, promote.ExportOptions{Agent: ag}, m.ref, m2.ref)
	if len(res.Versions) != 2 || res.Referrers != 6 || len(res.Receipts) != 2 {
		t.Fatalf("export: %+v", res)
	}
	a.Close()

	imp, err := importBytes(t, file, b.Host+"/mirror", promote.ImportOptions{Agent: ag})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{b.Host + "/mirror/train/tiny:v1", b.Host + "/mirror/train/small:v2"}
	if !slices.Equal(imp.Versions, want) || imp.Copied == 0 {
		t.Fatalf("import: %+v", imp)
	}
	checkAt(t, want[0], m, ag)
	checkAt(t, want[1], m2, ag)

	// Again: nothing new to push.
	again, err := importBytes(t, file, b.Host+"/mirror", promote.ImportOptions{Agent: ag})
	if err != nil || again.Copied != 0 {
		t.Fatalf("second import: %v, %+v", err, again)
	}
}

// A file that fails a check pushes nothing.
func TestImport_Refused(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	b := registrytest.NewServer(t, registry.Config{})
	key := newKey(t)
	ag := gate(t, key)
	m := pushModel(t, a.Host+"/train/tiny:v1", key)
	file, _ := export(t, promote.ExportOptions{}, m.ref)
	pushModel(t, b.Host+"/prod/other:v1", nil)
	before := catalog(t, b.Host)
	st, _ := os.ReadFile(filepath.Join(m.dir, "model.safetensors"))

	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"one byte of one blob", rewrite(t, file, func(h *tar.Header, d []byte) ([]byte, bool) {
			if len(d) == len(st) {
				d = bytes.Clone(d)
				d[len(d)/3] ^= 0x20
			}
			return d, true
		})},
		{"signature removed from the index", rewrite(t, file, func(h *tar.Header, d []byte) ([]byte, bool) {
			if h.Name == "index.json" {
				var idx ocispec.Index
				json.Unmarshal(d, &idx)
				idx.Manifests = slices.DeleteFunc(idx.Manifests, func(e ocispec.Descriptor) bool { return e.Digest == m.sig.Digest })
				d, _ = json.Marshal(idx)
			}
			return d, true
		})},
		{"signature blob removed", rewrite(t, file, func(h *tar.Header, d []byte) ([]byte, bool) {
			return d, h.Name != "blobs/sha256/"+m.sig.Digest.Encoded()
		})},
		{"a path out of the layout", rewrite(t, file, func(h *tar.Header, d []byte) ([]byte, bool) {
			if h.Name == "oci-layout" {
				h.Name = "../oci-layout"
			}
			return d, true
		})},
		{"another file", rewrite(t, file, func(h *tar.Header, d []byte) ([]byte, bool) {
			if h.Name == "oci-layout" {
				h.Name = "blobs/run.sh"
			}
			return d, true
		})},
		{"truncated", file[:len(file)/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importBytes(t, tc.file, b.Host+"/mirror", promote.ImportOptions{Agent: ag})
			if !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("import: %v, want a refusal", err)
			}
			if after := catalog(t, b.Host); !slices.Equal(after, before) {
				t.Fatalf("destination changed: %v, was %v", after, before)
			}
			if ok, _ := open(t, b.Host+"/mirror/train/tiny").Repo.Exists(t.Context(), m.desc); ok {
				t.Fatal("the version reached the destination")
			}
		})
	}
	// The file as exported imports.
	if _, err := importBytes(t, file, b.Host+"/mirror", promote.ImportOptions{Agent: ag}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(catalog(t, b.Host), " "), "mirror/train/tiny:v1") {
		t.Fatal("not imported")
	}
}

// An export whose source serves a blob that does not match its digest
// fails as a failed check.
func TestExport_TamperedSource(t *testing.T) {
	a := registrytest.NewServer(t, registry.Config{})
	m := pushModel(t, a.Host+"/train/tiny:v1", nil)
	st, _ := os.ReadFile(filepath.Join(m.dir, "model.safetensors"))
	p := filepath.Join(a.Dir, "blobs", "sha256", digestOf(st))
	bad := bytes.Clone(st)
	bad[10] ^= 1
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := promote.Export(t.Context(), &buf, []*client.Repository{open(t, m.ref)}, promote.ExportOptions{})
	if !errors.Is(err, verify.ErrVerification) {
		t.Fatalf("export: %v, want a failed check", err)
	}
}

func digestOf(b []byte) string { return digest.FromBytes(b).Encoded() }
