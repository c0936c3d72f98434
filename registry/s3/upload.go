package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// Keys of an upload in progress, under the store's prefix:
//
//	uploads/<id>/state          the uploadState after the last Close
//	uploads/<id>/chunk-<rand>   bytes after the last part, one object per Close
//	ingest/<id>                 the multipart upload the parts go to
//
// <id> is 32 lower-case hex digits. The state is written last by Close, and
// only if it is still the one the upload was opened with (If-Match on its
// ETag), so of two nodes writing to one upload at once, one fails and the
// state stays whole.

func (s *Store) stateKey(id string) string    { return s.prefix + "uploads/" + id + "/state" }
func (s *Store) chunkKey(id, c string) string { return s.prefix + "uploads/" + id + "/" + c }
func (s *Store) ingestKey(id string) string   { return s.prefix + "ingest/" + id }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// validID accepts the ids NewUpload makes.
func validID(id string) bool { return isHex(id, 32) }

// upload is a resumable upload; see the keys above.
type upload struct {
	s  *Store
	id string
	w  *partWriter
	// etag is the ETag of the state object this upload was opened with.
	etag string
	// saved is the state this upload was opened with.
	saved uploadState
	// keep are the saved chunks whose bytes are still the head of w.buf
	// (until a part is sent), keepBytes their size.
	keep      []chunkInfo
	keepBytes int64
	// loaded is set once the saved chunks are in w.buf: they are read on
	// the first Write or Commit, not by ResumeUpload, so that a status
	// request (resume, Size, Abort) reads the state alone.
	loaded bool
	// dirty is set by the first byte written: a Close without one leaves
	// the saved state as it is.
	dirty  bool
	done   bool
	broken bool
}

var _ storage.Upload = (*upload)(nil)

// NewUpload implements storage.BlobStore. The state object is written at
// once, so the upload is listed (and resumable, at size 0) from the start.
func (s *Store) NewUpload(ctx context.Context) (storage.Upload, error) {
	id := randomHex(16)
	h := sha256.New()
	st := uploadState{SHA256: marshalHash(h)}
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	opts.ContentType = "application/json"
	b := encodeState(st)
	info, err := s.c.PutObject(ctx, s.bucket, s.stateKey(id), bytes.NewReader(b), int64(len(b)), "", "", opts)
	if err != nil {
		return nil, fmt.Errorf("s3: create upload: %w", err)
	}
	return &upload{s: s, id: id, w: s.newPartWriter(s.ingestKey(id), h), etag: info.ETag, saved: st, loaded: true}, nil
}

