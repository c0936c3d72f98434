package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"

	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 with go-digest
)

// Store is a storage.BlobStore in an S3 bucket. Every node of a registry
// may open the same bucket: a Store keeps no state of its own beyond what
// an upload in progress has in memory between its Write and its Close.
type Store struct {
	c        minio.Core
	bucket   string
	prefix   string
	partSize int64
	// DeleteGrace, when positive, keeps blobs written (or re-committed)
	// less than this long ago: Delete leaves them and reports
	// storage.ErrBlobUnknown, as for a blob already gone. cairn serve sets
	// it to the collector's grace, so that a blob another node has just
	// committed again is not removed under it.
	DeleteGrace time.Duration

	now func() time.Time
}

var (
	_ storage.BlobStore = (*Store)(nil)
	_ storage.BlobURLer = (*Store)(nil)
)

// Open connects to the bucket cfg names, with credentials from the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// or the shared credentials file), and checks that the bucket exists.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
	return open(ctx, cfg, creds)
}

// OpenWith is Open with explicit credentials.
func OpenWith(ctx context.Context, cfg Config, accessKey, secretKey string) (*Store, error) {
	return open(ctx, cfg, credentials.NewStaticV4(accessKey, secretKey, ""))
}

func open(ctx context.Context, cfg Config, creds *credentials.Credentials) (*Store, error) {
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	tr, err := minio.DefaultTransport(!cfg.Insecure)
	if err != nil {
		return nil, err
	}
	// Blob bodies are large: bigger socket buffers than net/http's.
	tr.WriteBufferSize, tr.ReadBufferSize = 256<<10, 256<<10
	tr.MaxIdleConnsPerHost = 256
	cl, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: !cfg.Insecure, Region: cfg.Region, Transport: tr})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	ok, err := cl.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket %s at %s: %w", cfg.Bucket, endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3: bucket %s at %s: %w", cfg.Bucket, endpoint, ErrNoBucket)
	}
	ps := cfg.PartSize
	if ps == 0 {
		ps = DefaultPartSize
	}
	return &Store{c: minio.Core{Client: cl}, bucket: cfg.Bucket, prefix: cfg.Prefix, partSize: ps, now: time.Now}, nil
}

// checkDigest rejects anything but a well-formed sha256 or sha512 digest,
// before it becomes a key.
func checkDigest(dgst digest.Digest) error {
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

func (s *Store) blobKey(dgst digest.Digest) string {
	return s.prefix + "blobs/" + dgst.Algorithm().String() + "/" + dgst.Encoded()
}

// notFound reports whether err says the key or upload does not exist.
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || r.Code == "NoSuchUpload"
}

// Stat implements storage.BlobStore.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (int64, error) {
	if err := checkDigest(dgst); err != nil {
		return 0, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, s.blobKey(dgst), minio.StatObjectOptions{})
	if notFound(err) {
		return 0, fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return 0, fmt.Errorf("s3: stat %s: %w", dgst, err)
	}
	return oi.Size, nil
}

// Open implements storage.BlobStore. The reader asks for the bytes from
// its position on the first Read after a Seek, so a range request costs one
// ranged GET.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error) {
	if err := checkDigest(dgst); err != nil {
		return nil, err
	}
	key := s.blobKey(dgst)
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if notFound(err) {
		return nil, fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", dgst, err)
	}
	return &reader{ctx: ctx, s: s, key: key, etag: oi.ETag, size: oi.Size}, nil
}

// reader reads one object from any offset. It keeps the context of Open,
// as an http.Request does, because io.Reader has none.
type reader struct {
	ctx  context.Context
	s    *Store
	key  string
	etag string
	size int64
	pos  int64
	body io.ReadCloser
}

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		var opts minio.GetObjectOptions
		if r.pos > 0 {
			opts.SetRange(r.pos, 0)
		}
		// The object must not change under a reader (a blob never does;
		// this catches a bucket edited behind the registry's back).
		opts.SetMatchETag(r.etag)
		body, _, _, err := r.s.c.GetObject(r.ctx, r.s.bucket, r.key, opts)
		if err != nil {
			return 0, fmt.Errorf("s3: read %s at %d: %w", r.key, r.pos, err)
		}
		r.body = body
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	if err == io.EOF && r.pos < r.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("s3: seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("s3: seek: negative position")
	}
	if abs != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = abs
	return abs, nil
}

