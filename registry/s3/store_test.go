package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/s3"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

// testConfig returns the test bucket's config with a prefix of the test's
// own; scripts/services.sh starts a MinIO server and makes the bucket.
func testConfig(t testing.TB) s3.Config {
	t.Helper()
	raw := os.Getenv("CAIRN_TEST_S3")
	if raw == "" {
		t.Skip("CAIRN_TEST_S3 is not set: no S3 server to test against (scripts/services.sh start-minio starts MinIO; scripts/test always does)")
	}
	cfg, err := s3.ParseURL(raw)
	if err != nil {
		t.Fatalf("CAIRN_TEST_S3: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	cfg.Prefix += "test-" + hex.EncodeToString(b) + "/"
	return cfg
}

// rawClient talks to the test bucket directly, for looking behind the
// store's back.
func rawClient(t testing.TB, cfg s3.Config) minio.Core {
	t.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Secure: !cfg.Insecure, Region: cfg.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return minio.Core{Client: c}
}

// keys lists the objects under the config's prefix.
func keys(t testing.TB, cfg s3.Config) []string {
	t.Helper()
	var out []string
	for oi := range rawClient(t, cfg).Client.ListObjects(context.Background(), cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		out = append(out, strings.TrimPrefix(oi.Key, cfg.Prefix))
	}
	return out
}

// openStore opens a store on a fresh prefix and removes what it left when
// the test ends.
func openStore(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanPrefix(t, cfg) })
	return s
}

func cleanPrefix(t testing.TB, cfg s3.Config) {
	ctx := context.Background()
	c := rawClient(t, cfg)
	for m := range c.Client.ListIncompleteUploads(ctx, cfg.Bucket, cfg.Prefix, true) {
		if m.Err == nil {
			c.AbortMultipartUpload(ctx, cfg.Bucket, m.Key, m.UploadID)
		}
	}
	objs := c.Client.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix, Recursive: true})
	for e := range c.Client.RemoveObjects(ctx, cfg.Bucket, objs, minio.RemoveObjectsOptions{}) {
		t.Errorf("clean up %s: %v", e.ObjectName, e.Err)
	}
}

func TestStore_Conformance(t *testing.T) {
	storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore { return openStore(t, testConfig(t)) })
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>9) ^ seed
	}
	return b
}

func smallParts(t testing.TB) s3.Config {
	cfg := testConfig(t)
	cfg.PartSize = s3.MinPartSize
	return cfg
}

