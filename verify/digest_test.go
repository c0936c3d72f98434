package verify_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify"
)

// mkfifo makes a FIFO where the system has them (digest_fifo_test.go).
var mkfifo = func(string) error { return errors.New("no FIFOs on this system") }

// writeFiles writes files (slash paths to contents) under dir.
func writeFiles(t testing.TB, dir string, files map[string][]byte) {
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

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHashFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"empty":            {},
		"small.json":       []byte(`{"a":1}`),
		"d/big.bin":        randomBytes(t, 3<<20+17),
		"d/e/f/deep.txt":   []byte("deep"),
		"odd name (1).txt": []byte("spaces"),
	}
	writeFiles(t, dir, files)
	if err := os.Symlink("small.json", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "outside"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	hasFIFO := mkfifo(filepath.Join(dir, "fifo")) == nil
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}

	for _, opts := range []verify.HashOptions{{}, {Workers: 1}, {Workers: 7, BufferSize: 1}, {BufferSize: 1 << 20}} {
		t.Run(fmt.Sprintf("workers=%d,buffer=%d", opts.Workers, opts.BufferSize), func(t *testing.T) {
			got, err := verify.HashFiles(t.Context(), dir, paths, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range paths {
				if want := digest.FromBytes(files[p]); got[i] != want {
					t.Errorf("%s: %s, want %s", p, got[i], want)
				}
			}
		})
	}

	t.Run("symlink inside root", func(t *testing.T) {
		got, err := verify.HashFiles(t.Context(), dir, []string{"link"}, verify.HashOptions{})
		if err != nil || got[0] != digest.FromBytes(files["small.json"]) {
			t.Fatalf("got %v, %v", got, err)
		}
	})

	errCases := []struct {
		name, path, want string
	}{
		{"missing", "nope", "no such file"},
		{"dot-dot", "../outside", "invalid argument"},
		{"absolute", "/etc/passwd", "invalid argument"},
		{"symlink escaping root", "escape", "escapes"},
		{"directory", "d", "not a regular file"},
		{"fifo", "fifo", "not a regular file"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "fifo" && !hasFIFO {
				t.Skip("no FIFOs on this system")
			}
			_, err := verify.HashFiles(t.Context(), dir, []string{"small.json", tc.path}, verify.HashOptions{})
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != tc.path || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a path error for %s containing %q", err, tc.path, tc.want)
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		got, err := verify.HashFiles(t.Context(), dir, nil, verify.HashOptions{})
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v", got, err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := verify.HashFiles(ctx, dir, paths, verify.HashOptions{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestHashRanges(t *testing.T) {
	dir := t.TempDir()
	data := randomBytes(t, 1<<20+3)
	writeFiles(t, dir, map[string][]byte{"w.bin": data})
	const shard = 256 << 10
	var ranges []verify.Range
	for off := int64(0); off < int64(len(data)); off += shard {
		ranges = append(ranges, verify.Range{Path: "w.bin", Offset: off, Length: min(shard, int64(len(data))-off)})
	}
	got, err := verify.HashRanges(t.Context(), dir, ranges, verify.HashOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, rg := range ranges {
		if want := digest.FromBytes(data[rg.Offset : rg.Offset+rg.Length]); got[i] != want {
			t.Errorf("range %d: %s, want %s", i, got[i], want)
		}
	}

	for _, tc := range []struct {
		name string
		rg   verify.Range
		want string
	}{
		{"past the end", verify.Range{Path: "w.bin", Offset: int64(len(data)) - 2, Length: 3}, "shorter"},
		{"negative", verify.Range{Path: "w.bin", Offset: -1, Length: 3}, "invalid range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := verify.HashRanges(t.Context(), dir, []verify.Range{tc.rg}, verify.HashOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// BenchmarkHashFiles hashes 8 page-cached files of 32 MiB with one worker
// and with GOMAXPROCS workers, at three buffer sizes; BenchmarkSHA256 is
// the single-core limit to compare MB/s against.
func BenchmarkHashFiles(b *testing.B) {
	const files, size = 8, 32 << 20
	dir := b.TempDir()
	data := randomBytes(b, size)
	paths := make([]string, files)
	for i := range paths {
		paths[i] = fmt.Sprintf("f%d.bin", i)
		data[0] = byte(i)
		if err := os.WriteFile(filepath.Join(dir, paths[i]), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		for _, buf := range []int{256 << 10, verify.DefaultHashBufferSize, 4 << 20} {
			b.Run(fmt.Sprintf("workers=%d/buffer=%dKiB", workers, buf>>10), func(b *testing.B) {
				b.SetBytes(files * size)
				for b.Loop() {
					if _, err := verify.HashFiles(b.Context(), dir, paths, verify.HashOptions{Workers: workers, BufferSize: buf}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSHA256 is SHA-256 of an in-memory buffer on one core: the
// ceiling for one HashFiles worker.
func BenchmarkSHA256(b *testing.B) {
	data := randomBytes(b, 4<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
	}
}

// ExampleHashFiles hashes two files of a directory in parallel.
func ExampleHashFiles() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
	os.MkdirAll(filepath.Join(dir, "weights"), 0o755)
	os.WriteFile(filepath.Join(dir, "weights", "model.bin"), []byte("weights"), 0o644)

	digests, err := verify.HashFiles(context.Background(), dir, []string{"config.json", "weights/model.bin"}, verify.HashOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range digests {
		fmt.Println(d)
	}
	// Output:
	// sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
	// sha256:9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c
}
