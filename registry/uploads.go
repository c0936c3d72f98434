package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// startUpload handles POST /v2/<name>/blobs/uploads/: a mount, a monolithic
// upload (?digest= with the body), or the start of a session.
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, name string) error {
	ctx := req.Context()
	q := req.URL.Query()
	if m := q.Get("mount"); m != "" {
		dgst, err := digestParam(m)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" && !ValidName(from) {
			return newError(http.StatusBadRequest, codeNameInvalid, "invalid repository name %q in from", truncate(from))
		}
		ok, err := r.mount(req, name, from, dgst)
		if err != nil {
			return err
		}
		if ok {
			blobCreated(w, name, dgst)
			return nil
		}
		// Not mountable: fall back to a new upload session, as the spec
		// asks.
	}
	if d := q.Get("digest"); d != "" {
		dgst, err := digestParam(d)
		if err != nil {
			return err
		}
		return r.putMonolithic(w, req, name, dgst)
	}
	// The bytes and the session are made under the collector's read lock:
	// GC never sees the one without the other (removeOrphanUploads).
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	u, err := r.blobs.NewUpload(ctx)
	if err != nil {
		return err
	}
	if err := u.Close(); err != nil {
		return err
	}
	s := storage.UploadSession{ID: u.ID(), Repository: name, Started: r.now().UTC(), By: Principal(ctx)}
	if err := r.meta.PutUpload(ctx, s); err != nil {
		r.blobs.DeleteUpload(ctx, u.ID())
		return err
	}
	uploadAccepted(w, http.StatusAccepted, name, u.ID(), 0)
	return nil
}

// mount links a blob from another repository (or, with from empty, from any
// repository that has it) into name. It reports false when the blob is not
// there to mount.
func (r *Registry) mount(req *http.Request, name, from string, dgst digest.Digest) (bool, error) {
	ctx := req.Context()
	var size int64
	var err error
	if from != "" {
		size, err = r.meta.BlobLink(ctx, from, dgst)
	} else {
		size, err = r.meta.AnyBlobLink(ctx, dgst)
	}
	if errors.Is(err, storage.ErrBlobUnknown) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	if _, err := r.blobs.Stat(ctx, dgst); errors.Is(err, storage.ErrBlobUnknown) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, r.meta.LinkBlob(ctx, name, dgst, size)
}

func (r *Registry) putMonolithic(w http.ResponseWriter, req *http.Request, name string, dgst digest.Digest) error {
	ctx := req.Context()
	if req.ContentLength > r.limits.MaxBlobSize {
		return fmt.Errorf("blob of %d bytes exceeds the limit of %d: %w", req.ContentLength, r.limits.MaxBlobSize, errBodyTooLarge)
	}
	body := newBodyReader(w, req, r.limits.MaxBlobSize, r.limits.BodyIdleTimeout, "blob")
	cr := &countingReader{r: body}
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	err := r.blobs.Put(ctx, dgst, req.ContentLength, cr)
	r.metrics.addPushed(cr.n)
	if err != nil {
		return err
	}
	if err := r.meta.LinkBlob(ctx, name, dgst, cr.n); err != nil {
		return err
	}
	blobCreated(w, name, dgst)
	return nil
}

// session loads an upload session of name, refusing expired ones.
func (r *Registry) session(req *http.Request, name, id string) (storage.UploadSession, error) {
	s, err := r.meta.Upload(req.Context(), id)
	if err != nil {
		return s, err
	}
	if s.Repository != name {
		return s, fmt.Errorf("upload %s belongs to another repository: %w", id, storage.ErrUploadUnknown)
	}
	if r.now().After(s.Started.Add(r.limits.UploadTTL)) {
		return s, fmt.Errorf("upload %s expired: %w", id, storage.ErrUploadUnknown)
	}
	return s, nil
}

