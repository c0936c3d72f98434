package cas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/internal/directio"
	"cairn.dev/cairn/registry/storage"

	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 with go-digest
)

// copyBufferSize is the buffer used to move blob bytes: large enough that a
// multi-gigabyte push is a few thousand writes, small enough to keep many
// concurrent uploads within a modest memory budget.
const copyBufferSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := directio.Buffer(copyBufferSize); return &b }}

// Store is a storage.BlobStore on the local filesystem.
type Store struct {
	root string
	// NoSync skips fsync; only for tests and benchmarks that accept losing
	// data on a crash.
	NoSync bool
}

var _ storage.BlobStore = (*Store)(nil)

// Open opens (creating if needed) a store rooted at dir.
func Open(dir string) (*Store, error) {
	for _, d := range []string{"blobs/sha256", "blobs/sha512", "ingest"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("cas: create %s: %w", d, err)
		}
	}
	return &Store{root: dir}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// checkDigest rejects anything but a well-formed sha256 or sha512 digest.
func checkDigest(dgst digest.Digest) error {
	// Validate first: Algorithm panics on a digest without a colon.
	if err := dgst.Validate(); err != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnsupportedDigest, err)
	}
	switch dgst.Algorithm() {
	case digest.SHA256, digest.SHA512:
	default:
		return fmt.Errorf("%q: %w", dgst.Algorithm(), storage.ErrUnsupportedDigest)
	}
	return nil
}

// BlobPath returns the path of a blob's file; the digest is validated first.
func (s *Store) BlobPath(dgst digest.Digest) (string, error) {
	if err := checkDigest(dgst); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", dgst.Algorithm().String(), dgst.Encoded()), nil
}

// Stat implements storage.BlobStore.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (int64, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return 0, fmt.Errorf("cas: stat %s: %w", dgst, err)
	}
	return fi.Size(), nil
}

// Open implements storage.BlobStore. The returned value is an *os.File, so
// that net/http can send it with sendfile.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error) {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("cas: open %s: %w", dgst, err)
	}
	return f, nil
}

// Put implements storage.BlobStore.
func (s *Store) Put(ctx context.Context, dgst digest.Digest, size int64, r io.Reader) error {
	if err := checkDigest(dgst); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "ingest"), "put-*")
	if err != nil {
		return fmt.Errorf("cas: create ingest file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	h := dgst.Algorithm().Hash()
	n, err := copyHashing(f, h, r)
	if err != nil {
		f.Close()
		return fmt.Errorf("cas: write %s: %w", dgst, err)
	}
	if size >= 0 && n != size {
		f.Close()
		return fmt.Errorf("%s: got %d bytes, want %d: %w", dgst, n, size, storage.ErrSizeMismatch)
	}
	if got := digest.NewDigest(dgst.Algorithm(), h); got != dgst {
		f.Close()
		return fmt.Errorf("got %s, want %s: %w", got, dgst, storage.ErrDigestMismatch)
	}
	return s.commitFile(f, dgst)
}

// commitFile fsyncs f, closes it and renames it to the blob's path. If the
// blob exists already, f is dropped and the existing file's time refreshed,
// which tells the garbage collector it was just written.
func (s *Store) commitFile(f *os.File, dgst digest.Digest) error {
	dst, err := s.BlobPath(dgst)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		f.Close()
		now := time.Now()
		_ = os.Chtimes(dst, now, now)
		return nil
	}
	if !s.NoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("cas: sync %s: %w", dgst, err)
		}
	}
	if err := f.Chmod(0o444); err != nil {
		f.Close()
		return fmt.Errorf("cas: chmod %s: %w", dgst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cas: close %s: %w", dgst, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("cas: commit %s: %w", dgst, err)
	}
	if s.NoSync {
		return nil
	}
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cas: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cas: sync dir %s: %w", dir, err)
	}
	return nil
}

// Delete implements storage.BlobStore.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.BlobPath(dgst)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return fmt.Errorf("cas: delete %s: %w", dgst, err)
	}
	return nil
}

// Walk implements storage.BlobStore. Files whose names are not valid digests
// are skipped.
func (s *Store) Walk(ctx context.Context, fn func(storage.BlobInfo) error) error {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		dir := filepath.Join(s.root, "blobs", alg.String())
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("cas: list %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			dgst := digest.NewDigestFromEncoded(alg, e.Name())
			if dgst.Validate() != nil || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(storage.BlobInfo{Digest: dgst, Size: fi.Size(), Modified: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteUpload implements storage.BlobStore.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	p, err := s.ingestPath(id)
	if err != nil {
		return err
	}
	err1 := os.Remove(p)
	err2 := os.Remove(p + ".state")
	if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
	}
	return nil
}

// WalkUploads implements storage.BlobStore.
func (s *Store) WalkUploads(ctx context.Context, fn func(id string, modified time.Time) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return fmt.Errorf("cas: list ingest: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if filepath.Ext(name) == ".state" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := fn(name, fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
