package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

func (r *Registry) getBlob(w http.ResponseWriter, req *http.Request, name, ref string) error {
	dgst, err := digestParam(ref)
	if err != nil {
		return err
	}
	ctx := req.Context()
	size, err := r.meta.BlobLink(ctx, name, dgst)
	if err != nil {
		return err
	}
	if req.Method == http.MethodHead {
		if err := r.renewLink(ctx, name, dgst, size); err != nil {
			return err
		}
	} else {
		if err := r.checkBlobPull(ctx, name, dgst); err != nil {
			return err
		}
	}
	f, err := r.blobs.Open(ctx, dgst)
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("Etag", `"`+dgst.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000, immutable")
	// Ranges are checked here (checkRange), so that every unsatisfiable
	// one is answered 416 with Content-Range: bytes */SIZE; ServeContent
	// then answers HEAD, the satisfiable ranges (206, several as
	// multipart/byteranges) and If-None-Match. The body goes out by plain
	// read/write: on the loopback of the machines measured
	// (docs/benchmarks.md) that is faster than sendfile, and a pull is
	// limited by the client's hashing anyway.
	if rh := req.Header.Get("Range"); rh != "" && rangeApplies(req, dgst) {
		size, err := f.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			return fmt.Errorf("blob %s: %w", dgst, err)
		}
		answer, norm := checkRange(rh, size)
		switch answer {
		case rangeUnsatisfiable:
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Del("Cache-Control")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			if req.Method != http.MethodHead {
				io.WriteString(w, "requested range not satisfiable\n")
			}
			return nil
		case rangeWhole:
			norm = ""
		}
		req = req.Clone(req.Context())
		if norm == "" {
			req.Header.Del("Range")
		} else {
			req.Header.Set("Range", norm)
		}
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, req, "", time.Time{}, f)
	r.metrics.addPulled(cw.n)
	return nil
}

func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, name, ref string) error {
	dgst, err := digestParam(ref)
	if err != nil {
		return err
	}
	if err := r.meta.UnlinkBlob(req.Context(), name, dgst); err != nil {
		return err
	}
	// The bytes stay until the garbage collector finds no other reference.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// rangeApplies reports whether a request's Range is to be evaluated: not
// when If-None-Match names the blob (304 comes first, RFC 9110 section
// 13.2.2), and only without If-Range or with one naming the blob's entity
// tag (a date never matches: blobs carry no Last-Modified). When it does
// not apply, ServeContent answers as usual.
func rangeApplies(req *http.Request, dgst digest.Digest) bool {
	etag := `"` + dgst.String() + `"`
	if inm := req.Header.Get("If-None-Match"); inm != "" && (strings.TrimSpace(inm) == "*" || strings.Contains(inm, etag)) {
		return false
	}
	ir := req.Header.Get("If-Range")
	return ir == "" || ir == etag
}

// blobCreated answers a completed blob upload or mount.
func blobCreated(w http.ResponseWriter, name string, dgst digest.Digest) {
	h := w.Header()
	h.Set("Location", fmt.Sprintf("/v2/%s/blobs/%s", name, dgst))
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// countingWriter counts body bytes for the metrics.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom copies with a large buffer: ServeContent's default copy reads
// the blob 32 KiB at a time, which keeps a cold file's read-ahead short.
func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := io.CopyBuffer(writerOnly{c.ResponseWriter}, r, *bp)
	c.n += n
	return n, err
}

// writerOnly hides ReadFrom so that io.CopyBuffer uses the given buffer.
type writerOnly struct{ io.Writer }

// copyBufs holds the buffers blob responses are copied with.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// renewLink answers a HEAD of a blob, which a client sends to skip an
// upload it is about to reference: the link is renewed, so that the
// collector keeps the blob for a grace from now, not from when it was
// first linked. Under the lock that GC's sweep takes, the blob is either
// still there (and now kept) or already gone (404: the client uploads it
// again); a link is never renewed to a blob GC has taken.
func (r *Registry) renewLink(ctx context.Context, name string, dgst digest.Digest, size int64) error {
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	if _, err := r.blobs.Stat(ctx, dgst); err != nil {
		return err
	}
	return r.meta.LinkBlob(ctx, name, dgst, size)
}
