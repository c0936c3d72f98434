package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"

	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha384 and sha512 with go-digest
)

// errStop is returned by walk callbacks to check that the error comes back.
var errStop = errors.New("stop")

// TestBlobStore runs the conformance suite for storage.BlobStore. newStore
// must return a new, empty store each time it is called.
func TestBlobStore(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("Put", func(t *testing.T) { testPut(t, newStore) })
	t.Run("PutDigestMismatch", func(t *testing.T) { testPutDigestMismatch(t, newStore) })
	t.Run("PutSizeMismatch", func(t *testing.T) { testPutSizeMismatch(t, newStore) })
	t.Run("PutExisting", func(t *testing.T) { testPutExisting(t, newStore) })
	t.Run("UnsupportedDigest", func(t *testing.T) { testUnsupportedDigest(t, newStore) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, newStore) })
	t.Run("OpenSeek", func(t *testing.T) { testOpenSeek(t, newStore) })
	t.Run("Upload", func(t *testing.T) { testUpload(t, newStore) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore) })
	t.Run("Walk", func(t *testing.T) { testWalk(t, newStore) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore) })
}

// payload returns n deterministic bytes that differ with seed.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i>>8) ^ seed
	}
	return b
}

func put(t *testing.T, s storage.BlobStore, alg digest.Algorithm, b []byte) digest.Digest {
	t.Helper()
	d := alg.FromBytes(b)
	if err := s.Put(t.Context(), d, int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatalf("Put(%s): %v", d, err)
	}
	return d
}

// checkBlob checks that d is visible with exactly the content want.
func checkBlob(t *testing.T, s storage.BlobStore, d digest.Digest, want []byte) {
	t.Helper()
	size, err := s.Stat(t.Context(), d)
	if err != nil {
		t.Fatalf("Stat(%s): %v", d, err)
	}
	if size != int64(len(want)) {
		t.Errorf("Stat(%s) = %d, want %d", d, size, len(want))
	}
	rc, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("content of %s: got %d bytes %.16x..., want %d bytes %.16x...", d, len(got), got, len(want), want)
	}
	if got, ok := walkBlobs(t, s)[d]; !ok {
		t.Errorf("Walk does not list %s", d)
	} else if got != int64(len(want)) {
		t.Errorf("Walk lists %s with size %d, want %d", d, got, len(want))
	}
}

// checkAbsent checks that d is not visible through any method.
func checkAbsent(t *testing.T, s storage.BlobStore, d digest.Digest) {
	t.Helper()
	if _, err := s.Stat(t.Context(), d); !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("Stat(%s) = %v, want ErrBlobUnknown", d, err)
	}
	rc, err := s.Open(t.Context(), d)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, storage.ErrBlobUnknown) {
		t.Errorf("Open(%s) = %v, want ErrBlobUnknown", d, err)
	}
	if _, ok := walkBlobs(t, s)[d]; ok {
		t.Errorf("Walk lists %s", d)
	}
}

