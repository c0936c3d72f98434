package model

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScan_DatasetGroups(t *testing.T) {
	dir := t.TempDir()
	want := map[string][]byte{}
	for i := range 300 {
		p := fmt.Sprintf("shard-%d/row-%04d.json", i%7, i)
		b := bytes.Repeat([]byte{byte(i)}, i*3)
		writeFile(t, dir, p, b, 0o644)
		want[p] = b
	}
	// Names USTAR cannot hold go through GNU long-name records.
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("n", 130) + ".txt"
	writeFile(t, dir, long, []byte("long"), 0o755)
	want[long] = []byte("long")
	writeFile(t, dir, "big/blob.bin", bytes.Repeat([]byte("B"), 5000), 0o644)

	entries, err := Scan(dir, ScanOptions{Dataset: true, SmallFile: 4096, GroupSize: 64 << 10})
	must(t, err)
	if !slices.IsSortedFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) }) {
		t.Errorf("entries not sorted: %q", paths(entries))
	}
	var groups []Entry
	for _, e := range entries {
		if e.Kind != KindDataset {
			t.Errorf("%s: kind %s", e.Path, e.Kind)
		}
		switch {
		case e.Path == "big/blob.bin":
			if e.MediaType != MediaTypeDatasetRaw || e.Members != nil {
				t.Errorf("large file %+v", e)
			}
		case strings.HasPrefix(e.Path, "cairn-group-"):
			groups = append(groups, e)
		default:
			t.Errorf("unexpected entry %s", e.Path)
		}
	}
	if len(groups) < 2 {
		t.Fatalf("%d groups, want several of at most 64 KiB", len(groups))
	}

	out := t.TempDir()
	seen := map[string]bool{}
	for gi, g := range groups {
		if g.Path != fmt.Sprintf("cairn-group-%05d.tar", gi+1) || g.MediaType != MediaTypeDatasetTar || g.Source != "" {
			t.Errorf("group %d: %s %s %q", gi, g.Path, g.MediaType, g.Source)
		}
		if g.Size > 64<<10 {
			t.Errorf("%s: %d bytes, above GroupSize", g.Path, g.Size)
		}
		if !slices.IsSortedFunc(g.Members, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) }) {
			t.Errorf("%s: members not sorted", g.Path)
		}
		stream := readAll(t, g)
		if int64(len(stream)) != g.Size {
			t.Errorf("%s: stream is %d bytes, Size %d", g.Path, len(stream), g.Size)
		}
		// Same bytes as archive/tar writes for the documented headers.
		if ref := referenceTar(t, g.Members); !bytes.Equal(stream, ref) {
			t.Errorf("%s: stream differs from archive/tar's (%d vs %d bytes)", g.Path, len(stream), len(ref))
		}
		checkHeaders(t, g.Path, stream)
		got, err := ExtractTar(bytes.NewReader(stream), out)
		must(t, err)
		for i, m := range g.Members {
			if got[i] != m.Path {
				t.Errorf("ExtractTar wrote %q, member %q", got[i], m.Path)
			}
			seen[m.Path] = true
		}
	}
	if len(seen) != len(want) {
		t.Errorf("groups hold %d files, want %d", len(seen), len(want))
	}
	for p, b := range want {
		got, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: round trip gave %d bytes, %v", p, len(got), err)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, long)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("%s: %v %v, want mode 0755", long, fi, err)
	}

	// Determinism of the group streams.
	again, err := Scan(dir, ScanOptions{Dataset: true, SmallFile: 4096, GroupSize: 64 << 10})
	must(t, err)
	if !slices.Equal(hashEntries(t, again), hashEntries(t, entries)) {
		t.Error("a second Scan gives different layer digests")
	}
}

func readAll(t testing.TB, e Entry) []byte {
	t.Helper()
	rc, err := e.Open()
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return b
}