// readState reads an upload's state object and its ETag.
func (s *Store) readState(ctx context.Context, id string) (raw []byte, etag string, err error) {
	body, oi, _, err := s.c.GetObject(ctx, s.bucket, s.stateKey(id), minio.GetObjectOptions{})
	if notFound(err) {
		return nil, "", fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
	}
	if err != nil {
		return nil, "", fmt.Errorf("s3: read upload %s: %w", id, err)
	}
	defer body.Close()
	raw, err = io.ReadAll(io.LimitReader(body, maxStateSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("s3: read upload %s: %w", id, err)
	}
	return raw, oi.ETag, nil
}

// ResumeUpload implements storage.BlobStore. It reads the state; the
// chunks after the last part (at most a part's worth) are read back into
// memory when the upload is written to or committed.
func (s *Store) ResumeUpload(ctx context.Context, id string) (storage.Upload, error) {
	if !validID(id) {
		return nil, fmt.Errorf("upload id %.40q: %w", id, storage.ErrUploadUnknown)
	}
	raw, etag, err := s.readState(ctx, id)
	if err != nil {
		return nil, err
	}
	st, h, err := decodeState(raw)
	if err != nil {
		return nil, fmt.Errorf("s3: upload %s: %w", id, err)
	}
	w := s.newPartWriter(s.ingestKey(id), h)
	w.mp, w.parts, w.n = st.Multipart, append([]partInfo(nil), st.Parts...), st.Size
	var tail int64
	for _, c := range st.Chunks {
		tail += c.Size
	}
	u := &upload{s: s, id: id, w: w, etag: etag, saved: st, keep: st.Chunks, keepBytes: tail}
	w.onFlush = func() { u.keep, u.keepBytes = nil, 0 }
	return u, nil
}

// readChunk appends a chunk's bytes to w's buffer, which has room for
// them.
func (s *Store) readChunk(ctx context.Context, id string, c chunkInfo, w *partWriter) error {
	body, _, _, err := s.c.GetObject(ctx, s.bucket, s.chunkKey(id, c.Key), minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", c.Key, err)
	}
	defer body.Close()
	end := len(w.buf) + int(c.Size)
	if _, err := io.ReadFull(body, w.buf[len(w.buf):end]); err != nil {
		return fmt.Errorf("%w: chunk %s: %v", ErrBadState, c.Key, err)
	}
	if n, _ := body.Read(make([]byte, 1)); n != 0 {
		return fmt.Errorf("%w: chunk %s is longer than the state says", ErrBadState, c.Key)
	}
	w.buf = w.buf[:end]
	return nil
}

// load reads the saved chunks into the part buffer, once.
func (u *upload) load() error {
	if u.loaded {
		return nil
	}
	u.loaded = true
	ctx, cancel := context.WithTimeout(context.Background(), partTimeout)
	defer cancel()
	u.w.buf = make([]byte, 0, max(u.keepBytes, 64<<10))
	for _, c := range u.saved.Chunks {
		if err := u.s.readChunk(ctx, u.id, c, u.w); err != nil {
			u.broken = true
			return fmt.Errorf("s3: upload %s: %w", u.id, err)
		}
	}
	return nil
}

func (u *upload) ID() string  { return u.id }
func (u *upload) Size() int64 { return u.w.n }

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, fmt.Errorf("s3: upload %s: %w", u.id, storage.ErrUploadUnknown)
	}
	if err := u.load(); err != nil {
		return 0, err
	}
	u.dirty = u.dirty || len(p) > 0
	n, err := u.w.Write(p)
	if err != nil {
		u.broken = true
	}
	return n, err
}

// ReadFrom makes io.Copy read straight into the part buffer.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	if u.done {
		return 0, fmt.Errorf("s3: upload %s: %w", u.id, storage.ErrUploadUnknown)
	}
	if err := u.load(); err != nil {
		return 0, err
	}
	n, err := u.w.ReadFrom(r)
	u.dirty = u.dirty || n > 0
	if err != nil {
		u.broken = true
	}
	return n, err
}

// Close implements storage.Upload: it writes the bytes after the last part
// as a new chunk, then the state (conditionally), then removes the chunks
// the new state no longer names.
func (u *upload) Close() error {
	if u.broken {
		return errors.Join(errors.New("s3: upload write failed; bytes since it was opened are dropped"), u.Abort())
	}
	if u.done {
		return nil
	}
	u.done = true
	defer u.w.release()
	if !u.dirty {
		return nil // nothing written: the saved state stands
	}
	ctx, cancel := context.WithTimeout(context.Background(), partTimeout)
	defer cancel()
	if err := u.w.wait(); err != nil {
		return err
	}
	st := uploadState{Size: u.w.n, SHA256: marshalHash(u.w.h), Multipart: u.w.mp, Parts: u.w.parts}
	chunks := u.keep
	fresh := u.w.buf[u.keepBytes:]
	if len(chunks) >= maxChunks {
		chunks, fresh = nil, u.w.buf
	}
	var added string
	if len(fresh) > 0 {
		added = "chunk-" + randomHex(16)
		_, err := u.s.c.PutObject(ctx, u.s.bucket, u.s.chunkKey(u.id, added), bytes.NewReader(fresh), int64(len(fresh)), "", "",
			minio.PutObjectOptions{DisableContentSha256: true})
		if err != nil {
			return fmt.Errorf("s3: save upload %s: %w", u.id, err)
		}
		chunks = append(append([]chunkInfo(nil), chunks...), chunkInfo{Key: added, Size: int64(len(fresh))})
	}
	st.Chunks = chunks
	var opts minio.PutObjectOptions
	opts.SetMatchETag(u.etag)
	opts.ContentType = "application/json"
	b := encodeState(st)
	if _, err := u.s.c.PutObject(ctx, u.s.bucket, u.s.stateKey(u.id), bytes.NewReader(b), int64(len(b)), "", "", opts); err != nil {
		if added != "" {
			_ = u.s.c.RemoveObject(ctx, u.s.bucket, u.s.chunkKey(u.id, added), minio.RemoveObjectOptions{})
		}
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusPreconditionFailed || notFound(err) {
			return fmt.Errorf("s3: save upload %s: %w", u.id, ErrUploadChanged)
		}
		return fmt.Errorf("s3: save upload %s: %w", u.id, err)
	}
	// The new state is written: the chunks it does not name are garbage.
	named := map[string]bool{}
	for _, c := range chunks {
		named[c.Key] = true
	}
	for _, c := range u.saved.Chunks {
		if !named[c.Key] {
			_ = u.s.c.RemoveObject(ctx, u.s.bucket, u.s.chunkKey(u.id, c.Key), minio.RemoveObjectOptions{})
		}
	}
	return nil
}

