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
	"net/http"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/internal/directio"
)

// saveEvery is how often a download saves its hash state, so a resumed
// download does not re-hash what it already has.
const saveEvery = 64 << 20

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
		if err := r.download(ctx, f, &off, h, desc, tmp+".state", progress); err != nil {
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

// restoreDownload positions f after the bytes of an earlier attempt and
// brings h to the matching state: from the saved state when it covers a
// prefix of the file (the rest is hashed), else by hashing the whole file.
func restoreDownload(f *os.File, statePath string, h stateHash) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var from int64
	if b, err := os.ReadFile(statePath); err == nil && len(b) > 8 {
		n := int64(beUint64(b[:8]))
		if n <= fi.Size() && h.UnmarshalBinary(b[8:]) == nil {
			from = n
		} else {
			h.Reset()
		}
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
	if err != nil {
		return 0, err
	}
	return from + n, nil
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

// download appends the blob's bytes from *off on to f, hashing them.
func (r *Remote) download(ctx context.Context, f *os.File, off *int64, h stateHash, desc ocispec.Descriptor, statePath string, progress func(int64)) error {
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
	body := io.LimitReader(resp.Body, desc.Size-*off+1)
	buf := directio.Buffer(1 << 20)
	// Whole aligned megabytes are written with O_DIRECT: no page cache to
	// fill (the pulled file is read by the workload later, not now).
	dw := directio.NewWriter(f)
	defer dw.Close()
	lastSave := *off
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if _, err := dw.WriteAt(buf[:n], *off); err != nil {
				return err
			}
			h.Write(buf[:n])
			*off += int64(n)
			if progress != nil {
				progress(int64(n))
			}
			if *off-lastSave >= saveEvery {
				if st, err := h.MarshalBinary(); err == nil {
					os.WriteFile(statePath, append(putUint64(uint64(*off)), st...), 0o644)
				}
				lastSave = *off
			}
		}
		if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			// Keep what arrived for the next attempt.
			if st, err := h.MarshalBinary(); err == nil {
				os.WriteFile(statePath, append(putUint64(uint64(*off)), st...), 0o644)
			}
			return fmt.Errorf("download %s: %w", desc.Digest, rerr)
		}
	}
}