// referenceTar writes members with archive/tar's Writer.
func referenceTar(t *testing.T, members []Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: m.Path, Size: m.Size, Mode: int64(m.Mode), ModTime: epoch, Format: tar.FormatUSTAR}
		if len(m.Path) > 100 {
			h.Format = tar.FormatGNU
		}
		must(t, tw.WriteHeader(h))
		b, err := os.ReadFile(m.Source)
		must(t, err)
		_, err = tw.Write(b)
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func checkHeaders(t *testing.T, name string, stream []byte) {
	tr := tar.NewReader(bytes.NewReader(stream))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		must(t, err)
		if h.Typeflag != tar.TypeReg || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
			!h.ModTime.Equal(epoch) || len(h.PAXRecords) != 0 || h.Format == tar.FormatPAX ||
			(h.Mode != 0o644 && h.Mode != 0o755) {
			t.Errorf("%s: header %+v", name, h)
		}
	}
}

// tarEntry describes one entry of a hand-made tar stream.
type tarEntry struct {
	name     string
	typeflag byte
	body     string
	link     string
	mode     int64
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: mode, Linkname: e.link, Size: int64(len(e.body))}
		if e.typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestExtractTar(t *testing.T) {
	reg := func(name, body string) tarEntry { return tarEntry{name: name, typeflag: tar.TypeReg, body: body} }
	tests := []struct {
		name      string
		entries   []tarEntry
		gzip      bool
		wantErr   error
		wantEntry string // named in the error
		want      map[string]string
	}{
		{"files and dirs", []tarEntry{
			{name: "models/", typeflag: tar.TypeDir, mode: 0o777},
			reg("models/a.bin", "A"),
			{name: "./models/run.sh", typeflag: tar.TypeReg, body: "#!/bin/sh", mode: 0o700},
			reg("top.txt", "T"),
			{name: "./", typeflag: tar.TypeDir},
		}, false, nil, "", map[string]string{"models/a.bin": "A", "models/run.sh": "#!/bin/sh", "top.txt": "T"}},
		{"gzip", []tarEntry{reg("x/y.txt", "gz")}, true, nil, "", map[string]string{"x/y.txt": "gz"}},
		{"symlink", []tarEntry{reg("a", "a"), {name: "evil", typeflag: tar.TypeSymlink, link: "/etc/passwd"}}, false, ErrUnsupportedFile, "evil", nil},
		{"symlink then write through it", []tarEntry{{name: "d", typeflag: tar.TypeSymlink, link: "/tmp"}, reg("d/x", "x")}, false, ErrUnsupportedFile, "d", nil},
		{"hardlink", []tarEntry{reg("a", "a"), {name: "b", typeflag: tar.TypeLink, link: "a"}}, false, ErrUnsupportedFile, "b", nil},
		{"char device", []tarEntry{{name: "null", typeflag: tar.TypeChar}}, false, ErrUnsupportedFile, "null", nil},
		{"block device", []tarEntry{{name: "sda", typeflag: tar.TypeBlock}}, false, ErrUnsupportedFile, "sda", nil},
		{"fifo", []tarEntry{{name: "p", typeflag: tar.TypeFifo}}, false, ErrUnsupportedFile, "p", nil},
		{"dotdot", []tarEntry{reg("../x", "x")}, false, ErrUnsafePath, "../x", nil},
		{"inner dotdot", []tarEntry{reg("a/../../x", "x")}, false, ErrUnsafePath, "a/../../x", nil},
		{"absolute", []tarEntry{reg("/tmp/x", "x")}, false, ErrUnsafePath, "/tmp/x", nil},
		{"backslash", []tarEntry{reg(`a\..\..\x`, "x")}, false, ErrUnsafePath, `a\..\..\x`, nil},
		{"cairn metadata", []tarEntry{reg(".cairn/receipt.json", "{}")}, false, ErrUnsafePath, ".cairn/receipt.json", nil},
		{"duplicate", []tarEntry{reg("a", "1"), reg("a", "2")}, false, ErrDuplicatePath, "a", nil},
		{"case duplicate", []tarEntry{reg("README", "1"), reg("readme", "2")}, false, ErrDuplicatePath, "readme", nil},
		{"file under a file", []tarEntry{reg("a", "1"), reg("a/b", "2")}, false, ErrDuplicatePath, "a/b", nil},
		{"dir over a file", []tarEntry{reg("a", "1"), {name: "a/", typeflag: tar.TypeDir}}, false, ErrDuplicatePath, "a/", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := makeTar(t, tc.entries)
			if tc.gzip {
				var z bytes.Buffer
				zw := gzip.NewWriter(&z)
				zw.Write(stream)
				zw.Close()
				stream = z.Bytes()
			}
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			got, err := ExtractTar(bytes.NewReader(stream), dir)
			assertOnlyOut(t, parent)
			if tc.wantErr != nil {
				var pe *PathError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &pe) || pe.Path != tc.wantEntry {
					t.Fatalf("ExtractTar: %v; want %v naming %q", err, tc.wantErr, tc.wantEntry)
				}
				// Files written before the refusal are removed.
				filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						t.Errorf("left behind: %s", p)
					}
					return nil
				})
				return
			}
			must(t, err)
			if !slices.Equal(sortedCopy(got), sortedCopy(keys(tc.want))) {
				t.Errorf("wrote %q, want %q", got, keys(tc.want))
			}
			for p, body := range tc.want {
				b, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil || string(b) != body {
					t.Errorf("%s = %q, %v", p, b, err)
				}
				fi, _ := os.Stat(filepath.Join(dir, p))
				if m := fi.Mode().Perm(); m != 0o644 && m != 0o755 {
					t.Errorf("%s: mode %o", p, m)
				}
			}
		})
	}
}

