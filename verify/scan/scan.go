package scan

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// File scans the regular file at path. The base name of path is a hint
// for content without magic bytes. Errors are for I/O only (and ctx
// ending); what the file holds is in the Report.
func File(ctx context.Context, path string) (Report, error) {
	if fi, err := os.Stat(path); err != nil {
		return Report{}, err
	} else if !fi.Mode().IsRegular() {
		return Report{}, &fs.PathError{Op: "scan", Path: path, Err: ErrNotRegular}
	}
	f, err := os.Open(path)
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Report{}, err
	}
	if !fi.Mode().IsRegular() {
		return Report{}, &fs.PathError{Op: "scan", Path: path, Err: ErrNotRegular}
	}
	rep, err := Reader(ctxReaderAt{ctx, f}, fi.Size(), filepath.Base(path))
	if err != nil {
		return Report{}, &fs.PathError{Op: "scan", Path: path, Err: err}
	}
	return rep, nil
}

// Reader scans size bytes of r, detecting the format from the content.
// name (a file name, or "") is a hint for content that has no magic bytes:
// a protocol 0 or 1 pickle, or a file whose name promises a format its
// content does not have.
func Reader(r io.ReaderAt, size int64, name string) (Report, error) {
	return runContent(r, size, func(s *scanner, r io.ReaderAt) content {
		return s.at(r, size, name, "", 0)
	})
}

// Pickle scans size bytes of r as pickle data: every stacked stream, up
// to the end.
func Pickle(r io.ReaderAt, size int64) (Report, error) {
	return run(r, size, func(s *scanner, r io.ReaderAt) (string, string) {
		s.pickleAt(r, size, "", pickleOpts{})
		return FormatPickle, ""
	})
}

// PyTorch scans what torch.load reads: a zip archive (TorchScript
// included), or pickles (the legacy format, or any pickle, whose first
// stream torch.load unpickles before it checks the magic number). Other
// content is Unsafe (rule torch.format).
func PyTorch(r io.ReaderAt, size int64) (Report, error) {
	return expect(r, size, "torch.format", "a PyTorch file", FormatPyTorch, FormatPickle)
}

// NumPy scans a .npy file or a .npz archive; other content is Unsafe
// (rule npy.format).
func NumPy(r io.ReaderAt, size int64) (Report, error) {
	return expect(r, size, "npy.format", "a .npy or .npz file", FormatNumPy)
}

// Keras scans a .keras archive (a zip with config.json); other content is
// Unsafe (rule keras.format).
func Keras(r io.ReaderAt, size int64) (Report, error) {
	return expect(r, size, "keras.format", "a .keras archive", FormatKeras)
}

// Safetensors checks a safetensors file: its header and how the tensors
// cover the data (see the package documentation).
func Safetensors(r io.ReaderAt, size int64) (Report, error) {
	return run(r, size, func(s *scanner, r io.ReaderAt) (string, string) {
		s.safetensors(r, size, "")
		return FormatSafetensors, ""
	})
}

// GGUF checks the header of a GGUF file (see the package documentation).
func GGUF(r io.ReaderAt, size int64) (Report, error) {
	return run(r, size, func(s *scanner, r io.ReaderAt) (string, string) {
		s.gguf(r, size, "")
		return FormatGGUF, ""
	})
}

// expect scans by content and adds an Unsafe finding when the format is
// none of formats.
func expect(r io.ReaderAt, size int64, rule, what string, formats ...string) (Report, error) {
	return runContent(r, size, func(s *scanner, r io.ReaderAt) content {
		c := s.at(r, size, "", "", 0)
		if len(c.wrappers) == 0 {
			for _, want := range formats {
				if c.format == want {
					return c
				}
			}
		}
		s.add(Unsafe, rule, "", -1, "not %s: the content is %s", what, describeContent(c))
		return c
	})
}

func describeFormat(f, v string) string {
	if v != "" {
		return f + " (" + v + ")"
	}
	return f
}

func describeContent(c content) string {
	d := describeFormat(c.format, c.variant)
	if len(c.wrappers) > 0 {
		d += " inside " + strings.Join(c.wrappers, ", ")
	}
	return d
}

func run(r io.ReaderAt, size int64, fn func(*scanner, io.ReaderAt) (string, string)) (Report, error) {
	return runContent(r, size, func(s *scanner, r io.ReaderAt) content {
		f, v := fn(s, r)
		return content{format: f, variant: v}
	})
}

