package verify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
)

// DefaultHashBufferSize is the read size of each HashFiles worker when
// HashOptions.BufferSize is zero. A 1 MiB read costs a few microseconds
// against the half millisecond SHA-256 spends on it, so system calls are
// lost in the noise, and the buffer still fits in a core's L2 cache: on
// page-cached files 4 MiB was no faster, and sometimes slower (see
// BenchmarkHashFiles).
const DefaultHashBufferSize = 1 << 20

// MinHashBufferSize is the smallest read size HashFiles uses; smaller
// HashOptions.BufferSize values are raised to it.
const MinHashBufferSize = 64 << 10

// HashOptions tunes HashFiles and HashRanges. The zero value hashes with
// GOMAXPROCS workers and DefaultHashBufferSize buffers.
type HashOptions struct {
	// Workers is how many files (or ranges) are hashed at once; zero or
	// less means runtime.GOMAXPROCS(0). Each worker hashes one file at a
	// time on one core, so more workers than cores gains nothing on cached
	// files, but can help on storage with high latency.
	Workers int
	// BufferSize is each worker's read size in bytes; zero means
	// DefaultHashBufferSize.
	BufferSize int
}

func (o HashOptions) workers(jobs int) int {
	n := o.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return max(1, min(n, jobs))
}

func (o HashOptions) bufferSize() int {
	if o.BufferSize == 0 {
		return DefaultHashBufferSize
	}
	return max(o.BufferSize, MinHashBufferSize)
}

// Range is Length bytes of the file at Path (slash-separated, relative to
// the root HashRanges is given) from Offset.
type Range struct {
	Path   string
	Offset int64
	Length int64
}

// errNotRegular is the cause, in a *fs.PathError, of a path that names
// something other than a regular file.
var errNotRegular = errors.New("not a regular file")

// errShort is the cause of a range that runs past the end of its file.
var errShort = errors.New("file is shorter than the range to hash")

// HashFiles returns the SHA-256 digests of the regular files at paths,
// which are slash-separated and relative to root (fs.ValidPath), in the
// order given. Files are hashed in parallel, largest first, by
// opts.Workers workers reading opts.BufferSize bytes at a time. Every file
// is opened through an os.Root on root, so a path with "..", or a symlink
// leading outside root, is an error rather than a read of another file.
//
// Every path is checked to be a regular file before any is read. The
// first error (a path that is invalid, missing, not a regular file or
// unreadable) stops the other workers and is returned as an *fs.PathError
// naming the path. Canceling ctx stops hashing within one buffer.
func HashFiles(ctx context.Context, root string, paths []string, opts HashOptions) ([]digest.Digest, error) {
	r, err := openRoot(root, paths)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Largest first, so that a big file met last does not leave the other
	// workers idle while one finishes it.
	sizes, err := statRegular(r, paths)
	if err != nil {
		return nil, err
	}
	order := make([]int, len(paths))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	return hashJobs(ctx, opts, len(paths), func(job int, buf []byte) (digest.Digest, error) {
		i := order[job]
		return hashRange(ctx, r, paths[i], 0, -1, buf)
	}, order)
}

// HashRanges returns the SHA-256 digests of ranges of files under root, in
// the order given, hashing them in parallel as HashFiles does whole files.
// This is how a large file is hashed faster than one core allows: as
// shards, each on its own worker. A range that runs past the end of its
// file is an error.
func HashRanges(ctx context.Context, root string, ranges []Range, opts HashOptions) ([]digest.Digest, error) {
	paths := make([]string, len(ranges))
	for i, rg := range ranges {
		if rg.Offset < 0 || rg.Length < 0 {
			return nil, &fs.PathError{Op: "hash", Path: rg.Path, Err: fmt.Errorf("invalid range %d+%d", rg.Offset, rg.Length)}
		}
		paths[i] = rg.Path
	}
	r, err := openRoot(root, paths)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if _, err := statRegular(r, paths); err != nil {
		return nil, err
	}
	order := make([]int, len(ranges))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ranges[b].Length, ranges[a].Length) })
	return hashJobs(ctx, opts, len(ranges), func(job int, buf []byte) (digest.Digest, error) {
		rg := ranges[order[job]]
		return hashRange(ctx, r, rg.Path, rg.Offset, rg.Length, buf)
	}, order)
}

func openRoot(root string, paths []string) (*os.Root, error) {
	for _, p := range paths {
		if !fs.ValidPath(p) {
			return nil, &fs.PathError{Op: "hash", Path: p, Err: fs.ErrInvalid}
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("hash files: %w", err)
	}
	return r, nil
}

// statRegular returns the sizes of the files at paths, or an error for
// the first that is missing or not a regular file. Checking before any
// open keeps a FIFO from blocking a worker (hashRange checks again on the
// open file).
func statRegular(r *os.Root, paths []string) ([]int64, error) {
	sizes := make([]int64, len(paths))
	for i, p := range paths {
		fi, err := r.Stat(filepath.FromSlash(p))
		if err != nil {
			return nil, &fs.PathError{Op: "hash", Path: p, Err: unwrapPathError(err)}
		}
		if !fi.Mode().IsRegular() {
			return nil, &fs.PathError{Op: "hash", Path: p, Err: fmt.Errorf("%w (%s)", errNotRegular, fi.Mode().Type())}
		}
		sizes[i] = fi.Size()
	}
	return sizes, nil
}

// hashJobs runs n jobs on opts' workers; job j's result goes to
// out[order[j]].
func hashJobs(ctx context.Context, opts HashOptions, n int, job func(j int, buf []byte) (digest.Digest, error), order []int) ([]digest.Digest, error) {
	out := make([]digest.Digest, n)
	if n == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	size := opts.bufferSize()
	for range opts.workers(n) {
		wg.Go(func() {
			buf := make([]byte, size)
			for {
				j := int(next.Add(1) - 1)
				if j >= n || ctx.Err() != nil {
					return
				}
				d, err := job(j, buf)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				out[order[j]] = d
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// hashRange hashes length bytes of name from off; length -1 means to the
// end of the file.
func hashRange(ctx context.Context, r *os.Root, name string, off, length int64, buf []byte) (digest.Digest, error) {
	f, err := r.Open(filepath.FromSlash(name))
	if err != nil {
		return "", &fs.PathError{Op: "hash", Path: name, Err: unwrapPathError(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", &fs.PathError{Op: "hash", Path: name, Err: unwrapPathError(err)}
	}
	if !fi.Mode().IsRegular() {
		return "", &fs.PathError{Op: "hash", Path: name, Err: fmt.Errorf("%w (%s)", errNotRegular, fi.Mode().Type())}
	}
	var src io.Reader = f
	if off != 0 || length >= 0 {
		if length < 0 {
			length = max(0, fi.Size()-off)
		}
		src = io.NewSectionReader(f, off, length)
	}
	h := sha256.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		m, err := src.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", &fs.PathError{Op: "hash", Path: name, Err: unwrapPathError(err)}
		}
	}
	if length >= 0 && n != length {
		return "", &fs.PathError{Op: "hash", Path: name, Err: fmt.Errorf("%w: %d bytes from offset %d, want %d", errShort, n, off, length)}
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), nil
}

// unwrapPathError drops an *fs.PathError's own path (the OS-joined one),
// so that errors name the slash path the caller gave.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