func (r *reader) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// exists reports whether a committed blob is there.
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	return true, nil
}

// touch renews an existing blob's modification time, which tells the
// garbage collector (on any node) that it was just committed again. It is
// a copy onto itself with new metadata, which S3 servers do without
// copying the data; failures are ignored, as the embedded store ignores a
// failed utime.
func (s *Store) touch(ctx context.Context, key string) {
	_, _ = s.c.Client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: key, ReplaceMetadata: true,
			UserMetadata: map[string]string{"Cairn-Committed": s.now().UTC().Format(time.RFC3339Nano)}},
		minio.CopySrcOptions{Bucket: s.bucket, Object: key})
}

// Put implements storage.BlobStore. A blob that fits in one part is read
// into memory, checked and written with one PUT; a larger one goes to a
// multipart upload at its final key, which becomes visible only when
// CompleteMultipartUpload runs after the digest and size were checked
// (an aborted or unfinished multipart upload is never visible).
func (s *Store) Put(ctx context.Context, dgst digest.Digest, size int64, r io.Reader) error {
	if err := checkDigest(dgst); err != nil {
		return err
	}
	key := s.blobKey(dgst)
	h := dgst.Algorithm().Hash()
	check := func(n int64) error {
		if size >= 0 && n != size {
			return fmt.Errorf("%s: got %d bytes, want %d: %w", dgst, n, size, storage.ErrSizeMismatch)
		}
		if got := digest.NewDigest(dgst.Algorithm(), h); got != dgst {
			return fmt.Errorf("got %s, want %s: %w", got, dgst, storage.ErrDigestMismatch)
		}
		return nil
	}
	if ok, err := s.exists(ctx, key); err != nil {
		return err
	} else if ok {
		// Read and check the bytes all the same: the caller learns of a
		// wrong digest whether or not the blob is there.
		n, err := io.Copy(h, r)
		if err != nil {
			return fmt.Errorf("s3: read %s: %w", dgst, err)
		}
		if err := check(n); err != nil {
			return err
		}
		s.touch(ctx, key)
		return nil
	}
	w := s.newPartWriter(key, h)
	defer w.release()
	n, err := w.ReadFrom(r)
	if err != nil {
		w.abort(ctx)
		return fmt.Errorf("s3: write %s: %w", dgst, err)
	}
	if err := check(n); err != nil {
		w.abort(ctx)
		return err
	}
	if err := w.finish(ctx); err != nil {
		return fmt.Errorf("s3: commit %s: %w", dgst, err)
	}
	return nil
}

// Delete implements storage.BlobStore.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	if err := checkDigest(dgst); err != nil {
		return err
	}
	key := s.blobKey(dgst)
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if notFound(err) {
		return fmt.Errorf("%s: %w", dgst, storage.ErrBlobUnknown)
	}
	if err != nil {
		return fmt.Errorf("s3: delete %s: %w", dgst, err)
	}
	if s.DeleteGrace > 0 && s.now().Sub(oi.LastModified) < s.DeleteGrace {
		return fmt.Errorf("%s: committed %s ago, within the delete grace: kept: %w",
			dgst, s.now().Sub(oi.LastModified).Round(time.Second), storage.ErrBlobUnknown)
	}
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("s3: delete %s: %w", dgst, err)
	}
	return nil
}

