package cas

import (
	"errors"
	"hash"
	"io"
	"os"

	"cairn.dev/cairn/registry/internal/directio"
)

// pipelineDepth is how many copy buffers are in flight between the goroutine
// that reads and hashes and the one that writes the file.
const pipelineDepth = 4

// writebackChunk is how much is written before the kernel is asked to start
// writing it to disk, so that the fsync at commit finds little left to do.
const writebackChunk = 16 << 20

// copyHashing copies r to f at its current offset, hashing what passes. The
// network read and the hash run in this goroutine while another writes the
// file, so a large push costs about max(hash, write) instead of their sum.
// It returns the number of bytes read from r; on a write error the file is
// left to the caller to discard.
func copyHashing(f *os.File, h hash.Hash, r io.Reader) (int64, error) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	free := make(chan *[]byte, pipelineDepth)
	full := make(chan []byte, pipelineDepth)
	for range pipelineDepth {
		free <- bufPool.Get().(*[]byte)
	}
	werr := make(chan error, 1)
	dw := directio.NewWriter(f)
	defer dw.Close()
	go func() {
		var err error
		flushed := off
		for b := range full {
			if err == nil {
				var n int
				// Whole aligned megabytes bypass the page cache.
				n, err = dw.WriteAt(b, off)
				off += int64(n)
				if off-flushed >= writebackChunk {
					startWriteback(f, flushed, off-flushed)
					flushed = off
				}
			}
			bp := &b
			*bp = b[:cap(b)]
			free <- bp
		}
		werr <- err
	}()
	var total int64
	var rerr error
	for {
		bp := <-free
		n, err := io.ReadFull(r, *bp)
		if n > 0 {
			h.Write((*bp)[:n])
			total += int64(n)
			full <- (*bp)[:n]
		} else {
			free <- bp
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				rerr = err
			}
			break
		}
	}
	close(full)
	err = <-werr
	for range pipelineDepth {
		bufPool.Put(<-free)
	}
	// WriteAt leaves the file position alone; later Writes append.
	if _, serr := f.Seek(off, io.SeekStart); err == nil {
		err = serr
	}
	if rerr != nil {
		return total, rerr
	}
	return total, err
}

// hashFile hashes the whole of f from the start.
func hashFile(f *os.File, h hash.Hash) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(h, f, *bp)
}
