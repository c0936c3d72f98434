package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
)

// ErrStorageFull is returned, wrapped, when a write failed because the
// storage is full (ENOSPC). The registry answers it with 507 and a message
// saying so; test for it with IsFull, which also recognises the system's
// error.
var ErrStorageFull = errors.New("storage is full")

// IsFull reports whether err says the storage is full: ErrStorageFull, or
// ENOSPC from the system (bbolt reports it without wrapping, so its text
// is checked too).
func IsFull(err error) bool {
	return err != nil && (errors.Is(err, ErrStorageFull) || errors.Is(err, syscall.ENOSPC) ||
		strings.Contains(err.Error(), "no space left on device"))
}

// DefaultReserveSize is the size of the reserve file cairn serve keeps in
// its data directory: room for the metadata writes of deletes, garbage
// collection and the access log's notes once the disk is full.
const DefaultReserveSize = 16 << 20

// Reserve is a file of zeros kept on the data directory's filesystem so
// that, once the disk is full, releasing it gives the writes that free
// space (a DELETE, garbage collection) and the access log's note of what
// it dropped room to happen. A nil *Reserve releases nothing.
type Reserve struct {
	path string
	size int64

	mu   sync.Mutex
	held bool
}

// OpenReserve makes (or keeps) the reserve file at path, size bytes of
// zeros written and synced, so the blocks are really taken. When the disk
// has no room for it, the reserve is returned not held: Restore makes it
// later, once space is freed.
func OpenReserve(path string, size int64) (*Reserve, error) {
	r := &Reserve{path: path, size: size}
	if err := r.Restore(); err != nil && !IsFull(err) {
		return nil, err
	}
	return r, nil
}

// Restore makes the reserve file again after Release, if it is missing or
// short. It fails with a full disk (and leaves no partial file).
func (r *Reserve) Restore() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fi, err := os.Stat(r.path); err == nil && fi.Size() == r.size {
		r.held = true
		return nil
	}
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("reserve %s: %w", r.path, err)
	}
	_, err = io.Copy(f, io.LimitReader(zeros{}, r.size))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(r.path)
		return fmt.Errorf("reserve %s: %w", r.path, err)
	}
	r.held = true
	return nil
}

// Release removes the reserve file, giving its space back, and reports
// whether it did (false when it was already released or never made).
func (r *Reserve) Release() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held {
		return false
	}
	r.held = false
	return os.Remove(r.path) == nil
}

// Held reports whether the reserve file is in place.
func (r *Reserve) Held() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// RetryFull runs fn, and when it fails because the storage is full,
// releases the reserve and runs it once more: for the writes that free
// space or must not be lost.
func (r *Reserve) RetryFull(fn func() error) error {
	err := fn()
	if IsFull(err) && r.Release() {
		err = fn()
	}
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