// Abort implements storage.Upload: the saved state is left as it was.
// Parts sent since the upload was opened stay in the multipart upload but
// no state names them; the next resume sends its own.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.w.release()
	return nil
}

// Commit implements storage.Upload.
func (u *upload) Commit(ctx context.Context, dgst digest.Digest) error {
	if u.done {
		return fmt.Errorf("%s: %w", u.id, storage.ErrUploadUnknown)
	}
	if err := checkDigest(dgst); err != nil {
		return err
	}
	if err := u.load(); err != nil {
		return err
	}
	u.done = true
	defer u.w.release()
	if err := u.w.wait(); err != nil {
		return err
	}
	w := u.w
	key := u.s.blobKey(dgst)
	var got digest.Digest
	switch {
	case dgst.Algorithm() == digest.SHA256:
		got = digest.NewDigest(digest.SHA256, w.h)
	case w.mp == "":
		got = dgst.Algorithm().FromBytes(w.buf)
	}
	if got != "" && got != dgst {
		u.discard(ctx)
		return fmt.Errorf("got %s, want %s: %w", got, dgst, storage.ErrDigestMismatch)
	}
	if w.mp == "" {
		// Everything is in memory: one PUT, straight to the blob's key.
		if ok, err := u.s.exists(ctx, key); err != nil {
			return err
		} else if ok {
			u.s.touch(ctx, key)
		} else if _, err := u.s.c.PutObject(ctx, u.s.bucket, key, bytes.NewReader(w.buf), int64(len(w.buf)), "", "",
			minio.PutObjectOptions{DisableContentSha256: true, ContentType: "application/octet-stream"}); err != nil {
			return fmt.Errorf("s3: commit %s: %w", dgst, err)
		}
		u.discard(ctx)
		return nil
	}
	if got != "" {
		if ok, err := u.s.exists(ctx, key); err != nil {
			return err
		} else if ok {
			u.s.touch(ctx, key)
			u.discard(ctx)
			return nil
		}
	}
	if len(w.buf) > 0 {
		if err := w.flush(int64(len(w.buf))); err != nil {
			return err
		}
		if err := w.wait(); err != nil {
			return err
		}
	}
	ingest := u.s.ingestKey(u.id)
	if err := completeParts(ctx, u.s, ingest, w.mp, w.parts); err != nil {
		return err
	}
	w.mp = "" // completed: only the object is left to remove
	if got == "" {
		// The algorithm is known only now: read the bytes back once.
		if err := u.s.verifyObject(ctx, ingest, dgst); err != nil {
			u.discard(ctx)
			return err
		}
	}
	if ok, err := u.s.exists(ctx, key); err != nil {
		return err
	} else if ok {
		u.s.touch(ctx, key)
	} else if _, err := u.s.c.ComposeObject(ctx, minio.CopyDestOptions{Bucket: u.s.bucket, Object: key},
		minio.CopySrcOptions{Bucket: u.s.bucket, Object: ingest}); err != nil {
		return fmt.Errorf("s3: commit %s: %w", dgst, err)
	}
	u.discard(ctx)
	return nil
}

