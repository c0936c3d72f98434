package directio

import (
	"os"
	"sync/atomic"
	"unsafe"
)

// Align is the alignment O_DIRECT needs for offsets, lengths and buffer
// addresses (the page size covers every common block size).
const Align = 4096

// Writer writes to a file at given offsets, directly when the write allows.
type Writer struct {
	f      *os.File
	direct *os.File
	failed atomic.Bool
}

// Disabled turns direct writes off for the whole process: set from the
// environment variable CAIRN_DIRECT_IO=off, for filesystems where O_DIRECT
// is slow or misbehaves.
var Disabled = os.Getenv("CAIRN_DIRECT_IO") == "off"

// NewWriter returns a Writer for f, whose name is reopened with O_DIRECT.
// When that fails (or Disabled is set) the Writer simply uses f.
func NewWriter(f *os.File) *Writer {
	if Disabled {
		return &Writer{f: f}
	}
	return &Writer{f: f, direct: openDirect(f.Name())}
}

// Aligned reports whether p and off allow a direct write.
func Aligned(p []byte, off int64) bool {
	return len(p) > 0 && len(p)%Align == 0 && off%Align == 0 &&
		uintptr(unsafe.Pointer(&p[0]))%Align == 0
}

// WriteAt writes p at off.
func (w *Writer) WriteAt(p []byte, off int64) (int, error) {
	if w.direct != nil && !w.failed.Load() && Aligned(p, off) {
		n, err := w.direct.WriteAt(p, off)
		if err == nil {
			return n, nil
		}
		// A filesystem that opened with O_DIRECT but refuses the write:
		// stop trying and write the rest through the page cache.
		w.failed.Store(true)
		p, off = p[n:], off+int64(n)
		m, err := w.f.WriteAt(p, off)
		return n + m, err
	}
	return w.f.WriteAt(p, off)
}

// Close closes the direct descriptor (not f).
func (w *Writer) Close() error {
	if w.direct != nil {
		return w.direct.Close()
	}
	return nil
}

// Buffer returns n bytes whose address is aligned for direct writes.
func Buffer(n int) []byte {
	b := make([]byte, n+Align)
	off := int(uintptr(unsafe.Pointer(&b[0])) % Align)
	if off != 0 {
		off = Align - off
	}
	return b[off : off+n : off+n]
}