// assertOnlyOut checks that nothing but out/ exists in parent.
func assertOnlyOut(t testing.TB, parent string) {
	t.Helper()
	des, err := os.ReadDir(parent)
	must(t, err)
	for _, de := range des {
		if de.Name() != "out" {
			t.Errorf("ExtractTar wrote %s outside its directory", filepath.Join(parent, de.Name()))
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestExtractTar_ExistingSymlinkInDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	must(t, os.MkdirAll(dir, 0o755))
	victim := filepath.Join(parent, "victim")
	must(t, os.WriteFile(victim, []byte("keep"), 0o644))
	must(t, os.Symlink(victim, filepath.Join(dir, "f")))
	must(t, os.Symlink(parent, filepath.Join(dir, "d")))

	for _, name := range []string{"f", "d/victim"} {
		_, err := ExtractTar(bytes.NewReader(makeTar(t, []tarEntry{{name: name, typeflag: tar.TypeReg, body: "pwned"}})), dir)
		if err == nil {
			t.Errorf("%s: ExtractTar followed a symlink out of its directory", name)
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep" {
			t.Fatalf("%s: file outside dir overwritten: %q", name, b)
		}
	}
}

func TestExtractTar_Limits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a stream of MaxTarEntries+1 headers")
	}
	// Root entries cost no file system work but count like any other.
	entries := make([]tarEntry, MaxTarEntries+1)
	for i := range entries {
		entries[i] = tarEntry{name: "./", typeflag: tar.TypeDir}
	}
	_, err := ExtractTar(bytes.NewReader(makeTar(t, entries)), t.TempDir())
	if !errors.Is(err, ErrTooMany) {
		t.Errorf("ExtractTar of %d entries: %v, want ErrTooMany", len(entries), err)
	}
	// Truncated stream.
	stream := makeTar(t, []tarEntry{{name: "a", typeflag: tar.TypeReg, body: strings.Repeat("x", 2000)}})
	if _, err := ExtractTar(bytes.NewReader(stream[:1000]), t.TempDir()); err == nil {
		t.Error("ExtractTar accepted a truncated stream")
	}
}

func TestExtractTar_ReadsToEnd(t *testing.T) {
	stream := append(makeTar(t, []tarEntry{{name: "a", typeflag: tar.TypeReg, body: "a"}}), make([]byte, 10000)...)
	cr := &countingReader{r: bytes.NewReader(stream)}
	if _, err := ExtractTar(cr, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if cr.n != int64(len(stream)) {
		t.Errorf("read %d of %d bytes", cr.n, len(stream))
	}
}
