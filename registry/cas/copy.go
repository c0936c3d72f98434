package cas

import (
	"hash"
	"io"
	"os"

	"cairn.dev/cairn/registry/internal/directio"
)

// copyHashing copies r to f at its current offset, hashing what passes. The
// network read and the hash run in this goroutine while others write the
// file (directly, bypassing the page cache, where the filesystem allows),
// so a large push costs about the hash rather than hash plus write. It
// returns the number of bytes read from r and leaves the file position at
// the end of what was written. On an error the file is left to the caller to
// discard or truncate.
func copyHashing(f *os.File, h hash.Hash, r io.Reader) (int64, error) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n, err := directio.Copy(f, off, h, r, directio.Options{})
	if _, serr := f.Seek(off+n, io.SeekStart); err == nil {
		err = serr
	}
	return n, err
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