// walkBlobs returns what Walk lists, failing on a blob listed twice.
func walkBlobs(t *testing.T, s storage.BlobStore) map[digest.Digest]int64 {
	t.Helper()
	got := map[digest.Digest]int64{}
	err := s.Walk(t.Context(), func(bi storage.BlobInfo) error {
		if _, dup := got[bi.Digest]; dup {
			t.Errorf("Walk lists %s twice", bi.Digest)
		}
		got[bi.Digest] = bi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// walkUploads returns the ids WalkUploads lists.
func walkUploads(t *testing.T, s storage.BlobStore) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	err := s.WalkUploads(t.Context(), func(id string, modified time.Time) error {
		if _, dup := got[id]; dup {
			t.Errorf("WalkUploads lists %s twice", id)
		}
		got[id] = modified
		return nil
	})
	if err != nil {
		t.Fatalf("WalkUploads: %v", err)
	}
	return got
}

// checkEmpty checks that the store shows no blob and no upload.
func checkEmpty(t *testing.T, s storage.BlobStore) {
	t.Helper()
	if got := walkBlobs(t, s); len(got) != 0 {
		t.Errorf("Walk lists %v, want nothing", got)
	}
	if got := walkUploads(t, s); len(got) != 0 {
		t.Errorf("WalkUploads lists %v, want nothing", got)
	}
}

func write(t *testing.T, u storage.Upload, b []byte) {
	t.Helper()
	n, err := u.Write(b)
	if err != nil || n != len(b) {
		t.Fatalf("upload %s: Write(%d bytes) = %d, %v", u.ID(), len(b), n, err)
	}
}

func closeUpload(t *testing.T, u storage.Upload) {
	t.Helper()
	if err := u.Close(); err != nil {
		t.Fatalf("upload %s: Close: %v", u.ID(), err)
	}
}

func resume(t *testing.T, s storage.BlobStore, id string, wantSize int64) storage.Upload {
	t.Helper()
	u, err := s.ResumeUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("ResumeUpload(%s): %v", id, err)
	}
	if u.ID() != id {
		t.Errorf("ResumeUpload(%s).ID() = %s", id, u.ID())
	}
	if u.Size() != wantSize {
		t.Errorf("ResumeUpload(%s).Size() = %d, want %d", id, u.Size(), wantSize)
	}
	return u
}

func newUpload(t *testing.T, s storage.BlobStore) storage.Upload {
	t.Helper()
	u, err := s.NewUpload(t.Context())
	if err != nil {
		t.Fatalf("NewUpload: %v", err)
	}
	if u.ID() == "" {
		t.Fatal("NewUpload: empty ID")
	}
	if u.Size() != 0 {
		t.Errorf("NewUpload: Size() = %d, want 0", u.Size())
	}
	return u
}

// checkUploadGone checks that id can no longer be resumed or listed.
func checkUploadGone(t *testing.T, s storage.BlobStore, id string) {
	t.Helper()
	u, err := s.ResumeUpload(t.Context(), id)
	if err == nil {
		u.Close()
	}
	if !errors.Is(err, storage.ErrUploadUnknown) {
		t.Errorf("ResumeUpload(%s) = %v, want ErrUploadUnknown", id, err)
	}
	if _, ok := walkUploads(t, s)[id]; ok {
		t.Errorf("WalkUploads lists %s", id)
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func testPut(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	tests := []struct {
		name    string
		alg     digest.Algorithm
		size    int
		unknown bool // pass size -1
	}{
		{name: "sha256", alg: digest.SHA256, size: 1000},
		{name: "sha512", alg: digest.SHA512, size: 1000},
		{name: "sha256 unknown size", alg: digest.SHA256, size: 1000, unknown: true},
		{name: "sha512 unknown size", alg: digest.SHA512, size: 1000, unknown: true},
		{name: "sha256 empty", alg: digest.SHA256, size: 0},
		{name: "sha512 empty", alg: digest.SHA512, size: 0},
		{name: "sha256 several MiB", alg: digest.SHA256, size: 3<<20 + 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			b := payload(tc.size, 1)
			d := tc.alg.FromBytes(b)
			size := int64(len(b))
			if tc.unknown {
				size = -1
			}
			if err := s.Put(t.Context(), d, size, bytes.NewReader(b)); err != nil {
				t.Fatalf("Put: %v", err)
			}
			checkBlob(t, s, d, b)
			if got := walkBlobs(t, s); len(got) != 1 {
				t.Errorf("Walk lists %d blobs, want 1: %v", len(got), got)
			}
			if got := walkUploads(t, s); len(got) != 0 {
				t.Errorf("Put left uploads behind: %v", got)
			}
		})
	}
}

func testPutDigestMismatch(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	b := payload(1000, 2)
	other := payload(1000, 3)
	tests := []struct {
		name string
		dgst digest.Digest
		size int64
	}{
		{name: "sha256", dgst: digest.SHA256.FromBytes(other), size: int64(len(b))},
		{name: "sha512", dgst: digest.SHA512.FromBytes(other), size: int64(len(b))},
		{name: "sha256 unknown size", dgst: digest.SHA256.FromBytes(other), size: -1},
		{name: "sha512 of empty", dgst: digest.SHA512.FromBytes(nil), size: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			err := s.Put(t.Context(), tc.dgst, tc.size, bytes.NewReader(b))
			if !errors.Is(err, storage.ErrDigestMismatch) {
				t.Fatalf("Put = %v, want ErrDigestMismatch", err)
			}
			checkAbsent(t, s, tc.dgst)
			checkAbsent(t, s, tc.dgst.Algorithm().FromBytes(b))
			checkEmpty(t, s)
		})
	}
}

func testPutSizeMismatch(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	b := payload(1000, 4)
	tests := []struct {
		name string
		alg  digest.Algorithm
		size int64
	}{
		{name: "short", alg: digest.SHA256, size: int64(len(b)) + 1},
		{name: "long", alg: digest.SHA256, size: int64(len(b)) - 1},
		{name: "zero", alg: digest.SHA256, size: 0},
		{name: "sha512 long", alg: digest.SHA512, size: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			d := tc.alg.FromBytes(b)
			err := s.Put(t.Context(), d, tc.size, bytes.NewReader(b))
			if !errors.Is(err, storage.ErrSizeMismatch) {
				t.Fatalf("Put(size %d of %d) = %v, want ErrSizeMismatch", tc.size, len(b), err)
			}
			checkAbsent(t, s, d)
			checkEmpty(t, s)
		})
	}
}

