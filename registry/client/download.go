package client

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/internal/directio"
)

// CheckpointEvery is how often a download records how far it got (bytes on
// disk and the hash state), so that an interrupted download resumes from
// there: a killed pull fetches again at most this much of what it had.
const CheckpointEvery = 16 << 20

// downloadWriters is the writes in flight per download: a pull fetches
// several files at once, so one writer each keeps the device busy enough
// without a pile of buffers.
const downloadWriters = 1

// Fetch makes sure the cache holds desc's blob, downloading it from r if
// needed, and returns its path in the cache and whether it was downloaded.
// The bytes are hashed as they arrive and the blob is committed only when
// the digest and size match; otherwise the partial file is removed and the
// error is a *DigestError naming path. A download left behind by an
// interrupted Fetch is resumed with a range request. progress, if not nil,
// is called with the bytes added.
func (c *Cache) Fetch(ctx context.Context, r *Remote, desc ocispec.Descriptor, path string, progress func(int64)) (string, bool, error) {
	if p, ok, err := c.Lookup(desc.Digest, desc.Size); err != nil || ok {
		if ok && progress != nil {
			progress(desc.Size)
		}
		return p, false, err
	}
	tmp := filepath.Join(c.root, "ingest", desc.Digest.Encoded())
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", false, fmt.Errorf("cache: %w", err)
	}
	defer f.Close()
	h := sha256.New().(stateHash)
	off, err := restoreDownload(f, tmp+".state", h)
	if err != nil {
		return "", false, err
	}
	if off > desc.Size {
		off = 0
		h.Reset()
		f.Truncate(0)
	}
	if progress != nil && off > 0 {
		progress(off)
	}
	if off < desc.Size || desc.Size == 0 {
		if err := r.downloadRetrying(ctx, f, &off, h, desc, tmp+".state", progress); err != nil {
			return "", false, err
		}
	}
	got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	if got != desc.Digest || off != desc.Size {
		f.Close()
		os.Remove(tmp)
		os.Remove(tmp + ".state")
		return "", false, &DigestError{Path: path, Want: desc.Digest, Got: got, Size: off}
	}
	if err := f.Close(); err != nil {
		return "", false, err
	}
	os.Remove(tmp + ".state")
	p, err := c.commit(tmp, desc.Digest)
	return p, true, err
}

// stateHash is a hash whose state can be saved and restored (SHA-256 is).
type stateHash interface {
	hash.Hash
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// restoreDownload continues an earlier attempt from its last checkpoint:
// the file is cut back to the checkpoint (bytes after it may have been
// written out of order) and h takes the saved state. Without a checkpoint
// the download starts over.
func restoreDownload(f *os.File, statePath string, h stateHash) (int64, error) {
	var from int64
	if b, err := os.ReadFile(statePath); err == nil && len(b) > 8 {
		n := int64(beUint64(b[:8]))
		if fi, err := f.Stat(); err == nil && n <= fi.Size() && h.UnmarshalBinary(b[8:]) == nil {
			from = n
		} else {
			h.Reset()
		}
	}
	if err := f.Truncate(from); err != nil {
		return 0, err
	}
	return from, nil
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func putUint64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// downloadRetrying is download, tried again (resuming from where it got)
// when it stalled or the connection broke, up to DownloadAttempts times
// with a backoff: a read of immutable content is always safe to retry.
func (r *Remote) downloadRetrying(ctx context.Context, f *os.File, off *int64, h stateHash, desc ocispec.Descriptor, statePath string, progress func(int64)) error {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := r.download(ctx, f, off, h, desc, statePath, progress)
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
		if attempt == DownloadAttempts {
			var se *StallError
			if errors.As(err, &se) {
				se.Attempts = attempt
			}
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// retryable reports whether a download failed in a way another try may
// not: a stall, a cut connection, a 5xx answer.
func retryable(err error) bool {
	var se *StatusError
	var ne net.Error
	return errors.Is(err, ErrStalled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne) || (errors.As(err, &se) && se.Status >= 500)
}

// stallReader fails reads once the watchdog fired.
type stallReader struct {
	r     io.Reader
	touch func()
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.touch()
	}
	return n, err
}

// download appends the blob's bytes from *off on to f, hashing them. If
// nothing arrives for the stall timeout, the request is cancelled with a
// *StallError.
func (r *Remote) download(ctx context.Context, f *os.File, off *int64, h stateHash, desc ocispec.Descriptor, statePath string, progress func(int64)) (err error) {
	stall := r.stallTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var got atomic.Int64
	got.Store(*off)
	watchdog := time.AfterFunc(stall, func() {
		cancel(&StallError{Digest: desc.Digest, Got: got.Load(), Size: desc.Size, After: stall, Attempts: 1})
	})
	defer watchdog.Stop()
	defer func() {
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrStalled) {
			err = cause
		}
	}()
	userProgress := progress
	progress = func(n int64) {
		got.Add(n)
		if userProgress != nil {
			userProgress(n)
		}
	}
	hdr := http.Header{}
	if *off > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", *off))
	}
	resp, err := r.do(ctx, false, http.MethodGet, r.url("/blobs/"+desc.Digest.String()), nil, 0, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && *off > 0:
	case resp.StatusCode == http.StatusOK:
		if *off > 0 { // the registry ignored the range: start over
			*off = 0
			h.Reset()
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
	default:
		return statusError(resp)
	}
	// Read at most one byte more than the descriptor allows: a registry
	// that sends more is caught by the size check, not allowed to fill the
	// disk.
	body := io.LimitReader(&stallReader{r: resp.Body, touch: func() { watchdog.Reset(stall) }}, desc.Size-*off+1)
	start := *off
	checkpoint := func(n int64) {
		if st, err := h.MarshalBinary(); err == nil {
			os.WriteFile(statePath, append(putUint64(uint64(start+n)), st...), 0o644)
		}
	}
	// Whole aligned megabytes are written with O_DIRECT where possible: no
	// page cache to fill (the workload reads the file later, not now).
	n, err := directio.Copy(f, start, h, body, directio.Options{Progress: progress, Checkpoint: checkpoint, CheckpointEvery: CheckpointEvery, Writers: downloadWriters})
	*off = start + n
	if err != nil {
		return fmt.Errorf("download %s: %w", desc.Digest, err)
	}
	return nil
}