func runContent(r io.ReaderAt, size int64, fn func(*scanner, io.ReaderAt) content) (Report, error) {
	if size < 0 {
		return Report{}, fmt.Errorf("scan: negative size %d", size)
	}
	s := &scanner{src: &source{r: r}}
	c := fn(s, s.src)
	s.rep.Format, s.rep.Variant, s.rep.Wrappers = c.format, c.variant, c.wrappers
	return s.report()
}

// source is the file being scanned. It keeps the first read error, so
// that failures of the file are told from failures of its content (a bad
// CRC in an archive member is a finding, not an error).
type source struct {
	r   io.ReaderAt
	err error
}

func (s *source) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// ctxReaderAt fails reads once ctx is done.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

// scanner holds the state of one scan.
type scanner struct {
	src        *source
	rep        Report
	dropped    int
	droppedSev Severity
	ops        int64 // pickle opcodes read
	unzipped   int64 // bytes read from archive members
}

var severityRank = map[Severity]int{Info: 1, Warning: 2, NotScanned: 3, Unsafe: 4}

func (s *scanner) add(sev Severity, rule, entry string, off int64, format string, args ...any) {
	s.adopt([]Finding{{Severity: sev, Rule: rule, Message: fmt.Sprintf(format, args...), Entry: entry, Offset: off}})
}

func (s *scanner) adopt(found []Finding) {
	for _, f := range found {
		if len(s.rep.Findings) >= MaxFindings {
			s.dropped++
			if severityRank[f.Severity] > severityRank[s.droppedSev] {
				s.droppedSev = f.Severity
			}
			continue
		}
		s.rep.Findings = append(s.rep.Findings, f)
	}
}

func (s *scanner) report() (Report, error) {
	if s.src.err != nil {
		return Report{}, s.src.err
	}
	if s.dropped > 0 {
		s.rep.Findings = append(s.rep.Findings, Finding{Severity: s.droppedSev, Rule: "scan.findings",
			Message: fmt.Sprintf("%d more findings not listed (MaxFindings)", s.dropped), Offset: -1})
	}
	s.rep.Verdict = judge(s.rep.Format, s.rep.Findings)
	return s.rep, nil
}

// contentErr records an error met while reading an archive member, unless
// the file itself failed (then report returns that error).
func (s *scanner) contentErr(err error, entry string) {
	if err == nil || s.src.err != nil {
		return
	}
	var we *wrapError
	switch {
	case errors.As(err, &we) && (errors.Is(err, errBudget) || errors.Is(err, errRatio)):
		what := fmt.Sprintf("more than %d bytes decompressed in this scan (MaxZipDecompressed)", maxZipDecompressed)
		if errors.Is(err, errRatio) {
			what = fmt.Sprintf("expands more than %d:1 (MaxWrapRatio)", MaxWrapRatio)
		}
		s.add(Unsafe, "wrap.limit", entry, -1, "%s stream: %s: a decompression bomb, or content too large to scan", we.wrapper, what)
	case errors.As(err, &we):
		s.add(Unsafe, "wrap.corrupt", entry, -1, "%s stream: %v", we.wrapper, we.err)
	case errors.Is(err, tarErr):
		s.add(Unsafe, "tar.corrupt", entry, -1, "cannot read the tar archive: %v", err)
	case errors.Is(err, zip.ErrChecksum):
		s.add(Unsafe, "zip.crc", entry, -1, "the data does not match its CRC-32")
	case errors.Is(err, errBudget):
		s.add(Unsafe, "zip.limit", entry, -1, "more than %d bytes decompressed in this scan (MaxZipDecompressed)", maxZipDecompressed)
	default:
		s.add(Unsafe, "zip.corrupt", entry, -1, "cannot read the member: %v", err)
	}
}

// join names a member of the archive entry.
func join(entry, name string) string {
	if entry == "" {
		return name
	}
	return entry + "!/" + name
}

// magic is what the first bytes of some content say it is.
type magic int

const (
	mNone magic = iota
	mNpy
	mZip
	m7z
	mGGUF
	mHDF5
	mSafetensors
	mLegacyTorch
	mPickle
	// Compressed streams and tar (wrap.go).
	mGzip
	mZlib
	mJoblibZF
	mBzip2
	mXz
	mLzma
	mZstd
	mTar
)

// headLen is how much of the content sniff and sniffWrapper look at: a
// tar header.
const headLen = 512

