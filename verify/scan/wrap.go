package scan

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// content is what some content turned out to be: its format and variant,
// and the single-member archives and compressed streams it was found in,
// outermost first.
type content struct {
	format, variant string
	wrappers        []string
}

// in records that c was found inside wrapper w.
func (c content) in(w string) content {
	c.wrappers = append([]string{w}, c.wrappers...)
	return c
}

// Magic bytes of the compressed streams.
var (
	gzipMagic  = []byte{0x1f, 0x8b, 0x08}
	bzip2Magic = []byte("BZh")
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	// joblibZF is the header joblib 0.9 and older wrote before a zlib
	// stream: "ZF", then the uncompressed length in hex, padded with
	// spaces to 19 bytes (numpy_pickle_utils._ZFILE_PREFIX, _MAX_LEN).
	joblibZF = []byte("ZF")
)

const joblibZFLen = 2 + 19

// wrapperName names the compressed streams in Report.Wrappers.
var wrapperName = map[magic]string{mGzip: "gzip", mZlib: "zlib", mJoblibZF: "zlib", mBzip2: "bz2",
	mXz: "xz", mLzma: "lzma", mZstd: "zstd"}

// sniffWrapper identifies a compressed stream or a tar by its first bytes.
func sniffWrapper(head []byte) magic {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return mGzip
	case zlibHead(head):
		return mZlib
	case len(head) > joblibZFLen && bytes.HasPrefix(head, joblibZF) && joblibLength(head[2:joblibZFLen]) && zlibHead(head[joblibZFLen:]):
		return mJoblibZF
	case len(head) >= 4 && bytes.HasPrefix(head, bzip2Magic) && head[3] >= '1' && head[3] <= '9':
		return mBzip2
	case bytes.HasPrefix(head, xzMagic):
		return mXz
	case bytes.HasPrefix(head, zstdMagic):
		return mZstd
	case lzmaHead(head):
		return mLzma
	case tarHead(head):
		return mTar
	}
	return mNone
}

// zlibHead reports whether head starts a zlib stream as zlib.compress and
// joblib write it: deflate with a 32 KiB window (0x78), a header checksum
// that holds, no preset dictionary.
func zlibHead(head []byte) bool {
	return len(head) >= 2 && head[0] == 0x78 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 && head[1]&0x20 == 0
}

// joblibLength reports whether b is joblib's length field: "0x", hex
// digits, spaces.
func joblibLength(b []byte) bool {
	t := bytes.TrimRight(b, " ")
	if !bytes.HasPrefix(t, []byte("0x")) || len(t) == 2 {
		return false
	}
	_, err := strconv.ParseUint(string(t[2:]), 16, 64)
	return err == nil
}

// lzmaHead reports whether head starts an lzma-alone (.lzma) stream as
// liblzma's decoder accepts it: properties lc+lp*9+pb*45 below 225, a
// dictionary size of 2^n or 2^n+2^(n-1) bytes (at least 4 KiB), and an
// uncompressed size that is unknown (all ones) or below 2^38.
func lzmaHead(head []byte) bool {
	if len(head) < 13 || head[0] >= 9*5*5 {
		return false
	}
	d := binary.LittleEndian.Uint32(head[1:])
	size := binary.LittleEndian.Uint64(head[5:])
	if d < 1<<12 || (size != math.MaxUint64 && size >= 1<<38) {
		return false
	}
	low := d & -d // lowest bit set
	return d == low || d == low*3
}

// tarHead reports whether head starts with a tar header whose checksum
// holds (ustar, GNU and v7 headers alike).
func tarHead(head []byte) bool {
	if len(head) < 512 || head[0] == 0 {
		return false
	}
	field := bytes.TrimRight(bytes.TrimLeft(head[148:156], " "), " \x00")
	want, err := strconv.ParseUint(string(field), 8, 32)
	if err != nil {
		return false
	}
	var sum uint64
	for i, b := range head[:512] {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += uint64(b)
	}
	return sum == want
}

// strongMagic reports whether kind k has magic bytes long enough that
// content starting with them is that kind or corrupt. zlib (two bytes, one
// of them a checksum) and lzma-alone (a few plausible values) are weaker:
// text can start like them ("x^..."), so they count only when they decode.
func strongMagic(k magic) bool { return k != mZlib && k != mLzma }

// decodes reports whether the first bytes of the compressed stream of
// kind k read from r decompress.
func decodes(k magic, r io.Reader) bool {
	zr, err := decompressor(k, r)
	if err != nil {
		return false
	}
	defer zr.Close()
	_, err = zr.Read(make([]byte, 1))
	return err == nil || err == io.EOF
}

// wrapError is a failure of a compressed stream: corrupt data, or a
// limit reached while decompressing.
type wrapError struct {
	wrapper string
	err     error
}

func (e *wrapError) Error() string { return e.wrapper + ": " + e.err.Error() }
func (e *wrapError) Unwrap() error { return e.err }

