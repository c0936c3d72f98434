package cas

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// maxIDLength bounds upload ids taken from clients.
const maxIDLength = 64

// upload is a resumable upload: the bytes go to ingest/<id> and are hashed
// with SHA-256 as they arrive. Close saves the hash state beside the file, so
// another process can resume without reading the bytes again.
type upload struct {
	s    *Store
	id   string
	f    *os.File
	h    hash.Hash
	size int64
	done bool
	// opened is the size when the upload was opened, for Abort.
	opened int64
	// broken is set by a failed write: the hash may no longer match the
	// file, so Close must not save it.
	broken bool
}

// uploadState is what ingest/<id>.state holds.
type uploadState struct {
	Size int64  `json:"size"`
	Hash []byte `json:"sha256State"`
}

var _ storage.Upload = (*upload)(nil)

func (s *Store) ingestPath(id string) (string, error) {
	if id == "" || len(id) > maxIDLength {
		return "", fmt.Errorf("upload id %q: %w", id, storage.ErrUploadUnknown)
	}
	// Ids are ours (hex, or "put-<digits>" for Put): anything else is not a
	// file name we made.
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", fmt.Errorf("upload id %q: %w", id, storage.ErrUploadUnknown)
		}
	}
	return filepath.Join(s.root, "ingest", id), nil
}

// NewUpload implements storage.BlobStore.
func (s *Store) NewUpload(ctx context.Context) (storage.Upload, error) {
	id := newID()
	p := filepath.Join(s.root, "ingest", id)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cas: create upload: %w", err)
	}
	return &upload{s: s, id: id, f: f, h: sha256.New()}, nil
}

// ResumeUpload implements storage.BlobStore.
func (s *Store) ResumeUpload(ctx context.Context, id string) (storage.Upload, error) {
	p, err := s.ingestPath(id)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", id, storage.ErrUploadUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("cas: open upload: %w", err)
	}
	u := &upload{s: s, id: id, f: f, h: sha256.New()}
	if err := u.restore(p + ".state"); err != nil {
		f.Close()
		return nil, err
	}
	return u, nil
}

// restore loads the saved hash state. When the state is missing or does not
// match the file (a crash between a write and Close), the file is hashed
// again from the start, so the upload always resumes at the bytes on disk.
func (u *upload) restore(statePath string) error {
	fi, err := u.f.Stat()
	if err != nil {
		return fmt.Errorf("cas: stat upload: %w", err)
	}
	if b, err := os.ReadFile(statePath); err == nil {
		var st uploadState
		// Bytes beyond the saved size were never acknowledged (the request
		// failed or the process died): drop them.
		if json.Unmarshal(b, &st) == nil && st.Size <= fi.Size() {
			if u.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash) == nil {
				if st.Size < fi.Size() {
					if err := u.f.Truncate(st.Size); err != nil {
						return fmt.Errorf("cas: truncate upload: %w", err)
					}
				}
				u.size, u.opened = st.Size, st.Size
				_, err := u.f.Seek(u.size, io.SeekStart)
				return err
			}
		}
		u.h.Reset()
	}
	n, err := hashFile(u.f, u.h)
	if err != nil {
		return fmt.Errorf("cas: rehash upload: %w", err)
	}
	u.size, u.opened = n, n
	return nil
}

func (u *upload) ID() string  { return u.id }
func (u *upload) Size() int64 { return u.size }

func (u *upload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	u.h.Write(p[:n])
	u.size += int64(n)
	if err != nil {
		u.broken = true
	}
	return n, err
}

// ReadFrom makes io.Copy into an upload hash and write in a pipeline.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	n, err := copyHashing(u.f, u.h, r)
	u.size += n
	if err != nil {
		u.broken = true
	}
	return n, err
}

func (u *upload) Close() error {
	if u.broken {
		return errors.Join(errors.New("cas: upload write failed; bytes since it was opened are dropped"), u.Abort())
	}
	if u.done {
		return nil
	}
	u.done = true
	state, err := u.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		u.f.Close()
		return fmt.Errorf("cas: save upload state: %w", err)
	}
	b, _ := json.Marshal(uploadState{Size: u.size, Hash: state})
	if err := u.f.Close(); err != nil {
		return fmt.Errorf("cas: close upload: %w", err)
	}
	if err := os.WriteFile(u.f.Name()+".state", b, 0o644); err != nil {
		return fmt.Errorf("cas: save upload state: %w", err)
	}
	return nil
}

func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	// The saved state still says u.opened; trimming now keeps the file
	// consistent with it even before the next ResumeUpload.
	terr := u.f.Truncate(u.opened)
	if err := u.f.Close(); err != nil {
		return fmt.Errorf("cas: close upload: %w", err)
	}
	if terr != nil {
		return fmt.Errorf("cas: truncate upload: %w", terr)
	}
	return nil
}

func (u *upload) Commit(ctx context.Context, dgst digest.Digest) error {
	if u.done {
		return fmt.Errorf("%s: %w", u.id, storage.ErrUploadUnknown)
	}
	if err := checkDigest(dgst); err != nil {
		return err
	}
	got := digest.NewDigest(digest.SHA256, u.h)
	if dgst.Algorithm() != digest.SHA256 {
		// The algorithm is known only now: hash the file once more.
		h := dgst.Algorithm().Hash()
		if _, err := hashFile(u.f, h); err != nil {
			return fmt.Errorf("cas: hash upload: %w", err)
		}
		got = digest.NewDigest(dgst.Algorithm(), h)
	}
	u.done = true
	name := u.f.Name()
	defer os.Remove(name + ".state")
	if got != dgst {
		u.f.Close()
		os.Remove(name)
		return fmt.Errorf("got %s, want %s: %w", got, dgst, storage.ErrDigestMismatch)
	}
	err := u.s.commitFile(u.f, dgst)
	os.Remove(name) // left only when the blob existed already or commit failed
	return err
}

func (u *upload) Cancel(ctx context.Context) error {
	if !u.done {
		u.done = true
		u.f.Close()
	}
	return u.s.DeleteUpload(ctx, u.id)
}
