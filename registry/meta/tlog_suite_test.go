package meta_test

import (
	"testing"

	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage/storagetest"
)

func TestDB_TransparencyLogs(t *testing.T) {
	storagetest.TestTransparencyLogs(t, func(t *testing.T) storagetest.LogStore {
		db, _ := openDB(t, &meta.Options{NoSync: true})
		return db
	})
}
