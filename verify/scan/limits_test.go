package scan

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func rules(r Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Rule)
	}
	return out
}

func mustReader(t *testing.T, b []byte, name string) Report {
	t.Helper()
	r, err := Reader(bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantRule(t *testing.T, r Report, rule string, safe bool) {
	t.Helper()
	if !slices.Contains(rules(r), rule) || r.Safe() != safe {
		t.Errorf("want %s (safe=%v); got safe=%v %v", rule, safe, r.Safe(), r.Findings)
	}
}

func TestPickle_Limits(t *testing.T) {
	defer func(n int64) { maxPickleOpcodes = n }(maxPickleOpcodes)
	maxPickleOpcodes = 1000
	ops := append([]byte{0x80, 2}, bytes.Repeat([]byte("N0"), 600)...)
	wantRule(t, mustReader(t, append(ops, 'N', '.'), "a.pkl"), "pickle.limit", false)
	maxPickleOpcodes = MaxPickleOpcodes

	tests := []struct {
		name string
		data []byte
	}{
		{"stack", bytes.Repeat([]byte("N"), MaxPickleStack+1)},
		{"memo", append([]byte("N"), bytes.Repeat([]byte{0x94}, MaxPickleMemo+1)...)},
		{"streams", bytes.Repeat([]byte("N."), MaxPickleStreams+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRule(t, mustReader(t, tc.data, "a.pkl"), "pickle.limit", false)
		})
	}
}

// TestPickle_StringBudget: past MaxPickleStrings, strings are not kept,
// and a global named by one is Unsafe.
func TestPickle_StringBudget(t *testing.T) {
	var b []byte
	b = append(b, 0x80, 4)
	chunk := append([]byte{'X', 0, 4, 0, 0}, bytes.Repeat([]byte("a"), 1024)...) // BINUNICODE of 1 KiB
	for range MaxPickleStrings/1024 + 1 {
		b = append(b, chunk...)
		b = append(b, '0')
	}
	b = append(b, 0x8c, 11)
	b = append(b, "collections"...)
	b = append(b, 0x8c, 11)
	b = append(b, "OrderedDict"...)
	b = append(b, 0x93, '.')
	wantRule(t, mustReader(t, b, "a.pkl"), "pickle.operand", false)
}

func TestReport_FindingsCap(t *testing.T) {
	var b []byte
	for i := range MaxFindings + 10 {
		b = append(b, "cm"+strings.Repeat("x", i)+"\nf\n0"...)
	}
	b = append(b, "N."...)
	r := mustReader(t, b, "a.pkl")
	if len(r.Findings) != MaxFindings+1 {
		t.Fatalf("%d findings", len(r.Findings))
	}
	last := r.Findings[MaxFindings]
	if last.Rule != "scan.findings" || last.Severity != Unsafe {
		t.Errorf("last finding %v", last)
	}
}

func TestEscapeDecode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`os`, "os", true},
		{`\x6fs`, "os", true},
		{`sys\164em`, "system", true},
		{`a\nb\'\"\\`, "a\nb'\"\\", true},
		{`\q`, `\q`, true},
		{`\777`, "\xff", true},
		{`\x6`, "", false},
		{`\xzz`, "", false},
		{`trailing\`, "", false},
	}
	for _, tc := range tests {
		got, ok := escapeDecode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("escapeDecode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRawUnicodeEscapeDecode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`\u006fs`, "os", true},
		{`\U0000006fs`, "os", true},
		{`\\u006fs`, `\\u006fs`, true}, // an even run of backslashes: no escape
		{`\\\u006f`, `\\o`, true},
		{"caf\xe9", "café", true},
		{`\n`, `\n`, true},
		{`\u006`, "", false},
		{`\U00110000`, "", false},
	}
	for _, tc := range tests {
		got, ok := rawUnicodeEscapeDecode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("rawUnicodeEscapeDecode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPickle_MemoIndex: PUT and GET parse their index as CPython does;
// anything else is Unsafe.
func TestPickle_MemoIndex(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{{"10", true}, {" 10 ", true}, {"+10", true}, {"1_0", true}, {"-1", false}, {"1__0", false}, {"_1", false}, {"0x1", false}, {"", false}} {
		r := mustReader(t, []byte("Np"+tc.line+"\ng10\n."), "a.pkl")
		if bad := slices.Contains(rules(r), "pickle.memo"); bad == tc.ok {
			t.Errorf("PUT %q then GET 10: %v", tc.line, r.Findings)
		}
	}
}

// TestZip_GoWriter reads archives written by archive/zip (data
// descriptors, deflate) and checks the decompression limits.
func TestZip_GoWriter(t *testing.T) {
	benign := []byte("\x80\x02}.")
	evil := []byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x02id\x85R.")
	write := func(files map[string][]byte, method uint16) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: method})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(files[n])
		}
		zw.Close()
		return buf.Bytes()
	}
	r := mustReader(t, write(map[string][]byte{"a.pkl": benign, "b/c.pkl": benign}, zip.Deflate), "x.zip")
	if !r.Safe() || r.Format != FormatArchive || r.Variant != "zip" {
		t.Errorf("benign: %+v", r)
	}
	wantRule(t, mustReader(t, write(map[string][]byte{"a.pkl": benign, "b.pkl": evil}, zip.Deflate), "x.zip"), "pickle.global", false)
	wantRule(t, mustReader(t, write(map[string][]byte{"a.pkl": evil}, zip.Store), "x.zip"), "pickle.global", false)

	defer func(n int64) { maxZipDecompressed = n }(maxZipDecompressed)
	maxZipDecompressed = 3
	wantRule(t, mustReader(t, write(map[string][]byte{"a.pkl": benign}, zip.Deflate), "x.zip"), "zip.limit", false)
	maxZipDecompressed = MaxZipDecompressed

	// Sizes that claim a ratio no compressor reaches.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "bomb.npy", Method: zip.Deflate, CompressedSize64: 10, UncompressedSize64: 1 << 30})
	w.Write(make([]byte, 10))
	zw.Close()
	wantRule(t, mustReader(t, buf.Bytes(), "x.npz"), "zip.limit", false)
}

// TestZip_LargeMembers scans members over MaxZipInMemory, which are read
// as streams.
func TestZip_LargeMembers(t *testing.T) {
	big := MaxZipInMemory + 1<<20
	header := "{'descr': '<u1', 'fortran_order': False, 'shape': (" + itoa(big) + ",), }"
	for len(header)+11 < 128 {
		header += " "
	}
	header += "\n"
	array := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	array = append(array, header...)
	array = append(array, make([]byte, big)...)
	pickle := append([]byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8e"), le64(uint64(big))...)
	pickle = append(append(pickle, make([]byte, big)...), "\x85R."...)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	for _, m := range []struct {
		name string
		data []byte
	}{{"big.npy", array}, {"big.pkl", pickle}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
	}
	zw.Close()
	r := mustReader(t, buf.Bytes(), "x.npz")
	wantRule(t, r, "pickle.global", false)
	if u := r.Unsafe(); len(u) != 1 || u[0].Entry != "big.pkl" {
		t.Errorf("findings %v", r.Findings)
	}
}

func itoa(n int) string {
	b := []byte{}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func le64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

type failingReader struct{}

var errDisk = errors.New("disk on fire")

func (failingReader) ReadAt(p []byte, off int64) (int, error) { return 0, errDisk }

// TestReader_Errors: errors are for I/O only.
func TestReader_Errors(t *testing.T) {
	if _, err := Reader(failingReader{}, 100, "a.pkl"); !errors.Is(err, errDisk) {
		t.Errorf("Reader: %v", err)
	}
	dir := t.TempDir()
	if _, err := File(t.Context(), dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("File(dir): %v", err)
	}
	p := filepath.Join(dir, "a.pkl")
	os.WriteFile(p, []byte("\x80\x02N."), 0o644)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := File(ctx, p); !errors.Is(err, context.Canceled) {
		t.Errorf("File(canceled): %v", err)
	}
	if r, err := File(t.Context(), p); err != nil || !r.Safe() || r.Format != FormatPickle {
		t.Errorf("File: %+v, %v", r, err)
	}
}