func testPutExisting(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(alg.String(), func(t *testing.T) {
			s := newStore(t)
			b := payload(5000, 5)
			d := put(t, s, alg, b)
			for _, size := range []int64{int64(len(b)), -1} {
				r := bytes.NewReader(b)
				if err := s.Put(t.Context(), d, size, r); err != nil {
					t.Fatalf("second Put(size %d): %v", size, err)
				}
				if r.Len() != 0 {
					t.Errorf("second Put(size %d) left %d bytes of the reader unread", size, r.Len())
				}
			}
			checkBlob(t, s, d, b)
			if got := walkBlobs(t, s); len(got) != 1 {
				t.Errorf("Walk lists %d blobs, want 1: %v", len(got), got)
			}
			if got := walkUploads(t, s); len(got) != 0 {
				t.Errorf("Put left uploads behind: %v", got)
			}
		})
	}
}

// badDigests are digests no store may accept: other algorithms, malformed
// encodings and attempts to name paths.
func badDigests() []struct{ name, dgst string } {
	b := payload(100, 6)
	hex256 := digest.SHA256.FromBytes(b).Encoded()
	return []struct{ name, dgst string }{
		{"sha384", digest.SHA384.FromBytes(b).String()},
		{"md5", "md5:" + strings.Repeat("0", 32)},
		{"unknown algorithm", "blake3:" + hex256},
		{"not hex", "sha256:" + strings.Repeat("z", 64)},
		{"upper-case hex", "sha256:" + strings.ToUpper(hex256)},
		{"short hex", "sha256:" + hex256[:63]},
		{"long hex", "sha256:" + hex256 + "0"},
		{"sha512 with sha256 length", "sha512:" + hex256},
		{"empty encoding", "sha256:"},
		{"no separator", "sha256" + hex256},
		{"empty", ""},
		{"only separator", ":"},
		{"parent", "sha256:../../x"},
		{"deep parent", "sha256:../../../../../../../../etc/passwd"},
		{"absolute", "sha512:/etc/passwd"},
		{"hex then parent", "sha256:" + hex256[:58] + "/../.."},
		{"algorithm is path", "../sha256:" + hex256},
		{"algorithm with slash", "sha256/../../x:" + hex256},
		{"nul byte", "sha256:" + hex256[:63] + "\x00"},
		{"trailing newline", "sha256:" + hex256 + "\n"},
	}
}

func testUnsupportedDigest(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	content := payload(100, 6)
	for _, tc := range badDigests() {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := t.Context()
			d := digest.Digest(tc.dgst)
			wantUnsupported := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, storage.ErrUnsupportedDigest) {
					t.Errorf("%s(%q) = %v, want ErrUnsupportedDigest", op, tc.dgst, err)
				}
			}
			_, err := s.Stat(ctx, d)
			wantUnsupported("Stat", err)
			rc, err := s.Open(ctx, d)
			if err == nil {
				rc.Close()
			}
			wantUnsupported("Open", err)
			wantUnsupported("Put", s.Put(ctx, d, int64(len(content)), bytes.NewReader(content)))
			wantUnsupported("Put with unknown size", s.Put(ctx, d, -1, bytes.NewReader(content)))
			wantUnsupported("Delete", s.Delete(ctx, d))

			u := newUpload(t, s)
			write(t, u, content)
			wantUnsupported("Commit", u.Commit(ctx, d))
			if err := u.Cancel(ctx); err != nil {
				t.Errorf("Cancel after a refused Commit: %v", err)
			}
			checkEmpty(t, s)
		})
	}
}

