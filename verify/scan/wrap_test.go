package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// zeroPickle writes a protocol 4 pickle holding one BINBYTES8 of n zero
// bytes, the content of the bombs: the scanner reads it as a stream and
// skips the bytes, so only the limits stop it.
func zeroPickle(w io.Writer, n int64) {
	head := []byte{0x80, 4, 0x8e}
	head = binary.LittleEndian.AppendUint64(head, uint64(n))
	w.Write(head)
	io.CopyN(w, zeroReader{}, n)
	w.Write([]byte{'.'})
}

// closeBoth closes an encoder, then the one it writes to.
type closeBoth struct {
	io.WriteCloser
	under io.Closer
}

func (c closeBoth) Close() error {
	if err := c.WriteCloser.Close(); err != nil {
		return err
	}
	return c.under.Close()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// compress runs a pickle of n zero bytes through the encoder new makes.
func compress(t *testing.T, n int64, newW func(io.Writer) (io.WriteCloser, error)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newW(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zeroPickle(w, n)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipW(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestCompression) }
func zlibW(w io.Writer) (io.WriteCloser, error) { return zlib.NewWriterLevel(w, zlib.BestCompression) }
func zstdW(w io.Writer) (io.WriteCloser, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
}
func xzW(w io.Writer) (io.WriteCloser, error)   { return xz.NewWriter(w) }
func lzmaW(w io.Writer) (io.WriteCloser, error) { return lzma.NewWriter(w) }

// bz2Zeros is what bzip2 -9 (1.0.8) writes for 10,000,000 zero bytes.
var bz2Zeros, _ = hex.DecodeString("425a6839314159265359d3a5dc7c004c97c010c00000080008200030cc0529a6aa4451b014451e2ee48a70a121a74bb8f8")

var crc32IEEE = crc32.ChecksumIEEE

// tarOf is a tar of one member.
func tarOf(name string, data []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// zipBomb is a zip of one deflated member: a pickle of n zero bytes.
func zipBomb(n int64) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "model.pkl", Method: zip.Deflate})
	zeroPickle(w, n)
	zw.Close()
	return buf.Bytes()
}

// zipStored is a zip of one stored member.
func zipStored(name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	w.Write(data)
	zw.Close()
	return buf.Bytes()
}

// scanBounded scans b and returns the report, the bytes decompressed and
// the bytes allocated while scanning.
func scanBounded(t *testing.T, b []byte, name string) (Report, int64, uint64) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := &scanner{src: &source{r: bytes.NewReader(b)}}
	c := s.at(s.src, int64(len(b)), name, "", 0)
	s.rep.Format, s.rep.Variant, s.rep.Wrappers = c.format, c.variant, c.wrappers
	rep, err := s.report()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return rep, s.unzipped, after.TotalAlloc - before.TotalAlloc
}

// TestWrap_Bombs: a decompression bomb per wrapper, nested ones too, is
// refused (unsafe, wrap.limit or zip.limit) within the limits. The bound
// stated and checked: at most MaxZipDecompressed (lowered here to 8 MiB)
// plus one read buffer is decompressed, and the scan allocates less than
// 48 MiB in all (TotalAlloc, not the heap at any one time); the time is
// what decompressing that much takes. The ratio limit (MaxWrapRatio)
// stops bz2, xz, lzma and zstd after about MaxWrapRatioAfter bytes, before
// the budget.
func TestWrap_Bombs(t *testing.T) {
	defer func(n int64) { maxZipDecompressed = n }(maxZipDecompressed)
	maxZipDecompressed = 8 << 20
	const n = 32 << 20 // bytes of zeros in each bomb

	bz2 := bytes.Repeat(bz2Zeros, 10) // 10 concatenated streams of 10^7 zeros
	nested := compress(t, n, gzipW)
	var outer bytes.Buffer
	gw, _ := gzipW(&outer)
	gw.Write(nested)
	gw.Close()
	tarBomb := tarOf("model.pkl", compress(t, n, zstdW))
	tests := []struct {
		name string
		data []byte
		rule string
	}{
		{"gzip", compress(t, n, gzipW), "wrap.limit"},
		{"zlib", compress(t, n, zlibW), "wrap.limit"},
		{"bz2", bz2, "wrap.limit"},
		{"xz", compress(t, 8<<20, xzW), "wrap.limit"},
		{"lzma", compress(t, 8<<20, lzmaW), "wrap.limit"},
		{"zstd", compress(t, n, zstdW), "wrap.limit"},
		{"gzip in gzip", outer.Bytes(), "wrap.limit"},
		{"zstd in tar", tarBomb, "wrap.limit"},
		{"zip", zipBomb(n), "zip.limit"},
		{"gzip in zip", zipStored("model.safetensors", compress(t, n, gzipW)), "wrap.limit"},
		{"zstd in gzip in tar in zip", zipStored("a.tar", tarOf("b.gz", compress(t, n, func(w io.Writer) (io.WriteCloser, error) {
			gw, _ := gzipW(w)
			zw, err := zstdW(gw)
			return closeBoth{zw, gw}, err
		}))), "wrap.limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, unzipped, alloc := scanBounded(t, tc.data, "weights.bin")
			if rep.Verdict != VerdictUnsafe || !slices.Contains(rules(rep), tc.rule) {
				t.Errorf("%s, want unsafe with %s: %v", rep.Verdict, tc.rule, rep.Findings)
			}
			if unzipped > maxZipDecompressed+bufSizeWrapped {
				t.Errorf("%d bytes decompressed, over the budget of %d", unzipped, maxZipDecompressed)
			}
			if alloc > 48<<20 {
				t.Errorf("%d bytes allocated", alloc)
			}
			t.Logf("%d bytes in, %d decompressed, %d allocated: %s", len(tc.data), unzipped, alloc, rep.Summary())
		})
	}
}

