package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Quarantines = (*DB)(nil)

// quarantineKey is "<repository>@<digest>": '@' cannot appear in a
// repository name, so keys of one repository share the prefix "<repo>@".
func quarantineKey(repo string, dgst digest.Digest) []byte {
	return []byte(repo + "@" + string(dgst))
}

// SetQuarantine implements storage.Quarantines.
func (db *DB) SetQuarantine(ctx context.Context, q storage.Quarantine) error {
	v, err := json.Marshal(q)
	if err != nil {
		return err
	}
	err = db.db.Update(func(tx *bolt.Tx) error {
		rb := repoBucket(tx, q.Repository)
		if rb == nil || rb.Bucket(bucketManifests).Get([]byte(q.Digest)) == nil {
			return fmt.Errorf("%s@%s: %w", q.Repository, q.Digest, storage.ErrManifestUnknown)
		}
		// Created on first use: older databases need no migration.
		b, err := tx.CreateBucketIfNotExists(bucketQuarantine)
		if err != nil {
			return err
		}
		e := storage.LogEntry{Kind: storage.EntryQuarantineSet, Repository: q.Repository, Digest: q.Digest, Reason: q.Reason, Time: q.Time.UTC(), By: q.By}
		if _, err := appendEntry(tx, e); err != nil {
			return err
		}
		return b.Put(quarantineKey(q.Repository, q.Digest), v)
	})
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// ClearQuarantine implements storage.Quarantines.
func (db *DB) ClearQuarantine(ctx context.Context, repo string, dgst digest.Digest) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQuarantine)
		k := quarantineKey(repo, dgst)
		if b == nil || b.Get(k) == nil {
			return fmt.Errorf("%s@%s: %w", repo, dgst, storage.ErrNotQuarantined)
		}
		if _, err := appendEntry(tx, storage.LogEntry{Kind: storage.EntryQuarantineLift, Repository: repo, Digest: dgst, Time: db.now().UTC()}); err != nil {
			return err
		}
		return b.Delete(k)
	})
}

// Quarantined implements storage.Quarantines.
func (db *DB) Quarantined(ctx context.Context, repo string, dgst digest.Digest) (*storage.Quarantine, error) {
	var q *storage.Quarantine
	err := db.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQuarantine)
		if b == nil {
			return nil
		}
		v := b.Get(quarantineKey(repo, dgst))
		if v == nil {
			return nil
		}
		q = &storage.Quarantine{}
		return json.Unmarshal(v, q)
	})
	return q, err
}

// ListQuarantines implements storage.Quarantines.
func (db *DB) ListQuarantines(ctx context.Context, repo string) ([]storage.Quarantine, error) {
	out := []storage.Quarantine{}
	err := db.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQuarantine)
		if b == nil {
			return nil
		}
		prefix := []byte(repo + "@")
		if repo == "" {
			prefix = nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			var q storage.Quarantine
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("decode quarantine %s: %w", k, err)
			}
			out = append(out, q)
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b storage.Quarantine) int { return a.Time.Compare(b.Time) })
	return out, err
}