func testMissing(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(alg.String(), func(t *testing.T) {
			s := newStore(t)
			put(t, s, alg, payload(10, 7))
			missing := alg.FromBytes(payload(10, 8))
			checkAbsent(t, s, missing)
			if err := s.Delete(t.Context(), missing); !errors.Is(err, storage.ErrBlobUnknown) {
				t.Errorf("Delete(missing) = %v, want ErrBlobUnknown", err)
			}
		})
	}
}

func testOpenSeek(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	s := newStore(t)
	b := payload(1000, 9)
	d := put(t, s, digest.SHA256, b)
	rc, err := s.Open(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Steps run in order on one reader, so SeekCurrent starts where the
	// previous step stopped reading.
	steps := []struct {
		name    string
		offset  int64
		whence  int
		wantPos int64
		read    int
	}{
		{name: "middle", offset: 100, whence: io.SeekStart, wantPos: 100, read: 50},
		{name: "forward from current", offset: 250, whence: io.SeekCurrent, wantPos: 400, read: 100},
		{name: "backward from current", offset: -300, whence: io.SeekCurrent, wantPos: 200, read: 1},
		{name: "from end", offset: -10, whence: io.SeekEnd, wantPos: 990, read: 10},
		{name: "start", offset: 0, whence: io.SeekStart, wantPos: 0, read: 1000},
		{name: "last byte", offset: 999, whence: io.SeekStart, wantPos: 999, read: 1},
	}
	for _, st := range steps {
		pos, err := rc.Seek(st.offset, st.whence)
		if err != nil || pos != st.wantPos {
			t.Fatalf("%s: Seek(%d, %d) = %d, %v, want %d", st.name, st.offset, st.whence, pos, err, st.wantPos)
		}
		got := make([]byte, st.read)
		if _, err := io.ReadFull(rc, got); err != nil {
			t.Fatalf("%s: read %d bytes at %d: %v", st.name, st.read, pos, err)
		}
		if want := b[pos : pos+int64(st.read)]; !bytes.Equal(got, want) {
			t.Errorf("%s: read at %d = %.8x..., want %.8x...", st.name, pos, got, want)
		}
	}
	if pos, err := rc.Seek(0, io.SeekEnd); err != nil || pos != int64(len(b)) {
		t.Errorf("Seek(0, SeekEnd) = %d, %v, want %d", pos, err, len(b))
	}
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at end = %d, %v, want 0, EOF", n, err)
	}
}