// errRatio is the read error of a compressed stream that expands more
// than MaxWrapRatio to 1.
var errRatio = errors.New("compression ratio limit reached")

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inflated is the output of a decompressor: it counts against the scan's
// MaxZipDecompressed and its own MaxWrapRatio, and wraps its errors.
type inflated struct {
	name string
	r    io.Reader
	in   *countReader
	out  int64
	s    *scanner
}

func (f *inflated) Read(p []byte) (int, error) {
	if f.s.unzipped >= maxZipDecompressed {
		return 0, &wrapError{f.name, errBudget}
	}
	if left := maxZipDecompressed - f.s.unzipped; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := f.r.Read(p)
	f.out += int64(n)
	f.s.unzipped += int64(n)
	if f.out > MaxWrapRatioAfter && f.out/max(f.in.n, 1) > MaxWrapRatio {
		return n, &wrapError{f.name, errRatio}
	}
	if err != nil && err != io.EOF {
		err = &wrapError{f.name, err}
	}
	return n, err
}

// decompressor opens the compressed stream of kind k read from r.
func decompressor(k magic, r io.Reader) (io.ReadCloser, error) {
	switch k {
	case mGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr, nil
	case mJoblibZF:
		if _, err := io.ReadFull(r, make([]byte, joblibZFLen)); err != nil {
			return nil, err
		}
		return zlib.NewReader(r)
	case mZlib:
		return zlib.NewReader(r)
	case mBzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case mXz:
		// The xz reader allocates the larger of DictCap and the dictionary
		// each block's header asks for: DictCap is the least it takes, and
		// the first block's header is checked against MaxDictionary by the
		// caller (xzDictionary).
		zr, err := xz.ReaderConfig{DictCap: lzma.MinDictCap}.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(zr), nil
	case mLzma:
		zr, err := lzma.ReaderConfig{DictCap: MaxDictionary}.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(zr), nil
	case mZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxDictionary), zstd.WithDecoderMaxMemory(uint64(maxZipDecompressed)))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("not a compressed stream")
}

// xzDictionary returns the dictionary size the first block of an xz
// stream asks for (its LZMA2 filter), or 0 when head does not say.
func xzDictionary(head []byte) uint64 {
	// Stream header (12 bytes), then the block header: its size byte,
	// flags, optional sizes (varints), then the filter flags.
	if len(head) < 14 {
		return 0
	}
	b := head[12:]
	// The header is (size byte + 1) * 4 bytes long: computed in int, as a
	// byte of 255 would wrap to 0.
	hlen := (int(b[0]) + 1) * 4
	if b[0] == 0 || len(b) < hlen {
		return 0
	}
	flags := b[1]
	b = b[2:hlen]
	skipVarint := func() bool {
		for i := 0; i < len(b) && i < 9; i++ {
			if b[i]&0x80 == 0 {
				b = b[i+1:]
				return true
			}
		}
		return false
	}
	if flags&0x40 != 0 && !skipVarint() {
		return 0
	}
	if flags&0x80 != 0 && !skipVarint() {
		return 0
	}
	for range int(flags&3) + 1 {
		if len(b) < 3 {
			return 0
		}
		id, n := b[0], int(b[1])
		if id == 0x21 && n == 1 { // LZMA2: one byte of dictionary size
			d := b[2]
			if d > 40 {
				return math.MaxUint64
			}
			if d == 40 {
				return 1<<32 - 1
			}
			return uint64(2|d&1) << (d/2 + 11)
		}
		if len(b) < 2+n {
			return 0
		}
		b = b[2+n:]
	}
	return 0
}

// bufSizeWrapped is the read buffer of streamed content.
const bufSizeWrapped = 64 << 10

// streamHead is how much of streamed content is looked at to tell its
// kind: a tar header.
const streamHead = 512

// unwrap scans the content of the compressed stream of kind k read from
// r, depth levels down.
func (s *scanner) unwrap(k magic, r io.Reader, name, entry string, depth int) content {
	w := wrapperName[k]
	if depth >= MaxNesting {
		s.add(Unsafe, "archive.nesting", entry, -1, "%s stream nested more than %d deep (MaxNesting): not scanned", w, MaxNesting)
		return content{format: FormatUnknown}.in(w)
	}
	in := &countReader{r: r}
	zr, err := decompressor(k, in)
	if err != nil {
		s.add(Unsafe, "wrap.corrupt", entry, -1, "%s stream: %v", w, err)
		return content{format: FormatUnknown}.in(w)
	}
	defer zr.Close()
	out := &inflated{name: w, r: zr, in: in, s: s}
	br := bufio.NewReaderSize(out, bufSizeWrapped)
	c := s.stream(br, -1, innerName(name, k), entry, depth+1)
	if k == mJoblibZF && (c.format == FormatPickle || c.format == FormatJoblib) {
		c.format = FormatJoblib // only joblib writes this header
	}
	// Read the stream to its end: its checksum, and whatever follows the
	// content a loader would read, must be sound too.
	if s.src.err == nil && !s.has(Unsafe) {
		_, err := io.Copy(io.Discard, br)
		s.contentErr(err, entry)
	}
	return c.in(w)
}

