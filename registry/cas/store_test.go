package cas_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

func newStore(t *testing.T) *cas.Store {
	t.Helper()
	s, err := cas.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore_Conformance(t *testing.T) {
	storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore { return newStore(t) })
}

func TestStore_Conformance_NoSync(t *testing.T) {
	storagetest.TestBlobStore(t, func(t *testing.T) storage.BlobStore {
		s := newStore(t)
		s.NoSync = true
		return s
	})
}

func TestStore_BlobFile(t *testing.T) {
	b := []byte("a committed blob is a read-only file named by its digest")
	tests := []struct {
		name   string
		alg    digest.Algorithm
		upload bool
	}{
		{name: "Put sha256", alg: digest.SHA256},
		{name: "Put sha512", alg: digest.SHA512},
		{name: "Commit sha256", alg: digest.SHA256, upload: true},
		{name: "Commit sha512", alg: digest.SHA512, upload: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := t.Context()
			d := tc.alg.FromBytes(b)
			if tc.upload {
				u, err := s.NewUpload(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := u.Write(b); err != nil {
					t.Fatal(err)
				}
				if err := u.Commit(ctx, d); err != nil {
					t.Fatal(err)
				}
			} else if err := s.Put(ctx, d, int64(len(b)), bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(s.Root(), "blobs", tc.alg.String(), d.Encoded())
			if p, err := s.BlobPath(d); err != nil || p != want {
				t.Errorf("BlobPath = %q, %v, want %q", p, err, want)
			}
			fi, err := os.Stat(want)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o444 {
				t.Errorf("mode of %s = %v, want a regular file with -r--r--r--", want, fi.Mode())
			}
			got, err := os.ReadFile(want)
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("content of %s = %q, %v, want %q", want, got, err, b)
			}
			if ingest := listDir(t, filepath.Join(s.Root(), "ingest")); len(ingest) != 0 {
				t.Errorf("ingest/ holds %v after the commit", ingest)
			}
		})
	}
}