func read(t testing.TB, s storage.BlobStore, d digest.Digest) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStore_Multipart pushes blobs of several parts, by Put and by uploads
// closed and resumed at offsets that do not fall on part boundaries.
func TestStore_Multipart(t *testing.T) {
	const mib = 1 << 20
	b := payload(17*mib+123, 1)
	tests := []struct {
		name   string
		alg    digest.Algorithm
		chunks []int // upload up to these offsets, closing and resuming between; nil: Put
	}{
		{name: "Put sha256", alg: digest.SHA256},
		{name: "Put sha512", alg: digest.SHA512},
		{name: "upload in one request", alg: digest.SHA256, chunks: []int{len(b)}},
		{name: "upload in uneven chunks", alg: digest.SHA256, chunks: []int{3 * mib, 3*mib + 1, 7*mib + 6, 13*mib + 6, len(b)}},
		{name: "upload sha512", alg: digest.SHA512, chunks: []int{7 * mib, len(b)}},
		{name: "upload of small chunks", alg: digest.SHA256, chunks: []int{mib, 2 * mib, 3 * mib, 4 * mib, 5 * mib, 6 * mib, 11 * mib, len(b)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallParts(t)
			s := openStore(t, cfg)
			ctx := t.Context()
			d := tc.alg.FromBytes(b)
			if tc.chunks == nil {
				if err := s.Put(ctx, d, int64(len(b)), bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			} else {
				u, err := s.NewUpload(ctx)
				if err != nil {
					t.Fatal(err)
				}
				id, off := u.ID(), 0
				u.Close()
				for i, end := range tc.chunks {
					// Each chunk through a store of its own, as on
					// another node.
					node := openStore(t, cfg)
					u, err := node.ResumeUpload(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if u.Size() != int64(off) {
						t.Fatalf("resumed at %d, want %d", u.Size(), off)
					}
					if _, err := io.Copy(u, bytes.NewReader(b[off:end])); err != nil {
						t.Fatal(err)
					}
					off = end
					if i == len(tc.chunks)-1 {
						if err := u.Commit(ctx, d); err != nil {
							t.Fatalf("Commit: %v", err)
						}
					} else if err := u.Close(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := read(t, s, d); !bytes.Equal(got, b) {
				t.Fatalf("read back %d bytes, differing from the %d pushed", len(got), len(b))
			}
			if ks := keys(t, cfg); len(ks) != 1 || ks[0] != "blobs/"+tc.alg.String()+"/"+d.Encoded() {
				t.Errorf("objects after the commit: %q, want only the blob", ks)
			}
			var ups []string
			s.WalkUploads(ctx, func(id string, _ time.Time) error { ups = append(ups, id); return nil })
			if len(ups) != 0 {
				t.Errorf("uploads left: %q", ups)
			}
		})
	}
}

// TestStore_MultipartMismatch checks that a large blob with a wrong digest
// leaves nothing, by Put and by upload.
func TestStore_MultipartMismatch(t *testing.T) {
	b := payload(12<<20, 2)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(alg.String(), func(t *testing.T) {
			cfg := smallParts(t)
			s := openStore(t, cfg)
			ctx := t.Context()
			wrong := alg.FromBytes(b[1:])
			if err := s.Put(ctx, wrong, -1, bytes.NewReader(b)); !errors.Is(err, storage.ErrDigestMismatch) {
				t.Errorf("Put = %v, want ErrDigestMismatch", err)
			}
			if err := s.Put(ctx, alg.FromBytes(b), int64(len(b))+1, bytes.NewReader(b)); !errors.Is(err, storage.ErrSizeMismatch) {
				t.Errorf("Put = %v, want ErrSizeMismatch", err)
			}
			u, err := s.NewUpload(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(b); err != nil {
				t.Fatal(err)
			}
			if err := u.Commit(ctx, wrong); !errors.Is(err, storage.ErrDigestMismatch) {
				t.Errorf("Commit = %v, want ErrDigestMismatch", err)
			}
			if ks := keys(t, cfg); len(ks) != 0 {
				t.Errorf("objects left: %q", ks)
			}
			ups := 0
			s.WalkUploads(ctx, func(string, time.Time) error { ups++; return nil })
			if ups != 0 {
				t.Errorf("%d uploads left", ups)
			}
			var mps int
			for range rawClient(t, cfg).Client.ListIncompleteUploads(ctx, cfg.Bucket, cfg.Prefix, true) {
				mps++
			}
			if mps != 0 {
				t.Errorf("%d multipart uploads left", mps)
			}
		})
	}
}

// TestStore_AbortKeepsState checks that bytes written (whole parts
// included) after a resume are dropped by Abort and by a writer that never
// closes (a node killed), and that the upload resumes where it was saved.
func TestStore_AbortKeepsState(t *testing.T) {
	cfg := smallParts(t)
	s := openStore(t, cfg)
	ctx := t.Context()
	saved, lost, after := payload(6<<20, 3), payload(11<<20, 4), payload(2<<20, 5)
	u, _ := s.NewUpload(ctx)
	id := u.ID()
	u.Write(saved)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	for _, abort := range []bool{true, false} {
		u, err := s.ResumeUpload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(lost); err != nil {
			t.Fatal(err)
		}
		if abort {
			u.Abort()
		} // else: the node dies here
	}
	u, err := s.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if u.Size() != int64(len(saved)) {
		t.Fatalf("resumed at %d, want %d", u.Size(), len(saved))
	}
	u.Write(after)
	all := append(append([]byte{}, saved...), after...)
	if err := u.Commit(ctx, digest.FromBytes(all)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, digest.FromBytes(all)); !bytes.Equal(got, all) {
		t.Error("committed blob differs")
	}
}

// TestStore_TwoWriters resumes one upload on two nodes at once: one Close
// wins, the other fails, and the upload holds the winner's bytes.
func TestStore_TwoWriters(t *testing.T) {
	cfg := testConfig(t)
	a, b := openStore(t, cfg), openStore(t, cfg)
	ctx := t.Context()
	u, _ := a.NewUpload(ctx)
	id := u.ID()
	u.Write([]byte("start "))
	u.Close()
	ua, err := a.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := b.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ua.Write([]byte("from a"))
	ub.Write([]byte("from b, longer"))
	if err := ua.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ub.Close(); !errors.Is(err, s3.ErrUploadChanged) {
		t.Errorf("second Close = %v, want ErrUploadChanged", err)
	}
	u, err = b.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("start from a")
	if err := u.Commit(ctx, digest.FromBytes(want)); err != nil {
		t.Fatalf("Commit of the winner's bytes: %v", err)
	}
}

func TestStore_BadState(t *testing.T) {
	cfg := testConfig(t)
	s := openStore(t, cfg)
	ctx := t.Context()
	u, _ := s.NewUpload(ctx)
	u.Write([]byte("some bytes"))
	u.Close()
	c := rawClient(t, cfg)
	for _, st := range []string{`{`, `{"v":1,"size":10}`, `{"v":2}`, strings.Repeat(" ", 5<<20)} {
		if _, err := c.PutObject(ctx, cfg.Bucket, cfg.Prefix+"uploads/"+u.ID()+"/state", strings.NewReader(st), int64(len(st)), "", "", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResumeUpload(ctx, u.ID()); !errors.Is(err, s3.ErrBadState) {
			t.Errorf("ResumeUpload with state %.20q = %v, want ErrBadState", st, err)
		}
	}
	if err := s.DeleteUpload(ctx, u.ID()); err != nil {
		t.Errorf("DeleteUpload of a damaged upload: %v", err)
	}
	if ks := keys(t, cfg); len(ks) != 0 {
		t.Errorf("objects left: %q", ks)
	}
}

// TestStore_Orphans checks that multipart uploads no state knows of (a Put
// cut off by a crash) are listed by WalkUploads and removed by
// DeleteUpload.
func TestStore_Orphans(t *testing.T) {
	cfg := testConfig(t)
	s := openStore(t, cfg)
	ctx := t.Context()
	c := rawClient(t, cfg)
	d := digest.FromString("a blob whose Put died")
	key := cfg.Prefix + "blobs/sha256/" + d.Encoded()
	mp, err := c.NewMultipartUpload(ctx, cfg.Bucket, key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	s.WalkUploads(ctx, func(id string, mod time.Time) error {
		ids = append(ids, id)
		if time.Since(mod) > time.Minute {
			t.Errorf("orphan modified %v", mod)
		}
		return nil
	})
	if len(ids) != 1 || !strings.HasPrefix(ids[0], "mp-") {
		t.Fatalf("WalkUploads = %q, want the orphan", ids)
	}
	if _, err := s.ResumeUpload(ctx, ids[0]); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Errorf("ResumeUpload(orphan) = %v, want ErrUploadUnknown", err)
	}
	if err := s.DeleteUpload(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUpload(ctx, ids[0]); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Errorf("second DeleteUpload = %v", err)
	}
	if _, err := c.ListObjectParts(ctx, cfg.Bucket, key, mp, 0, 1); err == nil {
		t.Error("the multipart upload is still there")
	}
}

func TestStore_DeleteGrace(t *testing.T) {
	s := openStore(t, testConfig(t))
	ctx := t.Context()
	b := []byte("recent")
	d := digest.FromBytes(b)
	if err := s.Put(ctx, d, -1, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	s.DeleteGrace = time.Hour
	if err := s.Delete(ctx, d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("Delete within the grace = %v, want ErrBlobUnknown", err)
	}
	if _, err := s.Stat(ctx, d); err != nil {
		t.Errorf("the blob is gone: %v", err)
	}
	s.DeleteGrace = 0
	if err := s.Delete(ctx, d); err != nil {
		t.Error(err)
	}
}

// TestStore_TouchOnCommit checks that committing a blob that exists renews
// its time, which the collector and DeleteGrace go by.
func TestStore_TouchOnCommit(t *testing.T) {
	s := openStore(t, testConfig(t))
	ctx := t.Context()
	b := []byte("touched")
	d := digest.FromBytes(b)
	s.Put(ctx, d, -1, bytes.NewReader(b))
	mod := func() time.Time {
		var m time.Time
		s.Walk(ctx, func(bi storage.BlobInfo) error { m = bi.Modified; return nil })
		return m
	}
	first := mod()
	time.Sleep(1100 * time.Millisecond) // S3 times have one-second resolution
	u, _ := s.NewUpload(ctx)
	u.Write(b)
	if err := u.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	if !mod().After(first) {
		t.Errorf("modified %v after the second commit, first %v", mod(), first)
	}
}

func TestStore_BlobURL(t *testing.T) {
	s := openStore(t, testConfig(t))
	ctx := t.Context()
	b := payload(100000, 6)
	d := digest.FromBytes(b)
	if err := s.Put(ctx, d, -1, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	u, err := s.BlobURL(ctx, d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, b[10:20]) {
		t.Errorf("GET presigned URL with a range: %s %q", resp.Status, got)
	}
	if _, err := s.BlobURL(ctx, "sha256:../x", time.Minute); !errors.Is(err, storage.ErrUnsupportedDigest) {
		t.Errorf("BlobURL(bad digest) = %v", err)
	}
}

// TestStore_ConcurrentUploads pushes through several stores at once, as
// several nodes do.
func TestStore_ConcurrentUploads(t *testing.T) {
	cfg := smallParts(t)
	var wg sync.WaitGroup
	for i := range 4 {
		s := openStore(t, cfg)
		wg.Go(func() {
			b := payload(6<<20+i, byte(i))
			u, err := s.NewUpload(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			u.Write(b)
			if err := u.Commit(t.Context(), digest.FromBytes(b)); err != nil {
				t.Error(err)
				return
			}
			if got := read(t, s, digest.FromBytes(b)); !bytes.Equal(got, b) {
				t.Errorf("blob %d differs", i)
			}
		})
	}
	wg.Wait()
}

func TestOpen_NoBucket(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bucket = "no-such-bucket-here"
	if _, err := s3.Open(t.Context(), cfg); !errors.Is(err, s3.ErrNoBucket) {
		t.Errorf("Open = %v, want ErrNoBucket", err)
	}
}
