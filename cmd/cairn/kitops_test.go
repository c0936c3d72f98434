package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// tarball packs files (path -> content) into a tar, gzipped when gz is set.
func tarball(t *testing.T, files map[string]string, order []string, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = tar.NewWriter(zw)
	} else {
		w = tar.NewWriter(&buf)
	}
	for _, p := range order {
		b := files[p]
		if err := w.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(b))
	}
	w.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

// TestPull_KitOps pulls a KitOps ModelKit (tar and tar+gzip layers) and
// refuses one whose archive tries to leave the directory.
func TestPull_KitOps(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	ctx := t.Context()
	push := func(tag string, layers map[string][]byte) {
		mem := memory.New()
		cfg := []byte(`{"manifest":{"name":"kit"}}`)
		cd := content.NewDescriptorFromBytes("application/vnd.kitops.modelkit.config.v1+json", cfg)
		mem.Push(ctx, cd, bytes.NewReader(cfg))
		var descs []ocispec.Descriptor
		for _, mt := range []string{"application/vnd.kitops.modelkit.model.v1.tar", "application/vnd.kitops.modelkit.code.v1.tar+gzip"} {
			if b, ok := layers[mt]; ok {
				d := content.NewDescriptorFromBytes(mt, b)
				mem.Push(ctx, d, bytes.NewReader(b))
				descs = append(descs, d)
			}
		}
		desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{ConfigDescriptor: &cd, Layers: descs})
		if err != nil {
			t.Fatal(err)
		}
		mem.Tag(ctx, desc, tag)
		r, _ := remote.NewRepository(srv.Host + "/kit/m")
		r.PlainHTTP = true
		if _, err := oras.Copy(ctx, mem, tag, r, tag, oras.DefaultCopyOptions); err != nil {
			t.Fatal(err)
		}
	}
	push("v1", map[string][]byte{
		"application/vnd.kitops.modelkit.model.v1.tar":     tarball(t, map[string]string{"model/weights.bin": "weights"}, []string{"model/weights.bin"}, false),
		"application/vnd.kitops.modelkit.code.v1.tar+gzip": tarball(t, map[string]string{"src/train.py": "print(1)\n"}, []string{"src/train.py"}, true),
	})
	dst := t.TempDir()
	if code, out := runCLI(t, "pull", srv.Host+"/kit/m:v1", dst, "--cache", t.TempDir()); code != 0 {
		t.Fatalf("pull ModelKit: exit %d: %s", code, out)
	}
	got := readTree(t, dst)
	if string(got["model/weights.bin"]) != "weights" || string(got["src/train.py"]) != "print(1)\n" || len(got) != 2 {
		t.Fatalf("pulled %v", got)
	}

	push("evil", map[string][]byte{
		"application/vnd.kitops.modelkit.model.v1.tar": tarball(t, map[string]string{"../escape.bin": "x"}, []string{"../escape.bin"}, false),
	})
	parent := t.TempDir()
	code, out := runCLI(t, "pull", srv.Host+"/kit/m:evil", filepath.Join(parent, "dir"), "--cache", t.TempDir())
	if code != exitRefused || !strings.Contains(out, "../escape.bin") {
		t.Fatalf("pull of an escaping archive: exit %d, want 1 naming the entry: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(parent, "escape.bin")); err == nil {
		t.Fatal("archive wrote outside DIR")
	}
}
