package meta_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

// openDB opens a database in a fresh directory and, when the test ends,
// checks the file's integrity and closes it (after bbolt's
// internal/btesting).
func openDB(t *testing.T, opts *meta.Options) (*meta.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := meta.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkAndClose(t, db) })
	return db, path
}

func checkAndClose(t *testing.T, db *meta.DB) {
	t.Helper()
	err := db.Bolt().View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt integrity: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestDB_Conformance(t *testing.T) {
	storagetest.TestMetadata(t, func(t *testing.T) storage.Metadata {
		db, _ := openDB(t, nil)
		return db
	})
}

func TestDB_Conformance_NoSync(t *testing.T) {
	storagetest.TestMetadata(t, func(t *testing.T) storage.Metadata {
		db, _ := openDB(t, &meta.Options{NoSync: true})
		return db
	})
}

func TestDB_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := meta.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.Schema(); err != nil || v != meta.SchemaVersion || v == 0 {
		t.Fatalf("Schema of a new database = %d, %v, want %d", v, err, meta.SchemaVersion)
	}
	var raw []byte
	db.Bolt().View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("meta")); b != nil {
			raw = append(raw, b.Get([]byte("schema"))...)
		}
		return nil
	})
	if len(raw) != 8 || binary.BigEndian.Uint64(raw) != meta.SchemaVersion {
		t.Errorf("meta/schema = %x, want %d as 8 big-endian bytes", raw, meta.SchemaVersion)
	}

	ctx := t.Context()
	content := []byte(`{"schemaVersion":2}`)
	m := &storage.Manifest{
		Repository: "kept/repo",
		Digest:     digest.FromBytes(content),
		MediaType:  ocispec.MediaTypeImageManifest,
		Size:       int64(len(content)),
		Content:    content,
		Pushed:     time.Now().UTC(),
	}
	if _, err := db.PutManifest(ctx, m, []string{"latest"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutUpload(ctx, storage.UploadSession{ID: "u1", Repository: "kept/repo", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	checkAndClose(t, db)

	for i := range 2 {
		db, err := meta.Open(path, nil)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if v, err := db.Schema(); err != nil || v != meta.SchemaVersion {
			t.Errorf("reopen %d: Schema = %d, %v, want %d", i, v, err, meta.SchemaVersion)
		}
		if d, err := db.Resolve(ctx, "kept/repo", "latest"); err != nil || d != m.Digest {
			t.Errorf("reopen %d: Resolve = %s, %v, want %s", i, d, err, m.Digest)
		}
		if got, err := db.Manifest(ctx, "kept/repo", m.Digest); err != nil || string(got.Content) != string(content) {
			t.Errorf("reopen %d: Manifest = %v, %v", i, got, err)
		}
		if h, err := db.History(ctx, "kept/repo", "latest"); err != nil || len(h) != 1 {
			t.Errorf("reopen %d: History = %+v, %v, want one move", i, h, err)
		}
		if _, err := db.Upload(ctx, "u1"); err != nil {
			t.Errorf("reopen %d: Upload: %v", i, err)
		}
		checkAndClose(t, db)
	}
}

func TestDB_SchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := meta.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Bolt().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, meta.SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAndClose(t, db)
	db, err = meta.Open(path, nil)
	if err == nil {
		db.Close()
	}
	if !errors.Is(err, meta.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestDB_Locked(t *testing.T) {
	_, path := openDB(t, nil)
	start := time.Now()
	db, err := meta.Open(path, &meta.Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		db.Close()
		t.Fatal("second Open of a database in use succeeded")
	}
	if !errors.Is(err, meta.ErrLocked) {
		t.Errorf("second Open = %v, want an error wrapping ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v with a 100ms lock timeout", d)
	}
}