func testUpload(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	t.Run("ResumeCommit", func(t *testing.T) {
		s := newStore(t)
		a, b, c := payload(1000, 10), payload(1, 11), payload(3<<20, 12)
		u := newUpload(t, s)
		id := u.ID()
		write(t, u, a)
		write(t, u, b)
		if u.Size() != int64(len(a)+len(b)) {
			t.Errorf("Size() = %d, want %d", u.Size(), len(a)+len(b))
		}
		closeUpload(t, u)
		if _, ok := walkUploads(t, s)[id]; !ok {
			t.Errorf("WalkUploads does not list the closed upload %s", id)
		}
		u = resume(t, s, id, int64(len(a)+len(b)))
		if n, err := io.Copy(u, bytes.NewReader(c)); err != nil || n != int64(len(c)) {
			t.Fatalf("io.Copy into upload = %d, %v", n, err)
		}
		closeUpload(t, u)
		all := concat(a, b, c)
		u = resume(t, s, id, int64(len(all)))
		d := digest.SHA256.FromBytes(all)
		checkAbsent(t, s, d)
		if err := u.Commit(t.Context(), d); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		checkBlob(t, s, d, all)
		checkUploadGone(t, s, id)
	})

	t.Run("CommitSHA512", func(t *testing.T) {
		s := newStore(t)
		a, b := payload(700, 13), payload(300, 14)
		u := newUpload(t, s)
		id := u.ID()
		write(t, u, a)
		closeUpload(t, u)
		u = resume(t, s, id, int64(len(a)))
		write(t, u, b)
		d := digest.SHA512.FromBytes(concat(a, b))
		if err := u.Commit(t.Context(), d); err != nil {
			t.Fatalf("Commit(%s): %v", d, err)
		}
		checkBlob(t, s, d, concat(a, b))
		checkAbsent(t, s, digest.SHA256.FromBytes(concat(a, b)))
		checkUploadGone(t, s, id)
	})

	t.Run("CommitMismatch", func(t *testing.T) {
		content := payload(1000, 15)
		tests := []struct {
			name   string
			dgst   digest.Digest
			resume bool
		}{
			{name: "sha256", dgst: digest.SHA256.FromBytes(payload(1000, 16))},
			{name: "sha512", dgst: digest.SHA512.FromBytes(payload(1000, 16))},
			{name: "sha256 of a prefix", dgst: digest.SHA256.FromBytes(content[:999])},
			{name: "sha256 after resume", dgst: digest.SHA256.FromBytes(payload(1000, 16)), resume: true},
			{name: "sha512 after resume", dgst: digest.SHA512.FromBytes(payload(1000, 16)), resume: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				u := newUpload(t, s)
				id := u.ID()
				write(t, u, content)
				if tc.resume {
					closeUpload(t, u)
					u = resume(t, s, id, int64(len(content)))
				}
				if err := u.Commit(t.Context(), tc.dgst); !errors.Is(err, storage.ErrDigestMismatch) {
					t.Fatalf("Commit = %v, want ErrDigestMismatch", err)
				}
				checkAbsent(t, s, tc.dgst)
				checkAbsent(t, s, tc.dgst.Algorithm().FromBytes(content))
				checkUploadGone(t, s, id)
				checkEmpty(t, s)
			})
		}
	})

	t.Run("CommitExisting", func(t *testing.T) {
		s := newStore(t)
		b := payload(1000, 17)
		d := put(t, s, digest.SHA256, b)
		u := newUpload(t, s)
		write(t, u, b)
		if err := u.Commit(t.Context(), d); err != nil {
			t.Fatalf("Commit of an existing blob: %v", err)
		}
		checkBlob(t, s, d, b)
		checkUploadGone(t, s, u.ID())
		if got := walkBlobs(t, s); len(got) != 1 {
			t.Errorf("Walk lists %d blobs, want 1: %v", len(got), got)
		}
		if got := walkUploads(t, s); len(got) != 0 {
			t.Errorf("uploads left behind: %v", got)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
			t.Run(alg.String(), func(t *testing.T) {
				s := newStore(t)
				u := newUpload(t, s)
				closeUpload(t, u)
				u = resume(t, s, u.ID(), 0)
				d := alg.FromBytes(nil)
				if err := u.Commit(t.Context(), d); err != nil {
					t.Fatalf("Commit(%s): %v", d, err)
				}
				checkBlob(t, s, d, nil)
				checkUploadGone(t, s, u.ID())
			})
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		tests := []struct {
			name   string
			resume bool
		}{
			{name: "new"},
			{name: "resumed", resume: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				b := payload(1000, 18)
				u := newUpload(t, s)
				id := u.ID()
				write(t, u, b)
				if tc.resume {
					closeUpload(t, u)
					u = resume(t, s, id, int64(len(b)))
				}
				if err := u.Cancel(t.Context()); err != nil {
					t.Fatalf("Cancel: %v", err)
				}
				checkUploadGone(t, s, id)
				checkAbsent(t, s, digest.SHA256.FromBytes(b))
				checkEmpty(t, s)
			})
		}
	})

	t.Run("Abort", func(t *testing.T) {
		s := newStore(t)
		a, b, c := payload(1000, 19), payload(500, 20), payload(200, 21)
		u := newUpload(t, s)
		id := u.ID()
		write(t, u, a)
		closeUpload(t, u)
		u = resume(t, s, id, int64(len(a)))
		write(t, u, b)
		if err := u.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if _, ok := walkUploads(t, s)[id]; !ok {
			t.Errorf("WalkUploads does not list the aborted upload %s", id)
		}
		u = resume(t, s, id, int64(len(a)))
		write(t, u, c)
		d := digest.SHA256.FromBytes(concat(a, c))
		if err := u.Commit(t.Context(), d); err != nil {
			t.Fatalf("Commit after Abort: %v", err)
		}
		checkBlob(t, s, d, concat(a, c))
	})

	t.Run("ResumeUnknown", func(t *testing.T) {
		s := newStore(t)
		u := newUpload(t, s)
		write(t, u, payload(10, 22))
		closeUpload(t, u)
		id := u.ID()
		ids := []struct{ name, id string }{
			{"empty", ""},
			{"parent", "../x"},
			{"deep parent", "../../../../../../etc/passwd"},
			{"absolute", "/etc/passwd"},
			{"dot", "."},
			{"dot dot", ".."},
			{"very long", strings.Repeat("a", 10000)},
			{"unknown", strings.Repeat("0", len(id))},
			{"existing with suffix", id + ".state"},
			{"existing through a path", id + "/../" + id},
			{"existing with slash", id + "/"},
			{"nul byte", id + "\x00"},
		}
		for _, tc := range ids {
			t.Run(tc.name, func(t *testing.T) {
				u, err := s.ResumeUpload(t.Context(), tc.id)
				if err == nil {
					u.Close()
				}
				if !errors.Is(err, storage.ErrUploadUnknown) {
					t.Errorf("ResumeUpload(%.40q) = %v, want ErrUploadUnknown", tc.id, err)
				}
				if err := s.DeleteUpload(t.Context(), tc.id); !errors.Is(err, storage.ErrUploadUnknown) {
					t.Errorf("DeleteUpload(%.40q) = %v, want ErrUploadUnknown", tc.id, err)
				}
			})
		}
		// None of that touched the real upload.
		resume(t, s, id, 10).Close()
	})

	t.Run("WalkUploads", func(t *testing.T) {
		s := newStore(t)
		before := time.Now().Add(-time.Minute)
		closed := newUpload(t, s)
		write(t, closed, payload(10, 23))
		closeUpload(t, closed)
		empty := newUpload(t, s)
		closeUpload(t, empty)
		open := newUpload(t, s) // still being written
		write(t, open, payload(10, 24))
		committed := newUpload(t, s)
		write(t, committed, payload(10, 25))
		if err := committed.Commit(t.Context(), digest.SHA256.FromBytes(payload(10, 25))); err != nil {
			t.Fatal(err)
		}
		cancelled := newUpload(t, s)
		write(t, cancelled, payload(10, 26))
		if err := cancelled.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		failed := newUpload(t, s)
		write(t, failed, payload(10, 27))
		if err := failed.Commit(t.Context(), digest.SHA256.FromBytes(nil)); !errors.Is(err, storage.ErrDigestMismatch) {
			t.Fatalf("Commit = %v, want ErrDigestMismatch", err)
		}
		got := walkUploads(t, s)
		want := map[string]bool{closed.ID(): true, empty.ID(): true, open.ID(): true}
		for id := range want {
			if _, ok := got[id]; !ok {
				t.Errorf("WalkUploads does not list %s", id)
			}
		}
		for id, mod := range got {
			if !want[id] {
				t.Errorf("WalkUploads lists %s, which was committed, cancelled or never started", id)
			}
			if mod.Before(before) || mod.After(time.Now().Add(time.Minute)) {
				t.Errorf("WalkUploads: %s modified %v, want about now", id, mod)
			}
		}
		closeUpload(t, open)

		var calls int
		err := s.WalkUploads(t.Context(), func(string, time.Time) error { calls++; return errStop })
		if !errors.Is(err, errStop) || calls != 1 {
			t.Errorf("WalkUploads with a failing callback = %v after %d calls, want errStop after 1", err, calls)
		}
	})

	t.Run("DeleteUpload", func(t *testing.T) {
		tests := []struct {
			name   string
			closed bool
		}{
			{name: "closed", closed: true},
			{name: "left by a crash", closed: false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				keep := newUpload(t, s)
				write(t, keep, payload(10, 28))
				closeUpload(t, keep)
				u := newUpload(t, s)
				id := u.ID()
				write(t, u, payload(1000, 29))
				if tc.closed {
					closeUpload(t, u)
				}
				if err := s.DeleteUpload(t.Context(), id); err != nil {
					t.Fatalf("DeleteUpload: %v", err)
				}
				checkUploadGone(t, s, id)
				if err := s.DeleteUpload(t.Context(), id); !errors.Is(err, storage.ErrUploadUnknown) {
					t.Errorf("second DeleteUpload = %v, want ErrUploadUnknown", err)
				}
				if !tc.closed {
					u.Cancel(t.Context()) // release it; the upload is gone already
				}
				checkUploadGone(t, s, id)
				resume(t, s, keep.ID(), 10).Close()
			})
		}
	})
}

