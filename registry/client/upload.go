package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultChunkSize is the size of one PATCH of an upload: the unit of
// resumption after an interruption. Large enough that the per-request cost
// vanishes, small enough that little is sent twice.
const DefaultChunkSize = 64 << 20

// Source is something to upload: a file or a generated stream of known size.
type Source struct {
	// Key identifies the source across runs (e.g. its path and stat
	// identity), for resuming; empty disables resumption.
	Key  string
	Size int64
	// Open returns the bytes from offset on.
	Open func(offset int64) (io.ReadCloser, error)
}

// uploadState is what uploads/<key>.json holds between attempts.
type uploadState struct {
	Location string `json:"location"`
	Offset   int64  `json:"offset"`
	Hash     []byte `json:"sha256State"`
}

// Exists reports whether the repository already has the blob.
func (r *Remote) Exists(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := r.do(ctx, false, http.MethodHead, r.url("/blobs/"+d.String()), nil, 0, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, statusError(resp)
}

// Upload sends src as a blob and returns its descriptor (mediaType empty).
// The digest is computed while the bytes are sent, in chunks of chunkSize
// (0: DefaultChunkSize). After each chunk the registry acknowledged, the
// upload's state is saved in the cache, so that a later Upload of the same
// source continues from there. progress, if not nil, is called with bytes
// sent.
func (c *Cache) Upload(ctx context.Context, r *Remote, src Source, chunkSize int64, progress func(int64)) (ocispec.Descriptor, error) {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	h := sha256.New().(stateHash)
	var statePath string
	if src.Key != "" {
		k := sha256.Sum256([]byte(r.Base + "\x00" + r.Repository + "\x00" + src.Key))
		statePath = filepath.Join(c.root, "uploads", hex.EncodeToString(k[:16])+".json")
	}
	loc, off := r.resumeUpload(ctx, statePath, h)
	if loc == "" {
		resp, err := r.do(ctx, true, http.MethodPost, r.url("/blobs/uploads/"), nil, 0, nil)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if resp.StatusCode != http.StatusAccepted {
			return ocispec.Descriptor{}, statusError(resp)
		}
		resp.Body.Close()
		if loc, err = resolveLocation(resp); err != nil {
			return ocispec.Descriptor{}, err
		}
		off = 0
		h.Reset()
	}
	if progress != nil && off > 0 {
		progress(off)
	}
	for off < src.Size {
		n := min(chunkSize, src.Size-off)
		next, err := r.patch(ctx, loc, src, off, n, h, progress)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		loc, off = next, off+n
		if statePath != "" {
			if st, err := h.MarshalBinary(); err == nil {
				b, _ := json.Marshal(uploadState{Location: loc, Offset: off, Hash: st})
				os.WriteFile(statePath, b, 0o600)
			}
		}
	}
	dgst := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	u, err := withQuery(loc, "digest", dgst.String())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp, err := r.do(ctx, true, http.MethodPut, u, http.NoBody, 0, nil)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		if statePath != "" {
			os.Remove(statePath)
		}
		return ocispec.Descriptor{}, fmt.Errorf("upload of %s: %w", dgst, statusError(resp))
	}
	resp.Body.Close()
	if statePath != "" {
		os.Remove(statePath)
	}
	return ocispec.Descriptor{Digest: dgst, Size: src.Size}, nil
}

// resumeUpload restores a saved upload if the registry still has it at the
// saved offset. It returns an empty location when there is nothing to
// resume.
func (r *Remote) resumeUpload(ctx context.Context, statePath string, h stateHash) (string, int64) {
	if statePath == "" {
		return "", 0
	}
	b, err := os.ReadFile(statePath)
	if err != nil {
		return "", 0
	}
	var st uploadState
	if json.Unmarshal(b, &st) != nil || h.UnmarshalBinary(st.Hash) != nil {
		os.Remove(statePath)
		return "", 0
	}
	resp, err := r.do(ctx, true, http.MethodGet, st.Location, nil, 0, nil)
	if err != nil {
		return "", 0
	}
	resp.Body.Close()
	var end int64 = -1
	if resp.StatusCode == http.StatusNoContent {
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Range"), "%d-%d", &start, &end); err != nil {
			end = -1
		}
	}
	// The registry must hold exactly what was acknowledged (an empty upload
	// reports 0-0, as distribution does).
	if resp.StatusCode != http.StatusNoContent || (end+1 != st.Offset && !(st.Offset == 0 && end == 0)) {
		os.Remove(statePath)
		h.Reset()
		return "", 0
	}
	loc := st.Location
	if l, err := resolveLocation(resp); err == nil {
		loc = l
	}
	return loc, st.Offset
}

// patch sends bytes [off, off+n) of src, hashing them on the way.
func (r *Remote) patch(ctx context.Context, loc string, src Source, off, n int64, h stateHash, progress func(int64)) (string, error) {
	rc, err := src.Open(off)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	body := &hashingReader{r: io.LimitReader(rc, n), h: h, progress: progress}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
	resp, err := r.do(ctx, true, http.MethodPatch, loc, body, n, hdr)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", statusError(resp)
	}
	resp.Body.Close()
	if body.n != n {
		return "", fmt.Errorf("upload: source gave %d bytes, want %d", body.n, n)
	}
	return resolveLocation(resp)
}

// hashingReader hashes what the HTTP client reads from it. A request body
// is read once unless the transport retries; a retry would hash twice, so
// the caller checks the count.
type hashingReader struct {
	r        io.Reader
	h        stateHash
	n        int64
	progress func(int64)
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if n > 0 {
		hr.h.Write(p[:n])
		hr.n += int64(n)
		if hr.progress != nil {
			hr.progress(int64(n))
		}
	}
	return n, err
}

// FileSource uploads a file on disk; key should identify its content
// version (see StatKey).
func FileSource(path, key string, size int64) Source {
	return Source{Key: key, Size: size, Open: func(off int64) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}}
}

func withQuery(loc, k, v string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("bad upload location %q: %w", loc, err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