// verifyObject hashes an object with dgst's algorithm.
func (s *Store) verifyObject(ctx context.Context, key string, dgst digest.Digest) error {
	body, _, _, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("s3: read %s: %w", key, err)
	}
	defer body.Close()
	v := dgst.Verifier()
	if _, err := io.Copy(v, body); err != nil {
		return fmt.Errorf("s3: read %s: %w", key, err)
	}
	if !v.Verified() {
		return fmt.Errorf("the upload does not hash to %s: %w", dgst, storage.ErrDigestMismatch)
	}
	return nil
}

// discard removes everything the upload has in the store.
func (u *upload) discard(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if u.w.mp != "" {
		_ = u.s.c.AbortMultipartUpload(ctx, u.s.bucket, u.s.ingestKey(u.id), u.w.mp)
	}
	_ = u.s.DeleteUpload(ctx, u.id)
}

// Cancel implements storage.Upload.
func (u *upload) Cancel(ctx context.Context) error {
	if !u.done {
		u.done = true
		u.w.release()
	}
	if u.w.mp != "" {
		_ = u.s.c.AbortMultipartUpload(context.WithoutCancel(ctx), u.s.bucket, u.s.ingestKey(u.id), u.w.mp)
	}
	return u.s.DeleteUpload(ctx, u.id)
}

