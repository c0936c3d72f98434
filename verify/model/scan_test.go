package model

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		path    string
		want    Kind
		guessed bool
	}{
		{"model.safetensors", KindWeight, false},
		{"shards/model-00001-of-00002.safetensors", KindWeight, false},
		{"llama-8b.Q4_K_M.gguf", KindWeight, false},
		{"pytorch_model.bin", KindWeight, false},
		{"model.pt", KindWeight, false},
		{"weights.PTH", KindWeight, false},
		{"ckpt/last.ckpt", KindWeight, false},
		{"model.onnx", KindWeight, false},
		{"tf_model.h5", KindWeight, false},
		{"model.keras", KindWeight, false},
		{"arr.npz", KindWeight, false},
		{"arr.npy", KindWeight, false},
		{"flax_model.msgpack", KindWeight, false},
		{"clf.pkl", KindWeight, false},
		{"model.tflite", KindWeight, false},
		{"Model.mlmodel", KindWeight, false},
		{"config.json", KindWeightConfig, false},
		{"generation_config.json", KindWeightConfig, false},
		{"tokenizer.json", KindWeightConfig, false},
		{"tokenizer_config.json", KindWeightConfig, false},
		{"special_tokens_map.json", KindWeightConfig, false},
		{"vocab.json", KindWeightConfig, false},
		{"vocab.txt", KindWeightConfig, false},
		{"merges.txt", KindWeightConfig, false},
		{"tokenizer.model", KindWeightConfig, false},
		{"spiece.model", KindWeightConfig, false},
		{"model.safetensors.index.json", KindWeightConfig, false},
		{"params.yaml", KindWeightConfig, false},
		{"README.md", KindDoc, false},
		{"README", KindDoc, false},
		{"LICENSE", KindDoc, false},
		{"LICENSE.txt", KindDoc, false},
		{"docs/usage.md", KindDoc, false},
		{"notes.txt", KindDoc, false},
		{"assets/arch.png", KindDoc, false},
		{"modeling_llama.py", KindCode, false},
		{"license_check.py", KindCode, false},
		{"run.sh", KindCode, false},
		{"demo.ipynb", KindCode, false},
		{"index.js", KindCode, false},
		{"requirements.txt", KindCode, false},
		{"Dockerfile", KindCode, false},
		{".gitattributes", KindWeightConfig, true},
		{"data.unknownext", KindWeightConfig, true},
		{"noext", KindWeightConfig, true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, guessed := Classify(tc.path)
			if got != tc.want || guessed != tc.guessed {
				t.Errorf("Classify(%q) = %q, %v; want %q, %v", tc.path, got, guessed, tc.want, tc.guessed)
			}
		})
	}
}