// innerName is the name hint of the content of a compressed file: the
// name without its compression suffix (model.pkl.gz holds model.pkl).
func innerName(name string, k magic) string {
	for _, ext := range []string{".gz", ".gzip", ".z", ".zz", ".bz2", ".xz", ".lzma", ".zst", ".zstd"} {
		if n := len(name) - len(ext); n > 0 && equalFold(name[n:], ext) {
			return name[:n]
		}
	}
	return name
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// has reports whether a finding of severity sev was recorded.
func (s *scanner) has(sev Severity) bool {
	if s.dropped > 0 && s.droppedSev == sev {
		return true
	}
	for _, f := range s.rep.Findings {
		if f.Severity == sev {
			return true
		}
	}
	return false
}

// stream scans content read from br, which is size bytes long (-1 when
// not known), depth levels down: compressed streams and tars, pickles
// and legacy torch.save files as they are read; anything else read into
// memory, up to MaxWrappedInMemory, and scanned as a file is.
func (s *scanner) stream(br *bufio.Reader, size int64, name, entry string, depth int) content {
	return s.streamOf(br, size, name, entry, depth, true)
}

// streamOf is stream; polyglot says whether to check the first bytes of a
// compressed stream or tar as a pickle (the caller may have checked the
// whole content already).
func (s *scanner) streamOf(br *bufio.Reader, size int64, name, entry string, depth int, polyglot bool) content {
	head, err := br.Peek(streamHead)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		s.contentErr(err, entry)
		return content{format: FormatUnknown}
	}
	if len(head) == 0 {
		return content{format: FormatText, variant: "empty"}
	}
	if k := sniffWrapper(head); k != mNone {
		if polyglot {
			s.polyglot(bytes.NewReader(head), entry)
		}
		if k == mTar {
			return s.tar(br, entry, depth)
		}
		if k == mXz && xzDictionary(head) > MaxDictionary {
			s.add(Unsafe, "wrap.limit", entry, -1, "xz stream asks for a dictionary of more than %d bytes (MaxDictionary)", MaxDictionary)
			return content{format: FormatUnknown}.in("xz")
		}
		return s.unwrap(k, br, name, entry, depth)
	}
	streamSize := size
	if streamSize < 0 {
		streamSize = math.MaxInt64
	}
	switch k := sniff(head, streamSize); k {
	case m7z, mHDF5:
		f, v := s.headOnly(k, entry)
		return content{format: f, variant: v}
	case mPickle:
		res, err := s.pickle(br, entry, pickleOpts{})
		s.contentErr(err, entry)
		return content{format: res.format()}
	case mLegacyTorch:
		_, err := s.pickle(br, entry, pickleOpts{torch: true, streams: 5})
		s.contentErr(err, entry)
		return content{format: FormatPyTorch, variant: "legacy"}
	case mNpy:
		if size >= 0 {
			s.contentErr(s.npy(br, size, entry), entry)
			return content{format: FormatNumPy, variant: "npy"}
		}
	}
	var b bytes.Buffer
	_, err = io.Copy(&b, io.LimitReader(br, MaxWrappedInMemory+1))
	if err != nil {
		s.contentErr(err, entry)
		return content{format: FormatUnknown}
	}
	if b.Len() <= MaxWrappedInMemory {
		return s.at(bytes.NewReader(b.Bytes()), int64(b.Len()), name, entry, depth)
	}
	// Too large to hold. A protocol 0 or 1 pickle can still be read as a
	// stream.
	if isOpcode(b.Bytes()[0]) {
		res, err := s.runPickle(io.MultiReader(&b, br), entry, pickleOpts{})
		if pickleName(name) || res.clean || res.called {
			s.adopt(res.found)
			s.contentErr(err, entry)
			return content{format: res.format()}
		}
		if err != nil {
			s.contentErr(err, entry)
		}
	}
	s.add(NotScanned, "wrap.limit", entry, -1, "content of more than %d bytes inside a compressed stream or a tar that is not a pickle: it needs random access, and is not read into memory past MaxWrappedInMemory", MaxWrappedInMemory)
	return content{format: FormatUnknown}
}

// polyglot checks the first bytes of a compressed stream or tar as a
// pickle: pickle.load reads a file whatever it is, and a tar's first
// header can be a pickle that calls a global before it fails. Findings
// count only when the bytes parse as a pickle up to such a call or to
// its STOP.
func (s *scanner) polyglot(r io.Reader, entry string) {
	var b [1]byte
	if n, _ := r.Read(b[:]); n == 0 || !isOpcode(b[0]) {
		return
	}
	res, _ := s.runPickle(io.MultiReader(bytes.NewReader(b[:]), r), entry, pickleOpts{})
	if res.clean || res.called {
		for i := range res.found {
			res.found[i].Message = "the file read as a pickle: " + res.found[i].Message
		}
		s.adopt(res.found)
	}
}