// list calls fn for every object under prefix (relative to the store's).
func (s *Store) list(ctx context.Context, prefix string, fn func(minio.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.c.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("s3: list %s: %w", prefix, oi.Err)
		}
		if err := fn(oi); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Walk implements storage.BlobStore. Keys that are not valid digests are
// skipped.
func (s *Store) Walk(ctx context.Context, fn func(storage.BlobInfo) error) error {
	return s.list(ctx, "blobs/", func(oi minio.ObjectInfo) error {
		rest := strings.TrimPrefix(oi.Key, s.prefix+"blobs/")
		alg, hexPart, ok := strings.Cut(rest, "/")
		if !ok {
			return nil
		}
		dgst := digest.NewDigestFromEncoded(digest.Algorithm(alg), hexPart)
		if checkDigest(dgst) != nil {
			return nil
		}
		return fn(storage.BlobInfo{Digest: dgst, Size: oi.Size, Modified: oi.LastModified})
	})
}

// BlobURL implements storage.BlobURLer with a presigned GET.
func (s *Store) BlobURL(ctx context.Context, dgst digest.Digest, ttl time.Duration) (*url.URL, error) {
	if err := checkDigest(dgst); err != nil {
		return nil, err
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, s.blobKey(dgst), ttl, url.Values{
		"response-content-type": {"application/octet-stream"},
	})
	if err != nil {
		return nil, fmt.Errorf("s3: presign %s: %w", dgst, err)
	}
	return u, nil
}

// bufPool holds part buffers of the default part size.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// partSizeFor is the size of part n (from 1): the configured size for the
// first thousand parts, then one more time it for each thousand, so that
// 10,000 parts hold 55,000 times the part size.
func (s *Store) partSizeFor(n int) int64 {
	return min(s.partSize*int64(1+(n-1)/1000), MaxPartSize, maxTail)
}

// partWriter streams bytes to a multipart upload at key, hashing them with
// h, one part in flight while the next fills. Nothing is sent until a
// whole part is there, so a blob smaller than a part ends as one PUT.
type partWriter struct {
	s     *Store
	key   string
	h     hash.Hash
	buf   []byte
	n     int64 // bytes written
	mp    string
	parts []partInfo
	// inflight is the part being sent, if any.
	inflight chan error
	pending  partInfo
	failed   error
	// onFlush, when set, is called when a part starts.
	onFlush func()
}

func (s *Store) newPartWriter(key string, h hash.Hash) *partWriter {
	return &partWriter{s: s, key: key, h: h}
}

// grow makes room in buf for at least one more read, up to the part size.
func (w *partWriter) grow(limit int64) {
	if int64(cap(w.buf)) >= limit {
		return
	}
	if w.buf == nil && limit == w.s.partSize {
		if bp := bufPool.Get().(*[]byte); cap(*bp) >= int(limit) {
			w.buf = (*bp)[:0]
			return
		}
	}
	c := max(int64(cap(w.buf))*2, 64<<10)
	nb := make([]byte, len(w.buf), min(c, limit))
	copy(nb, w.buf)
	w.buf = nb
}

// ReadFrom reads r to its end into parts.
func (w *partWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		limit := w.s.partSizeFor(w.nextPart())
		if int64(len(w.buf)) >= limit {
			if err := w.flush(limit); err != nil {
				return total, err
			}
			continue
		}
		w.grow(limit)
		if len(w.buf) == cap(w.buf) {
			continue
		}
		m, err := r.Read(w.buf[len(w.buf):min(int64(cap(w.buf)), limit)])
		if m > 0 {
			w.h.Write(w.buf[len(w.buf) : len(w.buf)+m])
			w.buf = w.buf[:len(w.buf)+m]
			w.n += int64(m)
			total += int64(m)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Write appends p.
func (w *partWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		limit := w.s.partSizeFor(w.nextPart())
		if int64(len(w.buf)) >= limit {
			if err := w.flush(limit); err != nil {
				return written, err
			}
			continue
		}
		w.grow(limit)
		m := min(len(p), int(limit)-len(w.buf))
		w.buf = append(w.buf, p[:m]...)
		w.h.Write(p[:m])
		w.n += int64(m)
		written += m
		p = p[m:]
	}
	return written, nil
}

// nextPart is the number the next part to be sent gets.
func (w *partWriter) nextPart() int {
	n := len(w.parts) + 1
	if w.inflight != nil {
		n++
	}
	return n
}

// flush sends the first size bytes of buf as the next part, in the
// background, after the part before it was sent.
func (w *partWriter) flush(size int64) error {
	if err := w.wait(); err != nil {
		return err
	}
	if w.mp == "" {
		id, err := w.s.c.NewMultipartUpload(context.Background(), w.s.bucket, w.key, minio.PutObjectOptions{})
		if err != nil {
			w.failed = fmt.Errorf("s3: start multipart upload: %w", err)
			return w.failed
		}
		w.mp = id
	}
	if w.onFlush != nil {
		w.onFlush()
	}
	data := w.buf[:size]
	rest := w.buf[size:]
	// The next part fills a buffer of its own while this one is sent.
	w.buf = nil
	w.grow(w.s.partSizeFor(len(w.parts) + 2))
	w.buf = append(w.buf, rest...)
	n := len(w.parts) + 1
	w.pending = partInfo{N: n, Size: size}
	ch := make(chan error, 1)
	w.inflight = ch
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), partTimeout)
		defer cancel()
		p, err := w.s.c.PutObjectPart(ctx, w.s.bucket, w.key, w.mp, n, bytes.NewReader(data), size,
			minio.PutObjectPartOptions{DisableContentSha256: true})
		if err == nil {
			w.pending.ETag = p.ETag
		}
		putBuf(data)
		ch <- err
	}()
	return nil
}

