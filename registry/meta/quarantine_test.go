package meta_test

import (
	"testing"

	"cairn.dev/cairn/registry/storage/storagetest"
)

func TestDB_Quarantines(t *testing.T) {
	storagetest.TestQuarantines(t, func(t *testing.T) storagetest.QuarantineStore {
		db, _ := openDB(t, nil)
		return db
	})
}