func TestScan_KindsAndOrder(t *testing.T) {
	dir := t.TempDir()
	files := map[string]os.FileMode{
		"model-00002-of-00002.safetensors": 0o644,
		"model-00001-of-00002.safetensors": 0o600,
		"config.json":                      0o640,
		"README.md":                        0o644,
		"LICENSE":                          0o444,
		"scripts/run.sh":                   0o700,
		"scripts/util.py":                  0o750,
		"a/b/c/deep.gguf":                  0o644,
		"Z.txt":                            0o644,
		"B/upper.bin":                      0o644,
		".cairn/manifest.json":             0o644, // pull metadata: skipped
		".cairn/receipt.json":              0o644,
	}
	for p, m := range files {
		writeFile(t, dir, p, []byte(p), m)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := Scan(dir, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path string
		kind Kind
		mode os.FileMode
	}{
		{"B/upper.bin", KindWeight, 0o644},
		{"LICENSE", KindDoc, 0o644},
		{"README.md", KindDoc, 0o644},
		{"Z.txt", KindDoc, 0o644},
		{"a/b/c/deep.gguf", KindWeight, 0o644},
		{"config.json", KindWeightConfig, 0o644},
		{"model-00001-of-00002.safetensors", KindWeight, 0o644},
		{"model-00002-of-00002.safetensors", KindWeight, 0o644},
		{"scripts/run.sh", KindCode, 0o755},
		{"scripts/util.py", KindCode, 0o755},
	}
	if len(entries) != len(want) {
		t.Fatalf("Scan returned %q, want %d entries", paths(entries), len(want))
	}
	for i, w := range want {
		e := entries[i]
		if e.Path != w.path || e.Kind != w.kind || e.Mode != w.mode {
			t.Errorf("entry %d = %s %s %o, want %s %s %o", i, e.Path, e.Kind, e.Mode, w.path, w.kind, w.mode)
		}
		if e.MediaType != "application/vnd.cncf.model."+string(w.kind)+".v1.raw" {
			t.Errorf("%s: media type %s", e.Path, e.MediaType)
		}
		if e.Size != int64(len(w.path)) {
			t.Errorf("%s: size %d", e.Path, e.Size)
		}
		if !filepath.IsAbs(e.Source) || e.LinkTarget != "" || e.Members != nil {
			t.Errorf("%s: source %q, link %q, members %v", e.Path, e.Source, e.LinkTarget, e.Members)
		}
	}
}

func TestScan_Symlinks(t *testing.T) {
	tests := []struct {
		name string
		// setup builds the tree under base and returns the directory to scan.
		setup      func(t *testing.T, base string) string
		wantErr    error
		wantPath   string // the path named in the error, or the linked entry
		wantTarget string
		wantBytes  string
	}{
		{
			name: "to a file inside",
			setup: func(t *testing.T, base string) string {
				dir := filepath.Join(base, "m")
				writeFile(t, dir, "real/weights.bin", []byte("inside"), 0o644)
				must(t, os.Symlink("real/weights.bin", filepath.Join(dir, "model.bin")))
				return dir
			},
			wantPath: "model.bin", wantTarget: "real/weights.bin", wantBytes: "inside",
		},
		{
			// Hugging Face cache: snapshots/<rev>/<file> -> ../../blobs/<hash>.
			name: "hf cache outside the dir",
			setup: func(t *testing.T, base string) string {
				repo := filepath.Join(base, "models--org--tiny")
				writeFile(t, repo, "blobs/3f9a0c", []byte("safetensors bytes"), 0o644)
				snap := filepath.Join(repo, "snapshots", "abc123")
				must(t, os.MkdirAll(snap, 0o755))
				must(t, os.Symlink("../../blobs/3f9a0c", filepath.Join(snap, "model.safetensors")))
				return snap
			},
			wantPath: "model.safetensors", wantTarget: "../../blobs/3f9a0c", wantBytes: "safetensors bytes",
		},
		{
			name: "chain of links",
			setup: func(t *testing.T, base string) string {
				writeFile(t, base, "elsewhere/data", []byte("chained"), 0o755)
				must(t, os.Symlink(filepath.Join(base, "elsewhere/data"), filepath.Join(base, "hop")))
				dir := filepath.Join(base, "m")
				must(t, os.MkdirAll(dir, 0o755))
				must(t, os.Symlink("../hop", filepath.Join(dir, "run.sh")))
				return dir
			},
			wantPath: "run.sh", wantTarget: "../hop", wantBytes: "chained",
		},
		{
			name: "to a directory",
			setup: func(t *testing.T, base string) string {
				dir := filepath.Join(base, "m")
				writeFile(t, base, "other/x.bin", []byte("x"), 0o644)
				must(t, os.MkdirAll(dir, 0o755))
				must(t, os.Symlink("../other", filepath.Join(dir, "linked")))
				return dir
			},
			wantErr: ErrUnsupportedFile, wantPath: "linked",
		},
		{
			name: "dangling",
			setup: func(t *testing.T, base string) string {
				dir := filepath.Join(base, "m")
				writeFile(t, dir, "sub/ok.txt", []byte("ok"), 0o644)
				must(t, os.Symlink("missing.bin", filepath.Join(dir, "sub", "gone.bin")))
				return dir
			},
			wantErr: ErrUnsupportedFile, wantPath: "sub/gone.bin",
		},
		{
			name: "loop",
			setup: func(t *testing.T, base string) string {
				dir := filepath.Join(base, "m")
				must(t, os.MkdirAll(dir, 0o755))
				must(t, os.Symlink("b", filepath.Join(dir, "a")))
				must(t, os.Symlink("a", filepath.Join(dir, "b")))
				return dir
			},
			wantErr: ErrUnsupportedFile, wantPath: "a",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t, t.TempDir())
			entries, err := Scan(dir, ScanOptions{})
			if tc.wantErr != nil {
				var pe *PathError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &pe) || pe.Path != tc.wantPath {
					t.Fatalf("Scan: %v; want %v naming %q", err, tc.wantErr, tc.wantPath)
				}
				if !strings.Contains(err.Error(), tc.wantPath) {
					t.Errorf("error %q does not name %q", err, tc.wantPath)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(entries, func(e Entry) bool { return e.Path == tc.wantPath })
			if i < 0 {
				t.Fatalf("no entry %q in %q", tc.wantPath, paths(entries))
			}
			e := entries[i]
			if e.LinkTarget != tc.wantTarget {
				t.Errorf("LinkTarget = %q, want %q", e.LinkTarget, tc.wantTarget)
			}
			if resolved, _ := filepath.EvalSymlinks(e.Source); resolved != e.Source {
				t.Errorf("Source %q is not resolved (%q)", e.Source, resolved)
			}
			rc, err := e.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != tc.wantBytes || e.Size != int64(len(tc.wantBytes)) {
				t.Errorf("Open = %q, %v (size %d); want %q", b, err, e.Size, tc.wantBytes)
			}
		})
	}
}