var (
	npyMagic  = []byte("\x93NUMPY")
	zipMagic  = []byte("PK\x03\x04")
	zipEmpty  = []byte("PK\x05\x06")
	sevenZip  = []byte("7z\xbc\xaf\x27\x1c")
	ggufMagic = []byte("GGUF")
	hdf5Magic = []byte("\x89HDF\r\n\x1a\n")
	// torchMagic is the first pickle of a legacy torch.save file after its
	// PROTO (and FRAME): LONG1 of the magic number 0x1950a86a20f9469cfc6c,
	// then STOP.
	torchMagic = []byte{opLong1, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, opStop}
)

// sniff identifies content by its first bytes.
func sniff(head []byte, size int64) magic {
	switch {
	case bytes.HasPrefix(head, npyMagic):
		return mNpy
	case bytes.HasPrefix(head, zipMagic), bytes.HasPrefix(head, zipEmpty):
		return mZip
	case bytes.HasPrefix(head, sevenZip):
		return m7z
	case bytes.HasPrefix(head, ggufMagic):
		return mGGUF
	case bytes.HasPrefix(head, hdf5Magic):
		return mHDF5
	case safetensorsHead(head, size):
		return mSafetensors
	case len(head) >= 2 && head[0] == opProto && head[1] <= highestProtocol:
		if legacyTorch(head) {
			return mLegacyTorch
		}
		return mPickle
	}
	return mNone
}

// safetensorsHead reports whether head starts like a safetensors file: a
// little-endian header length that fits the file, then '{'.
func safetensorsHead(head []byte, size int64) bool {
	if len(head) < 9 || head[8] != '{' {
		return false
	}
	n := leUint(head[:8])
	return n >= 2 && n <= uint64(size-8)
}

func legacyTorch(head []byte) bool {
	b := head[2:]
	if len(b) >= 9 && b[0] == opFrame {
		b = b[9:]
	}
	return bytes.HasPrefix(b, torchMagic)
}

// hint is the format a file name promises, for the names that promise
// one.
func hint(name string) string {
	return map[string]string{".safetensors": FormatSafetensors, ".gguf": FormatGGUF,
		".npy": FormatNumPy, ".npz": FormatNumPy, ".keras": FormatKeras}[strings.ToLower(path.Ext(name))]
}

func pickleName(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	for _, e := range pickleExts {
		if ext == e {
			return true
		}
	}
	return false
}

// at scans content with random access, depth archive levels down, and
// returns what it is.
func (s *scanner) at(r io.ReaderAt, size int64, name, entry string, depth int) content {
	if size == 0 {
		return content{format: FormatText, variant: "empty"}
	}
	head := make([]byte, min(size, headLen))
	n, err := r.ReadAt(head, 0)
	if n < len(head) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.contentErr(err, entry)
		return content{format: FormatUnknown}
	}
	c := s.dispatch(r, size, head, name, entry, depth)
	if h := hint(name); h != "" && h != c.format && c.format != FormatUnknown {
		s.add(Warning, "format.mismatch", entry, -1, "named like %s, but the content is %s", h, describeContent(c))
	}
	return c
}

func (s *scanner) dispatch(r io.ReaderAt, size int64, head []byte, name, entry string, depth int) content {
	if k := sniff(head, size); k == mZip {
		return s.zipAt(r, size, entry, depth)
	} else if k != mNone {
		f, v := s.as(k, r, size, entry, depth)
		return content{format: f, variant: v}
	}
	if k := sniffWrapper(head); k != mNone && (strongMagic(k) || decodes(k, io.NewSectionReader(r, 0, size))) {
		// A loader that reads the file as a pickle reads these bytes.
		s.polyglot(io.NewSectionReader(r, 0, size), entry)
		return s.streamOf(bufio.NewReaderSize(io.NewSectionReader(r, 0, size), bufSizeWrapped), size, name, entry, depth, false)
	}
	if hdf5UserBlock(r, size) {
		f, v := s.headOnly(mHDF5, entry)
		return content{format: f, variant: v}
	}
	// No magic bytes. A protocol 0 or 1 pickle is taken as one when its
	// name says so, or when the bytes parse as a pickle: to the first STOP,
	// or up to a call of an imported global with a well-formed name (what a
	// loader runs before it fails on the rest).
	if isOpcode(head[0]) {
		res, err := s.runPickle(io.NewSectionReader(r, 0, size), entry, pickleOpts{})
		if pickleName(name) || res.clean || res.called {
			s.adopt(res.found)
			s.contentErr(err, entry)
			return content{format: res.format()}
		}
	}
	if findEnd(r, size) > 0 { // a zip after other bytes: zipfile reads it
		return s.zipAt(r, size, entry, depth)
	}
	// The name promises a format: check the content against it.
	if k, ok := nameMagic[strings.ToLower(path.Ext(name))]; ok {
		if k == mZip {
			return s.zipAt(r, size, entry, depth)
		}
		f, v := s.as(k, r, size, entry, depth)
		return content{format: f, variant: v}
	}
	// Plainly data: JSON or text, after every check above (a protocol 0
	// pickle is ASCII text).
	if f, ok := s.plain(r, size, entry); ok {
		return content{format: f}
	}
	s.add(NotScanned, "format.unknown", entry, -1, "content not recognised, not scanned")
	return content{format: FormatUnknown}
}