func uploadAccepted(w http.ResponseWriter, status int, name, id string, size int64) {
	h := w.Header()
	h.Set("Location", fmt.Sprintf("/v2/%s/blobs/uploads/%s", name, id))
	h.Set("Docker-Upload-UUID", id)
	h.Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// openUpload checks the session, takes the upload's lock and reopens it.
// The caller runs unlock when done.
func (r *Registry) openUpload(req *http.Request, name, id string) (u storage.Upload, unlock func(), err error) {
	if _, err := r.session(req, name, id); err != nil {
		return nil, nil, err
	}
	unlock = r.uploadLocks.lock(id)
	u, err = r.blobs.ResumeUpload(req.Context(), id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return u, unlock, nil
}

func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, name, id string) error {
	u, unlock, err := r.openUpload(req, name, id)
	if err != nil {
		return err
	}
	defer unlock()
	size := u.Size()
	u.Abort()
	uploadAccepted(w, http.StatusNoContent, name, id, size)
	return nil
}

// parseContentRange parses the "start-end" of a chunk upload.
func parseContentRange(s string) (start, end int64, err error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "bytes ")
	a, b, ok := strings.Cut(s, "-")
	if ok {
		b, _, _ = strings.Cut(b, "/")
		start, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			end, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("invalid Content-Range %q", truncate(s))
	}
	return start, end, nil
}

// appendBody writes the request body to the upload, enforcing chunk order
// and the blob size limit. On a bad chunk the upload is left as it was.
func (r *Registry) appendBody(w http.ResponseWriter, req *http.Request, name string, u storage.Upload) error {
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, err := parseContentRange(cr)
		if err != nil {
			return newError(http.StatusBadRequest, codeBlobUploadInvalid, "%v", err)
		}
		if start != u.Size() {
			uploadAccepted(w, http.StatusRequestedRangeNotSatisfiable, name, u.ID(), u.Size())
			return errAnswered
		}
		if req.ContentLength >= 0 && end-start+1 != req.ContentLength {
			return newError(http.StatusBadRequest, codeBlobUploadInvalid, "Content-Range %q does not match Content-Length %d", truncate(cr), req.ContentLength)
		}
	}
	left := r.limits.MaxBlobSize - u.Size()
	if req.ContentLength > left {
		return fmt.Errorf("blob would exceed the limit of %d bytes: %w", r.limits.MaxBlobSize, errBodyTooLarge)
	}
	body := newBodyReader(w, req, left, r.limits.BodyIdleTimeout, "blob")
	n, err := io.Copy(u, body)
	r.metrics.addPushed(n)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.ID(), err)
	}
	return nil
}

// errAnswered means the handler has written the response itself.
var errAnswered = errors.New("answered")

func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	u, unlock, err := r.openUpload(req, name, id)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.appendBody(w, req, name, u); err != nil {
		u.Abort()
		return err
	}
	size := u.Size()
	if err := u.Close(); err != nil {
		return err
	}
	uploadAccepted(w, http.StatusAccepted, name, id, size)
	return nil
}

// dropUpload discards an upload and its session.
func (r *Registry) dropUpload(req *http.Request, id string) {
	ctx := req.Context()
	r.blobs.DeleteUpload(ctx, id)
	r.meta.DeleteUpload(ctx, id)
}

func (r *Registry) putUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	if _, err := r.session(req, name, id); err != nil {
		return err
	}
	dgst, err := digestParam(req.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	u, unlock, err := r.openUpload(req, name, id)
	if err != nil {
		return err
	}
	defer unlock()
	ctx := req.Context()
	if err := r.appendBody(w, req, name, u); err != nil {
		u.Abort()
		return err
	}
	size := u.Size()
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	if err := u.Commit(ctx, dgst); err != nil {
		// Commit discards the bytes on a mismatch: the session is over.
		r.dropUpload(req, id)
		return err
	}
	r.meta.DeleteUpload(ctx, id)
	if err := r.meta.LinkBlob(ctx, name, dgst, size); err != nil {
		return err
	}
	blobCreated(w, name, dgst)
	return nil
}

func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, name, id string) error {
	if _, err := r.session(req, name, id); err != nil {
		return err
	}
	defer r.uploadLocks.lock(id)()
	r.dropUpload(req, id)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// countingReader counts bytes read, for the metrics and blob links.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