func TestScan_Special(t *testing.T) {
	tests := []struct {
		name  string
		make  func(t *testing.T, p string)
		what  string
		inDir string
	}{
		{"fifo", func(t *testing.T, p string) { must(t, syscall.Mkfifo(p, 0o644)) }, "FIFO", "pipe"},
		{"fifo in a subdirectory", func(t *testing.T, p string) { must(t, syscall.Mkfifo(p, 0o644)) }, "FIFO", "sub/dir/pipe"},
		{"symlink to a fifo", func(t *testing.T, p string) {
			must(t, syscall.Mkfifo(p+".real", 0o644))
			must(t, os.Symlink(filepath.Base(p)+".real", p))
		}, "FIFO", "link"},
		{"socket", func(t *testing.T, p string) {
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skip("unix sockets:", err)
			}
			t.Cleanup(func() { l.Close() })
		}, "socket", "s.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Unix socket paths are limited to ~108 bytes: use a short dir.
			dir, err := os.MkdirTemp("", "cm")
			must(t, err)
			t.Cleanup(func() { os.RemoveAll(dir) })
			writeFile(t, dir, "model.bin", []byte("w"), 0o644)
			p := filepath.Join(dir, filepath.FromSlash(tc.inDir))
			must(t, os.MkdirAll(filepath.Dir(p), 0o755))
			tc.make(t, p)
			_, err = Scan(dir, ScanOptions{})
			var pe *PathError
			if !errors.Is(err, ErrUnsupportedFile) || !errors.As(err, &pe) {
				t.Fatalf("Scan: %v; want ErrUnsupportedFile", err)
			}
			// The FIFO behind a link is reported under the link's name or
			// its own (both are in the directory); either names a path.
			if pe.Path != tc.inDir && pe.Path != tc.inDir+".real" {
				t.Errorf("error names %q, want %q", pe.Path, tc.inDir)
			}
			if !strings.Contains(err.Error(), tc.what) {
				t.Errorf("error %q does not say %s", err, tc.what)
			}
		})
	}
}

func TestScan_RefusesUnpullablePaths(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  error
	}{
		{"backslash", []string{`a\b.txt`}, ErrUnsafePath},
		{"newline", []string{"a\nb.txt"}, ErrUnsafePath},
		{"case-only duplicate", []string{"Model.bin", "model.bin"}, ErrDuplicatePath},
		{"cairn metadata in another case", []string{".CAIRN/x"}, nil}, // skipped like .cairn
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				writeFile(t, dir, f, []byte("x"), 0o644)
			}
			entries, err := Scan(dir, ScanOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Scan: %v (entries %q); want %v", err, paths(entries), tc.want)
			}
			if tc.want == nil && len(entries) != 0 {
				t.Errorf("entries %q, want none", paths(entries))
			}
		})
	}
}

func TestScan_Ignore(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		"model.bin", ".git/HEAD", ".git/objects/ab/cdef", "sub/.git/config",
		"a.tmp", "sub/b.tmp", "data/x.log", "data/deep/y.log", "__pycache__/m.pyc",
		"cache/k/v", "keep/cache.txt",
	} {
		writeFile(t, dir, p, []byte(p), 0o644)
	}
	tests := []struct {
		name    string
		ignore  []string
		want    []string
		wantErr bool
	}{
		{"none", nil, []string{
			".git/HEAD", ".git/objects/ab/cdef", "__pycache__/m.pyc", "a.tmp", "cache/k/v", "data/deep/y.log",
			"data/x.log", "keep/cache.txt", "model.bin", "sub/.git/config", "sub/b.tmp",
		}, false},
		{"tree and base names", []string{".git/**", "*.tmp", "__pycache__"}, []string{
			"cache/k/v", "data/deep/y.log", "data/x.log", "keep/cache.txt", "model.bin", "sub/.git/config",
		}, false},
		{"base name at any depth", []string{".git"}, []string{
			"__pycache__/m.pyc", "a.tmp", "cache/k/v", "data/deep/y.log", "data/x.log", "keep/cache.txt", "model.bin", "sub/b.tmp",
		}, false},
		{"full path pattern", []string{"data/*.log", "cache/**"}, []string{
			".git/HEAD", ".git/objects/ab/cdef", "__pycache__/m.pyc", "a.tmp", "data/deep/y.log",
			"keep/cache.txt", "model.bin", "sub/.git/config", "sub/b.tmp",
		}, false},
		{"negation unsupported", []string{"!model.bin"}, nil, true},
		{"inner ** unsupported", []string{"a/**/b"}, nil, true},
		{"bad pattern", []string{"[a"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := Scan(dir, ScanOptions{Ignore: tc.ignore})
			if tc.wantErr {
				if err == nil {
					t.Fatal("Scan accepted the pattern")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(entries); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestScan_NotADirectory(t *testing.T) {
	f := writeFile(t, t.TempDir(), "f", []byte("x"), 0o644)
	if _, err := Scan(f, ScanOptions{}); err == nil {
		t.Error("Scan of a file succeeded")
	}
	if _, err := Scan(filepath.Join(t.TempDir(), "missing"), ScanOptions{}); err == nil {
		t.Error("Scan of a missing directory succeeded")
	}
}

func TestEntry_OpenDetectsChanges(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "model.bin", []byte("12345678"), 0o644)
	entries, err := Scan(dir, ScanOptions{})
	must(t, err)
	for _, content := range []string{"1234", "123456789"} {
		must(t, os.WriteFile(p, []byte(content), 0o644))
		rc, err := entries[0].Open()
		must(t, err)
		_, err = io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, ErrChanged) {
			t.Errorf("%d bytes instead of 8: %v, want ErrChanged", len(content), err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
