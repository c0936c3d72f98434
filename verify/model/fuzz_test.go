package model

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzFiles(f *testing.F) {
	for _, name := range []string{"cnai-legacy.json", "kitops.json", "oras.json"} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, "manifests", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := modelTree(f, f.TempDir(), 0o644)
	_, _, man := packDir(f, dir, ScanOptions{}, BuildOptions{Annotations: map[string]string{"k": "v"}})
	f.Add(man)
	_, _, man = packDir(f, dir, ScanOptions{Dataset: true, SmallFile: 64}, BuildOptions{})
	f.Add(man)
	for _, p := range []string{"../x", "/tmp/x", "a/../../x", `a\b`, ".cairn/x", "a\x00b", "A"} {
		f.Add(manifestWith("a", p))
	}
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../x","size":1}}`))

	f.Fuzz(func(t *testing.T, manifest []byte) {
		_, files, err := Files(manifest)
		if err != nil {
			if files != nil {
				t.Fatalf("files and an error: %v", err)
			}
			return
		}
		if len(files) > MaxFiles {
			t.Fatalf("%d files", len(files))
		}
		seen := map[string]bool{}
		for _, fl := range files {
			if fl.Archive {
				if fl.Path != "" {
					t.Errorf("archive with path %q", fl.Path)
				}
				continue
			}
			if why := pathProblem(fl.Path); why != "" {
				t.Errorf("Files returned unsafe path %q (%s)", fl.Path, why)
			}
			if !filepath.IsLocal(fl.Path) {
				t.Errorf("Files returned non-local path %q", fl.Path)
			}
			k := strings.ToLower(fl.Path)
			if seen[k] {
				t.Errorf("Files returned %q twice", fl.Path)
			}
			seen[k] = true
			if fl.Mode != 0o644 && fl.Mode != 0o755 {
				t.Errorf("%s: mode %o", fl.Path, fl.Mode)
			}
			if err := fl.Desc.Digest.Validate(); err != nil {
				t.Errorf("%s: digest %q: %v", fl.Path, fl.Desc.Digest, err)
			}
		}
		// No file may sit where another one's directory is.
		for p := range seen {
			for d := p; strings.Contains(d, "/"); {
				d = d[:strings.LastIndexByte(d, '/')]
				if seen[d] {
					t.Errorf("%q is a file and a directory of %q", d, p)
				}
			}
		}
	})
}

func FuzzExtractTar(f *testing.F) {
	seeds := [][]tarEntry{
		{{name: "a/", typeflag: tar.TypeDir}, {name: "a/b.txt", typeflag: tar.TypeReg, body: "b"}, {name: "./c", typeflag: tar.TypeReg, body: "c", mode: 0o755}},
		{{name: "../x", typeflag: tar.TypeReg, body: "x"}},
		{{name: "/tmp/x", typeflag: tar.TypeReg, body: "x"}},
		{{name: "l", typeflag: tar.TypeSymlink, link: ".."}, {name: "l/x", typeflag: tar.TypeReg, body: "x"}},
		{{name: "h", typeflag: tar.TypeLink, link: "/etc/passwd"}},
		{{name: "d", typeflag: tar.TypeChar}},
		{{name: "a", typeflag: tar.TypeReg, body: "1"}, {name: "A", typeflag: tar.TypeReg, body: "2"}},
		{{name: strings.Repeat("long/", 40) + "f", typeflag: tar.TypeReg, body: "deep"}},
	}
	for _, s := range seeds {
		b := makeTar(f, s)
		f.Add(b)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		f.Add(z.Bytes())
	}
	dir := modelTree(f, f.TempDir(), 0o644)
	entries, err := Scan(dir, ScanOptions{Dataset: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(readAll(f, entries[0]))

	f.Fuzz(func(t *testing.T, stream []byte) {
		parent := t.TempDir()
		out := filepath.Join(parent, "out")
		written, err := ExtractTar(bytes.NewReader(stream), out)
		assertOnlyOut(t, parent)
		filepath.WalkDir(out, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil {
				return nil
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				t.Errorf("symlink created: %s", p)
			case d.IsDir():
			case !d.Type().IsRegular():
				t.Errorf("special file created: %s", p)
			default:
				if err != nil {
					t.Errorf("file left behind after an error: %s", p)
				}
				fi, _ := d.Info()
				if m := fi.Mode().Perm(); m != 0o644 && m != 0o755 {
					t.Errorf("%s: mode %o", p, m)
				}
			}
			return nil
		})
		if err != nil {
			return
		}
		for _, p := range written {
			if why := pathProblem(p); why != "" {
				t.Errorf("wrote unsafe path %q (%s)", p, why)
			}
			if fi, err := os.Lstat(filepath.Join(out, p)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("written %q is not a regular file: %v", p, err)
			}
		}
	})
}

func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(tinySafetensors)
	f.Add(makeSafetensors([]tensor{{name: "x", dtype: "F8_E5M2", shape: []uint64{1 << 40, 1 << 40}}}, nil))
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := readSafetensorsHeader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var sum uint64
		for _, n := range st.byType {
			sum += n
		}
		if !st.over && sum != st.params {
			t.Errorf("params %d, sum by type %d", st.params, sum)
		}
		if len(data) < 8 {
			t.Errorf("accepted %d bytes", len(data))
		}
	})
}

func FuzzGGUFHeader(f *testing.F) {
	f.Add(tinyGGUF)
	f.Add(makeGGUF([]ggufKV{{"general.file_type", uint32(15)}, {"a", []string{"x", "y"}}}, nil))
	f.Add([]byte("GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := readGGUFHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(info.arch) > 256 {
			t.Errorf("architecture of %d bytes kept", len(info.arch))
		}
		var sum uint64
		for _, n := range info.tensors.byType {
			sum += n
		}
		if !info.tensors.over && sum != info.tensors.params {
			t.Errorf("params %d, sum by type %d", info.tensors.params, sum)
		}
	})
}