// partTimeout bounds the sending of one part.
const partTimeout = 10 * time.Minute

// putBuf returns a part buffer of the default size to the pool.
func putBuf(b []byte) {
	if cap(b) >= DefaultPartSize && cap(b) <= 2*DefaultPartSize {
		b = b[:0]
		bufPool.Put(&b)
	}
}

// wait waits for the part in flight.
func (w *partWriter) wait() error {
	if w.failed != nil {
		return w.failed
	}
	if w.inflight == nil {
		return nil
	}
	err := <-w.inflight
	w.inflight = nil
	if err != nil {
		w.failed = fmt.Errorf("s3: upload part %d: %w", w.pending.N, err)
		return w.failed
	}
	w.parts = append(w.parts, w.pending)
	return nil
}

// finish makes the object visible at key: one PUT when no part was sent,
// else the last part and CompleteMultipartUpload.
func (w *partWriter) finish(ctx context.Context) error {
	if err := w.wait(); err != nil {
		w.abort(ctx)
		return err
	}
	if w.mp == "" {
		_, err := w.s.c.PutObject(ctx, w.s.bucket, w.key, bytes.NewReader(w.buf), int64(len(w.buf)), "", "",
			minio.PutObjectOptions{DisableContentSha256: true, ContentType: "application/octet-stream"})
		return err
	}
	if len(w.buf) > 0 {
		if err := w.flush(int64(len(w.buf))); err != nil {
			w.abort(ctx)
			return err
		}
		if err := w.wait(); err != nil {
			w.abort(ctx)
			return err
		}
	}
	return completeParts(ctx, w.s, w.key, w.mp, w.parts)
}

func completeParts(ctx context.Context, s *Store, key, mp string, parts []partInfo) error {
	cps := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cps[i] = minio.CompletePart{PartNumber: p.N, ETag: p.ETag}
	}
	_, err := s.c.CompleteMultipartUpload(ctx, s.bucket, key, mp, cps, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("s3: complete multipart upload: %w", err)
	}
	return nil
}

// abort drops the multipart upload, if one was started.
func (w *partWriter) abort(ctx context.Context) {
	if w.inflight != nil {
		<-w.inflight
		w.inflight = nil
	}
	if w.mp != "" {
		_ = w.s.c.AbortMultipartUpload(context.WithoutCancel(ctx), w.s.bucket, w.key, w.mp)
		w.mp = ""
	}
}

// release gives the buffer back.
func (w *partWriter) release() {
	if w.inflight != nil {
		<-w.inflight
		w.inflight = nil
	}
	putBuf(w.buf)
	w.buf = nil
}
