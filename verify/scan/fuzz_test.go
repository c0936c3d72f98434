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

// FuzzWrapper drives the compressed-stream dispatcher: the fuzzed bytes
// as they are (a compressed stream to decode), or wrapped in gzip, zlib,
// joblib's header, xz or zstd (content to find inside).
func FuzzWrapper(f *testing.F) {
	seed(f, "wrap/", "joblib/")
	f.Add(bz2Benign)
	f.Add(lzmaEvil)
	wrappers := []func([]byte) []byte{
		func(b []byte) []byte { return b },
		gz, zl, joblibZF, xzs, zst,
		func(b []byte) []byte { return gz(mktar(tm{name: "m.bin", data: b})) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, w := range wrappers {
			if i > 0 && len(data) > 1<<16 {
				break
			}
			check(t, w(data), func(r io.ReaderAt, size int64) (scan.Report, error) { return scan.Reader(r, size, "weights.bin") })
		}
	})
}

// FuzzTar drives the tar reader: members, names, types, and what is in
// them.
func FuzzTar(f *testing.F) {
	seed(f, "wrap/tar", "wrap/zip_tar", "pytorch/legacy_tar")
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data, func(r io.ReaderAt, size int64) (scan.Report, error) { return scan.Reader(r, size, "a.tar") })
	})
}

// FuzzTorchTar drives the legacy torch.save tar reader: the storages and
// tensors members, pickles followed by raw data.
func FuzzTorchTar(f *testing.F) {
	sysinfo := pkl().proto(2).op(opEmptyDict).stop().bytes()
	f.Add(torchTarStorages("FloatStorage", 4), torchTarTensors())
	f.Add(append(torchTarStorages("DoubleStorage", 1), evil("id").bytes()...), torchTarTensors())
	f.Fuzz(func(t *testing.T, storages, tensors []byte) {
		check(t, torchTar(sysinfo, torchTarPickle(), storages, tensors), scan.PyTorch)
	})
}

// FuzzJoblib drives the joblib paths: its array wrapper, inline arrays,
// the old compressed header.
func FuzzJoblib(f *testing.F) {
	seed(f, "joblib/")
	f.Add(joblibArray())
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data, func(r io.ReaderAt, size int64) (scan.Report, error) { return scan.Reader(r, size, "model.joblib") })
		check(t, joblibZF(data), func(r io.ReaderAt, size int64) (scan.Report, error) { return scan.Reader(r, size, "model.joblib") })
	})
}

// FuzzPlain drives the JSON and text detection.
func FuzzPlain(f *testing.F) {
	seed(f, "plain/")
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, data, func(r io.ReaderAt, size int64) (scan.Report, error) { return scan.Reader(r, size, "config") })
	})
}