// nameMagic is the format a file name promises, scanned as such when the
// content has no magic bytes.
var nameMagic = map[string]magic{".safetensors": mSafetensors, ".gguf": mGGUF, ".npy": mNpy,
	".npz": mZip, ".keras": mZip, ".zip": mZip}

// as scans content as kind k.
func (s *scanner) as(k magic, r io.ReaderAt, size int64, entry string, depth int) (string, string) {
	switch k {
	case mNpy:
		s.contentErr(s.npy(io.NewSectionReader(r, 0, size), size, entry), entry)
		return FormatNumPy, "npy"
	case mZip:
		c := s.zipAt(r, size, entry, depth)
		if len(c.wrappers) > 0 {
			// as reports formats, not wrappers: sniff found a zip, which
			// only zipAt sees through.
			return FormatArchive, "zip"
		}
		return c.format, c.variant
	case mGGUF:
		s.gguf(r, size, entry)
		return FormatGGUF, ""
	case mSafetensors:
		s.safetensors(r, size, entry)
		return FormatSafetensors, ""
	case mLegacyTorch:
		s.pickleAt(r, size, entry, pickleOpts{torch: true, streams: 5})
		return FormatPyTorch, "legacy"
	case mPickle:
		return s.pickleAt(r, size, entry, pickleOpts{}).format(), ""
	}
	return s.headOnly(k, entry)
}

// hdf5UserBlock reports whether an HDF5 superblock follows a user block
// (at 512, 1024, 2048... bytes).
func hdf5UserBlock(r io.ReaderAt, size int64) bool {
	for off := int64(512); off <= 1<<16 && off+8 <= size; off *= 2 {
		if b, err := readAt(r, off, len(hdf5Magic)); err == nil && bytes.Equal(b, hdf5Magic) {
			return true
		}
	}
	return false
}

// headOnly reports the formats the scanner recognises and does not read.
func (s *scanner) headOnly(k magic, entry string) (string, string) {
	if k == m7z {
		s.add(NotScanned, "archive.unsupported", entry, -1, "7z archive: its members cannot be read, so they are not scanned")
		return FormatUnknown, "7z"
	}
	s.add(NotScanned, "format.unscanned", entry, -1, "HDF5 (a legacy Keras .h5?): not parsed, so Lambda layers in it would not be found")
	return FormatUnknown, "hdf5"
}

func (s *scanner) pickleAt(r io.ReaderAt, size int64, entry string, o pickleOpts) pickleResult {
	res, err := s.pickle(io.NewSectionReader(r, 0, size), entry, o)
	s.contentErr(err, entry)
	return res
}

// member scans one archive member by its content.
func (s *scanner) member(a *zipArchive, e *zipEntry, entry string, depth int) content {
	name := path.Base(e.name)
	if e.usize <= MaxZipInMemory {
		b, err := s.readMember(e, MaxZipInMemory)
		s.contentErr(err, entry)
		if err != nil && !errors.Is(err, zip.ErrChecksum) { // a bad CRC still leaves all the bytes
			return content{format: FormatUnknown}
		}
		return s.at(bytes.NewReader(b), int64(len(b)), name, entry, depth+1)
	}
	if e.method == zip.Store {
		return s.at(io.NewSectionReader(a.r, int64(e.data), int64(e.csize)), int64(e.csize), name, entry, depth+1)
	}
	// Large and compressed: read as a stream.
	rc, err := s.openMember(e)
	if err != nil {
		s.contentErr(err, entry)
		return content{format: FormatUnknown}
	}
	defer rc.Close()
	return s.stream(bufio.NewReaderSize(rc, bufSizeWrapped), int64(e.usize), name, entry, depth+1)
}
