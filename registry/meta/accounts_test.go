package meta_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/registry/storage/storagetest"
)

func TestDB_AccountsConformance(t *testing.T) {
	storagetest.TestAccounts(t, func(t *testing.T) storage.Accounts {
		db, _ := openDB(t, nil)
		return db
	})
}

// TestDB_MigrateAccounts opens a database written at schema 1 (before
// accounts) and finds the accounts buckets, with the repositories kept.
func TestDB_MigrateAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"repos", "uploads"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if _, err := tx.Bucket([]byte("repos")).CreateBucket([]byte("old/repo")); err != nil {
			return err
		}
		mb, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return mb.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.Close()

	db, err := meta.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkAndClose(t, db) })
	if v, err := db.Schema(); err != nil || v != meta.SchemaVersion || v < 2 {
		t.Fatalf("Schema after migration = %d, %v, want %d", v, err, meta.SchemaVersion)
	}
	if err := db.CreateUser(t.Context(), storage.User{Name: "admin"}); err != nil {
		t.Fatalf("CreateUser after migration: %v", err)
	}
	if err := db.PutGrant(t.Context(), storage.Grant{User: "admin", Pattern: "**", Role: storage.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	repos, err := db.Repositories(t.Context(), "", 0)
	if err != nil || len(repos) != 1 || repos[0] != "old/repo" {
		t.Fatalf("repositories after migration: %v, %v", repos, err)
	}
}