// DeleteUpload implements storage.BlobStore: it aborts the upload's
// multipart uploads and removes its objects, whatever state a crash left
// them in. Ids that WalkUploads reports for a multipart upload left without
// a state (by a Put that did not finish) abort that one.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	if key, mp, ok := parseOrphanID(id); ok {
		// Servers may answer an abort of an upload aborted before with
		// success: look first.
		_, err := s.c.ListObjectParts(ctx, s.bucket, s.prefix+key, mp, 0, 1)
		if err == nil {
			err = s.c.AbortMultipartUpload(ctx, s.bucket, s.prefix+key, mp)
		}
		if notFound(err) {
			return fmt.Errorf("%.40s: %w", id, storage.ErrUploadUnknown)
		}
		if err != nil {
			return fmt.Errorf("s3: abort %s: %w", key, err)
		}
		return nil
	}
	if !validID(id) {
		return fmt.Errorf("upload id %.40q: %w", id, storage.ErrUploadUnknown)
	}
	found := false
	err := s.multiparts(ctx, "ingest/"+id, true, func(key, mp string, _ time.Time) error {
		if key == "ingest/"+id {
			found = true
			return s.c.AbortMultipartUpload(ctx, s.bucket, s.prefix+key, mp)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var keys []string
	if err := s.list(ctx, "uploads/"+id+"/", func(oi minio.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		return err
	}
	if err := s.list(ctx, "ingest/"+id, func(oi minio.ObjectInfo) error {
		if oi.Key == s.ingestKey(id) {
			keys = append(keys, oi.Key)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(keys) == 0 && !found {
		return fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
	}
	// The state goes last: while it is there, the upload is listed and
	// can be deleted again.
	state := s.stateKey(id)
	for _, k := range keys {
		if k == state {
			continue
		}
		if err := s.c.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
			return fmt.Errorf("s3: delete upload %s: %w", id, err)
		}
	}
	if err := s.c.RemoveObject(ctx, s.bucket, state, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("s3: delete upload %s: %w", id, err)
	}
	return nil
}

// multiparts calls fn for every unfinished multipart upload whose key
// (relative to the store's prefix) starts with prefix. MinIO lists
// multipart uploads of one exact key or of the whole bucket, not of a
// prefix: so unless exact is set, the whole bucket's are listed and
// filtered here.
func (s *Store) multiparts(ctx context.Context, prefix string, exact bool, fn func(key, uploadID string, initiated time.Time) error) error {
	keyMarker, idMarker := "", ""
	serverPrefix := ""
	if exact {
		serverPrefix = s.prefix + prefix
	}
	for {
		res, err := s.c.ListMultipartUploads(ctx, s.bucket, serverPrefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return fmt.Errorf("s3: list multipart uploads: %w", err)
		}
		for _, m := range res.Uploads {
			key, ok := strings.CutPrefix(m.Key, s.prefix)
			if !ok || !strings.HasPrefix(key, prefix) {
				continue
			}
			if err := fn(key, m.UploadID, m.Initiated); err != nil {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// Orphan ids name a multipart upload no state knows of: "mp-", the key
// (relative to the prefix) and the upload id, both base64url.
func orphanID(key, mp string) string {
	return "mp-" + base64.RawURLEncoding.EncodeToString([]byte(key)) + "." + base64.RawURLEncoding.EncodeToString([]byte(mp))
}

func parseOrphanID(id string) (key, mp string, ok bool) {
	rest, ok := strings.CutPrefix(id, "mp-")
	if !ok || len(id) > 4096 {
		return "", "", false
	}
	k, m, ok := strings.Cut(rest, ".")
	if !ok {
		return "", "", false
	}
	kb, err1 := base64.RawURLEncoding.DecodeString(k)
	mb, err2 := base64.RawURLEncoding.DecodeString(m)
	key, mp = string(kb), string(mb)
	if err1 != nil || err2 != nil || !validUploadID(mp) {
		return "", "", false
	}
	// Only keys this store makes: blobs/<alg>/<hex> (Put) or ingest/<id>.
	if i, ok := strings.CutPrefix(key, "ingest/"); ok && validID(i) {
		return key, mp, true
	}
	if b, ok := strings.CutPrefix(key, "blobs/"); ok {
		alg, hexPart, _ := strings.Cut(b, "/")
		if checkDigest(digest.NewDigestFromEncoded(digest.Algorithm(alg), hexPart)) == nil {
			return key, mp, true
		}
	}
	return "", "", false
}

// WalkUploads implements storage.BlobStore. It lists the uploads that have
// a state (modified: when it was last closed) and, as "mp-..." ids,
// multipart uploads left without one by a Put or an upload that did not
// finish (modified: when their last part arrived).
func (s *Store) WalkUploads(ctx context.Context, fn func(id string, modified time.Time) error) error {
	latest := map[string]time.Time{}
	var order []string
	err := s.list(ctx, "uploads/", func(oi minio.ObjectInfo) error {
		rest := strings.TrimPrefix(oi.Key, s.prefix+"uploads/")
		id, _, _ := strings.Cut(rest, "/")
		if !validID(id) {
			return nil
		}
		if _, ok := latest[id]; !ok {
			order = append(order, id)
		}
		if oi.LastModified.After(latest[id]) {
			latest[id] = oi.LastModified
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range order {
		if err := fn(id, latest[id]); err != nil {
			return err
		}
	}
	type orphan struct {
		key, mp   string
		initiated time.Time
	}
	var orphans []orphan
	for _, prefix := range []string{"ingest/", "blobs/"} {
		err := s.multiparts(ctx, prefix, false, func(key, mp string, initiated time.Time) error {
			if id, ok := strings.CutPrefix(key, "ingest/"); ok {
				if _, known := latest[id]; known {
					return nil // the upload's own
				}
			}
			orphans = append(orphans, orphan{key, mp, initiated})
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, o := range orphans {
		mod := o.initiated
		// A Put still sending parts is not stale: its last part is recent.
		if res, err := s.c.ListObjectParts(ctx, s.bucket, s.prefix+o.key, o.mp, 0, maxParts); err == nil {
			for _, p := range res.ObjectParts {
				if p.LastModified.After(mod) {
					mod = p.LastModified
				}
			}
		}
		if err := fn(orphanID(o.key, o.mp), mod); err != nil {
			return err
		}
	}
	return nil
}
