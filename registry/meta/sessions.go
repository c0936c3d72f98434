package meta

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Sessions = (*DB)(nil)

// forEachSession calls fn for every session in b (which may be nil).
func forEachSession(b *bolt.Bucket, fn func(k []byte, s storage.Session) error) error {
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var s storage.Session
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("meta: decode session %q: %w", k, err)
		}
		return fn(k, s)
	})
}

// deleteSessionsOf removes the sessions for which drop is true and returns
// how many it removed.
func deleteSessionsOf(b *bolt.Bucket, drop func(storage.Session) bool) (int, error) {
	var keys [][]byte
	err := forEachSession(b, func(k []byte, s storage.Session) error {
		if drop(s) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// CreateSession implements storage.Sessions.
func (db *DB) CreateSession(ctx context.Context, s storage.Session, max int) error {
	s.Created, s.Expires = s.Created.UTC(), s.Expires.UTC()
	return db.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(s.User)) == nil {
			return fmt.Errorf("%s: %w", s.User, storage.ErrUserUnknown)
		}
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		if b.Get([]byte(s.ID)) != nil {
			return fmt.Errorf("session %.12s: %w", s.ID, storage.ErrSessionExists)
		}
		var mine []storage.Session
		var expired [][]byte
		err = forEachSession(b, func(k []byte, o storage.Session) error {
			switch {
			case !s.Created.Before(o.Expires):
				expired = append(expired, bytes.Clone(k))
			case o.User == s.User:
				mine = append(mine, o)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if max > 0 && len(mine) >= max {
			sortSessions(mine)
			for _, o := range mine[:len(mine)-max+1] {
				if err := b.Delete([]byte(o.ID)); err != nil {
					return err
				}
			}
		}
		return putJSON(b, []byte(s.ID), s)
	})
}

func sortSessions(ss []storage.Session) {
	slices.SortFunc(ss, func(a, b storage.Session) int {
		return cmp.Or(cmp.Compare(a.User, b.User), a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
}

// Session implements storage.Sessions.
func (db *DB) Session(ctx context.Context, id string) (storage.Session, error) {
	var s storage.Session
	err := db.db.View(func(tx *bolt.Tx) error {
		ok := false
		if b := tx.Bucket(bucketSessions); b != nil {
			var err error
			if s, ok, err = getJSON[storage.Session](b, []byte(id), "session"); err != nil {
				return err
			}
		}
		if !ok {
			return fmt.Errorf("session %.12s: %w", id, storage.ErrSessionUnknown)
		}
		return nil
	})
	return s, err
}

// Sessions implements storage.Sessions.
func (db *DB) Sessions(ctx context.Context, user string) ([]storage.Session, error) {
	var out []storage.Session
	err := db.db.View(func(tx *bolt.Tx) error {
		return forEachSession(tx.Bucket(bucketSessions), func(_ []byte, s storage.Session) error {
			if user == "" || s.User == user {
				out = append(out, s)
			}
			return nil
		})
	})
	sortSessions(out)
	return out, err
}

// DeleteSession implements storage.Sessions.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		if b == nil || b.Get([]byte(id)) == nil {
			return fmt.Errorf("session %.12s: %w", id, storage.ErrSessionUnknown)
		}
		return b.Delete([]byte(id))
	})
}

// DeleteSessions implements storage.Sessions.
func (db *DB) DeleteSessions(ctx context.Context, user string) (int, error) {
	var n int
	err := db.db.Update(func(tx *bolt.Tx) error {
		var err error
		n, err = deleteSessionsOf(tx.Bucket(bucketSessions), func(s storage.Session) bool { return s.User == user })
		return err
	})
	return n, err
}