// TestWrap_Depth: compressed streams nested past MaxNesting are refused;
// up to it, what is inside is scanned.
func TestWrap_Depth(t *testing.T) {
	evil := []byte("\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x02id\x85R.")
	wrap := func(b []byte, times int) []byte {
		for range times {
			var buf bytes.Buffer
			w, _ := gzipW(&buf)
			w.Write(b)
			w.Close()
			b = buf.Bytes()
		}
		return b
	}
	r := mustReader(t, wrap(evil, MaxNesting), "a.bin")
	if r.Verdict != VerdictUnsafe || !slices.Contains(rules(r), "pickle.global") || len(r.Wrappers) != MaxNesting {
		t.Errorf("%d deep: %s %v %v", MaxNesting, r.Verdict, r.Wrappers, r.Findings)
	}
	r = mustReader(t, wrap(evil, MaxNesting+1), "a.bin")
	if r.Verdict != VerdictUnsafe || !slices.Contains(rules(r), "archive.nesting") || slices.Contains(rules(r), "pickle.global") {
		t.Errorf("%d deep: %s %v", MaxNesting+1, r.Verdict, r.Findings)
	}
	benign := []byte("\x80\x02}.")
	r = mustReader(t, wrap(benign, MaxNesting+1), "a.bin")
	if r.Verdict != VerdictUnsafe || !slices.Contains(rules(r), "archive.nesting") {
		t.Errorf("benign, %d deep: %s %v", MaxNesting+1, r.Verdict, r.Findings)
	}
}

// TestWrap_InMemoryLimit: content past MaxWrappedInMemory that needs
// random access is not scanned (not safe, not unsafe); a pickle that
// large is read as a stream.
func TestWrap_InMemoryLimit(t *testing.T) {
	big := make([]byte, MaxWrappedInMemory+1)
	copy(big, `{"a": "`)
	for i := 7; i < len(big)-2; i++ {
		big[i] = 'x'
	}
	copy(big[len(big)-2:], `"}`)
	var buf bytes.Buffer
	w, _ := gzipW(&buf)
	w.Write(big)
	w.Close()
	r := mustReader(t, buf.Bytes(), "tokenizer.json.gz")
	if r.Verdict != VerdictNotScanned || !slices.Contains(rules(r), "wrap.limit") {
		t.Errorf("large JSON in gzip: %s %v", r.Verdict, r.Findings)
	}
	r = mustReader(t, compress(t, MaxWrappedInMemory+1<<20, gzipW), "a.bin")
	if r.Verdict != VerdictSafe || r.Format != FormatPickle {
		t.Errorf("large pickle in gzip: %s %s %v", r.Verdict, r.Format, r.Findings)
	}
}

// TestWrap_XZDictionary: an xz stream that asks for a dictionary over
// MaxDictionary is refused before anything is allocated.
func TestWrap_XZDictionary(t *testing.T) {
	var buf bytes.Buffer
	w, _ := xz.WriterConfig{DictCap: 1 << 20}.NewWriter(&buf)
	w.Write([]byte("\x80\x02}."))
	w.Close()
	b := buf.Bytes()
	if d := xzDictionary(b); d != 1<<20 {
		t.Fatalf("dictionary %d, want %d", d, 1<<20)
	}
	// Raise the first block's dictionary byte to 4 GiB - 1 and fix the
	// header's CRC32 so that only the limit refuses it.
	hdr := b[12 : 12+int(b[12]+1)*4]
	for i := 2; i+2 < len(hdr); i++ {
		if hdr[i] == 0x21 && hdr[i+1] == 1 {
			hdr[i+2] = 40
			break
		}
	}
	binary.LittleEndian.PutUint32(hdr[len(hdr)-4:], crc32IEEE(hdr[:len(hdr)-4]))
	r := mustReader(t, b, "a.xz")
	if r.Verdict != VerdictUnsafe || !slices.Contains(rules(r), "wrap.limit") {
		t.Errorf("%s %v", r.Verdict, r.Findings)
	}
}