// TestStore_ResumeAfterCrash covers an upload whose process died between a
// Write and Close: the ingest file holds bytes the saved state (if any) does
// not describe, and ResumeUpload must hash the file again.
func TestStore_ResumeAfterCrash(t *testing.T) {
	written := []byte("bytes written through the upload, ")
	onDisk := []byte("bytes that reached the file before the crash, ")
	after := []byte("and bytes written after the resume")
	tests := []struct {
		name  string
		state []byte // content of ingest/<id>.state; nil: none
	}{
		{name: "no state"},
		{name: "corrupt state", state: []byte("{not json")},
		{name: "unreadable hash state", state: []byte(`{"size":34,"sha256State":"AAAA"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := t.Context()
			u, err := s.NewUpload(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := u.ID()
			if _, err := u.Write(written); err != nil {
				t.Fatal(err)
			}
			// The process dies here: no Close. More bytes reach the file.
			path := filepath.Join(s.Root(), "ingest", id)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(onDisk); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + ".state"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("ingest/%s.state exists before any Close: %v", id, err)
			}
			if tc.state != nil {
				if err := os.WriteFile(path+".state", tc.state, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			r, err := s.ResumeUpload(ctx, id)
			if err != nil {
				t.Fatalf("ResumeUpload: %v", err)
			}
			if want := int64(len(written) + len(onDisk)); r.Size() != want {
				t.Errorf("Size after resume = %d, want %d", r.Size(), want)
			}
			if _, err := r.Write(after); err != nil {
				t.Fatal(err)
			}
			all := slices.Concat(written, onDisk, after)
			if err := r.Commit(ctx, digest.FromBytes(all)); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(s.Root(), "blobs", "sha256", digest.FromBytes(all).Encoded()))
			if err != nil || !bytes.Equal(got, all) {
				t.Errorf("committed blob = %q, %v, want %q", got, err, all)
			}
			if ingest := listDir(t, filepath.Join(s.Root(), "ingest")); len(ingest) != 0 {
				t.Errorf("ingest/ holds %v after the commit", ingest)
			}
		})
	}
}

// TestStore_ResumeDropsUnsavedBytes covers a crash after a resumed upload
// was written to but not closed: the saved state is older than the file, and
// the bytes after it were never acknowledged, so the upload resumes at the
// saved size.
func TestStore_ResumeDropsUnsavedBytes(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	saved, unsaved, after := []byte("saved by Close, "), []byte("lost in the crash, "), []byte("written after the resume")
	u, err := s.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	if _, err := u.Write(saved); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	crashed, err := s.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crashed.Write(unsaved); err != nil {
		t.Fatal(err)
	}
	// No Close: the process dies here.

	r, err := s.ResumeUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(saved)) {
		t.Errorf("Size after resume = %d, want %d", r.Size(), len(saved))
	}
	if _, err := r.Write(after); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(saved, after)
	if err := r.Commit(ctx, digest.FromBytes(want)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(s.Root(), "blobs", "sha256", digest.FromBytes(want).Encoded()))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("committed blob = %q, %v, want %q", got, err, want)
	}
}

// TestStore_ContainedInRoot feeds every entry point path-like digests and
// upload ids and checks that nothing outside the root is created, read or
// removed.
func TestStore_ContainedInRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root", "data")
	s, err := cas.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Victims: a file beside the root, and one where "../../x" from
	// blobs/sha256 would land.
	victims := []string{filepath.Join(parent, "victim"), filepath.Join(root, "x"), filepath.Join(parent, "root", "x")}
	for _, v := range victims {
		if err := os.WriteFile(v, []byte("victim"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	content := []byte("victim")
	digests := []string{
		"sha256:../../x",
		"sha256:../../../x",
		"sha256:../../../victim",
		"sha512:../../../../victim",
		"sha256:" + filepath.Join(parent, "victim"),
		"sha256:/../../victim",
		"sha256:..",
		"sha256:.",
		"sha256:",
		"../../../victim:" + digest.FromBytes(content).Encoded(),
		"sha256/../../../victim:" + digest.FromBytes(content).Encoded(),
		"victim",
		"",
	}
	for _, ds := range digests {
		d := digest.Digest(ds)
		if _, err := s.Stat(ctx, d); !errors.Is(err, storage.ErrUnsupportedDigest) {
			t.Errorf("Stat(%q) = %v, want ErrUnsupportedDigest", ds, err)
		}
		if rc, err := s.Open(ctx, d); !errors.Is(err, storage.ErrUnsupportedDigest) {
			t.Errorf("Open(%q) = %v, want ErrUnsupportedDigest", ds, err)
			if err == nil {
				rc.Close()
			}
		}
		if err := s.Put(ctx, d, -1, bytes.NewReader(content)); !errors.Is(err, storage.ErrUnsupportedDigest) {
			t.Errorf("Put(%q) = %v, want ErrUnsupportedDigest", ds, err)
		}
		if err := s.Delete(ctx, d); !errors.Is(err, storage.ErrUnsupportedDigest) {
			t.Errorf("Delete(%q) = %v, want ErrUnsupportedDigest", ds, err)
		}
		if _, err := s.BlobPath(d); !errors.Is(err, storage.ErrUnsupportedDigest) {
			t.Errorf("BlobPath(%q) = %v, want ErrUnsupportedDigest", ds, err)
		}
		u, err := s.NewUpload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(content); err != nil {
			t.Fatal(err)
		}
		if err := u.Commit(ctx, d); !errors.Is(err, storage.ErrUnsupportedDigest) {
			t.Errorf("Commit(%q) = %v, want ErrUnsupportedDigest", ds, err)
		}
		if err := u.Cancel(ctx); err != nil {
			t.Errorf("Cancel: %v", err)
		}
	}
	ids := []string{"../../victim", "../../../victim", "../x", filepath.Join(parent, "victim"), "../ingest/../../x", ".."}
	for _, id := range ids {
		if u, err := s.ResumeUpload(ctx, id); !errors.Is(err, storage.ErrUploadUnknown) {
			t.Errorf("ResumeUpload(%q) = %v, want ErrUploadUnknown", id, err)
			if err == nil {
				u.Cancel(ctx)
			}
		}
		if err := s.DeleteUpload(ctx, id); !errors.Is(err, storage.ErrUploadUnknown) {
			t.Errorf("DeleteUpload(%q) = %v, want ErrUploadUnknown", id, err)
		}
	}

	for _, v := range victims {
		if b, err := os.ReadFile(v); err != nil || string(b) != "victim" {
			t.Errorf("%s = %q, %v, want it untouched", v, b, err)
		}
	}
	var files []string
	err = filepath.WalkDir(parent, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(parent, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".", "root", "root/data", "root/data/blobs", "root/data/blobs/sha256", "root/data/blobs/sha512", "root/data/ingest", "root/data/x", "root/x", "victim"}
	if !slices.Equal(files, want) {
		t.Errorf("files under the test directory:\n got %q\nwant %q", files, want)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