func testDelete(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(alg.String(), func(t *testing.T) {
			s := newStore(t)
			ctx := t.Context()
			b, other := payload(100, 30), payload(100, 31)
			d := put(t, s, alg, b)
			od := put(t, s, alg, other)
			if err := s.Delete(ctx, d); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			checkAbsent(t, s, d)
			checkBlob(t, s, od, other)
			if err := s.Delete(ctx, d); !errors.Is(err, storage.ErrBlobUnknown) {
				t.Errorf("second Delete = %v, want ErrBlobUnknown", err)
			}
			// A deleted blob can be pushed again.
			put(t, s, alg, b)
			checkBlob(t, s, d, b)
		})
	}
}

func testWalk(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	s := newStore(t)
	want := map[digest.Digest]int64{}
	for i := range 10 {
		alg := digest.SHA256
		if i%3 == 0 {
			alg = digest.SHA512
		}
		b := payload(i*100, byte(40+i))
		want[put(t, s, alg, b)] = int64(len(b))
	}
	before := time.Now().Add(-time.Minute)
	err := s.Walk(t.Context(), func(bi storage.BlobInfo) error {
		if bi.Modified.Before(before) || bi.Modified.After(time.Now().Add(time.Minute)) {
			t.Errorf("Walk: %s modified %v, want about now", bi.Digest, bi.Modified)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := walkBlobs(t, s)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Walk lists %v, want %v", got, want)
	}
	var calls int
	err = s.Walk(t.Context(), func(storage.BlobInfo) error { calls++; return errStop })
	if !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("Walk with a failing callback = %v after %d calls, want errStop after 1", err, calls)
	}
}

func testConcurrent(t *testing.T, newStore func(t *testing.T) storage.BlobStore) {
	const workers = 8
	b := payload(256<<10, 50)
	tests := []struct {
		name string
		alg  digest.Algorithm
		push func(t *testing.T, s storage.BlobStore, d digest.Digest) error
	}{
		{
			name: "Put",
			alg:  digest.SHA256,
			push: func(t *testing.T, s storage.BlobStore, d digest.Digest) error {
				return s.Put(t.Context(), d, int64(len(b)), bytes.NewReader(b))
			},
		},
		{
			name: "Put sha512",
			alg:  digest.SHA512,
			push: func(t *testing.T, s storage.BlobStore, d digest.Digest) error {
				return s.Put(t.Context(), d, -1, bytes.NewReader(b))
			},
		},
		{
			name: "Commit",
			alg:  digest.SHA256,
			push: func(t *testing.T, s storage.BlobStore, d digest.Digest) error {
				u, err := s.NewUpload(t.Context())
				if err != nil {
					return err
				}
				if _, err := u.Write(b); err != nil {
					u.Cancel(t.Context())
					return err
				}
				return u.Commit(t.Context(), d)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			d := tc.alg.FromBytes(b)
			errs := make([]error, workers)
			var wg sync.WaitGroup
			for i := range workers {
				wg.Go(func() { errs[i] = tc.push(t, s, d) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
				}
			}
			checkBlob(t, s, d, b)
			if got := walkBlobs(t, s); len(got) != 1 {
				t.Errorf("Walk lists %d blobs, want 1: %v", len(got), got)
			}
			if got := walkUploads(t, s); len(got) != 0 {
				t.Errorf("uploads left behind: %v", got)
			}
		})
	}
}
