package scan_test

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	"cairn.dev/cairn/verify/scan"
)

// seed adds the fixtures whose path starts with one of dirs.
func seed(f *testing.F, dirs ...string) {
	for _, fx := range fixtures() {
		for _, d := range dirs {
			if strings.HasPrefix(fx.path, d) {
				f.Add(fx.data)
			}
		}
	}
}

// check runs a scanner twice and checks what holds for any input: no
// error (a bytes.Reader does not fail), a format, valid findings, and the
// same report both times.
func check(t *testing.T, data []byte, fn func(io.ReaderAt, int64) (scan.Report, error)) {
	r, err := fn(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("error: %v", err)
	}
	if r.Format == "" {
		t.Fatal("no format")
	}
	checkVerdict(t, r)
	if len(r.Findings) > scan.MaxFindings+1 {
		t.Fatalf("%d findings", len(r.Findings))
	}
	for _, f := range r.Findings {
		if f.Rule == "" || f.Message == "" || (f.Severity != scan.Info && f.Severity != scan.Warning && f.Severity != scan.NotScanned && f.Severity != scan.Unsafe) {
			t.Fatalf("bad finding %+v", f)
		}
	}
	again, _ := fn(bytes.NewReader(data), int64(len(data)))
	if !reflect.DeepEqual(r, again) {
		t.Fatalf("two scans differ:\n%+v\n%+v", r, again)
	}
}

// checkVerdict checks that the verdict follows from the findings: unsafe
// exactly when a finding is Unsafe, safe only for a known format without
// NotScanned findings.
func checkVerdict(t *testing.T, r scan.Report) {
	t.Helper()
	unsafe, unscanned := false, r.Format == scan.FormatUnknown
	for _, f := range r.Findings {
		unsafe = unsafe || f.Severity == scan.Unsafe
		unscanned = unscanned || f.Severity == scan.NotScanned
	}
	want := scan.VerdictSafe
	switch {
	case unsafe:
		want = scan.VerdictUnsafe
	case unscanned:
		want = scan.VerdictNotScanned
	}
	if r.Verdict != want || r.Safe() != (want == scan.VerdictSafe) {
		t.Fatalf("verdict %s (Safe %v), want %s: %+v", r.Verdict, r.Safe(), want, r)
	}
}

func FuzzPickle(f *testing.F) {
	seed(f, "pickle/", "pytorch/legacy")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, scan.Pickle) })
}

func FuzzPyTorch(f *testing.F) {
	seed(f, "pytorch/", "zip/")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, scan.PyTorch) })
}

func FuzzNumPy(f *testing.F) {
	seed(f, "numpy/")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, scan.NumPy) })
}

func FuzzSafetensors(f *testing.F) {
	seed(f, "safetensors/")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, scan.Safetensors) })
}

func FuzzGGUF(f *testing.F) {
	seed(f, "gguf/")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, scan.GGUF) })
}

func FuzzKeras(f *testing.F) {
	seed(f, "keras/")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, scan.Keras) })
}

// FuzzReader drives detection: any content, under a few names.
func FuzzReader(f *testing.F) {
	names := []string{"", "model.bin", "a.pkl", "a.npy", "a.safetensors", "a.gguf", "a.keras"}
	for i, fx := range fixtures() {
		f.Add(fx.data, uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		name := names[int(n)%len(names)]
		check(t, data, func(r io.ReaderAt, size int64) (scan.Report, error) { return scan.Reader(r, size, name) })
	})
}
