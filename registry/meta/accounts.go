package meta

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Accounts = (*DB)(nil)

func grantKey(user, pattern string) []byte {
	return []byte(user + "\x00" + pattern)
}

// bumpAccounts advances the accounts revision inside a write transaction.
func bumpAccounts(tx *bolt.Tx) error {
	mb := tx.Bucket(bucketMeta)
	var v uint64
	if b := mb.Get(keyAccountsRevision); len(b) == 8 {
		v = binary.BigEndian.Uint64(b)
	}
	return mb.Put(keyAccountsRevision, binary.BigEndian.AppendUint64(nil, v+1))
}

func getJSON[T any](b *bolt.Bucket, key []byte, what string) (T, bool, error) {
	var v T
	raw := b.Get(key)
	if raw == nil {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, true, fmt.Errorf("meta: decode %s %q: %w", what, key, err)
	}
	return v, true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// CreateUser implements storage.Accounts.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Name)) != nil {
			return fmt.Errorf("%s: %w", u.Name, storage.ErrUserExists)
		}
		if err := putJSON(b, []byte(u.Name), u); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// User implements storage.Accounts.
func (db *DB) User(ctx context.Context, name string) (storage.User, error) {
	var u storage.User
	err := db.db.View(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		u, ok, err = getJSON[storage.User](tx.Bucket(bucketUsers), []byte(name), "user")
		if err == nil && !ok {
			err = fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
		}
		return err
	})
	return u, err
}

// Users implements storage.Accounts.
func (db *DB) Users(ctx context.Context) ([]storage.User, error) {
	var out []storage.User
	err := db.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u storage.User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("meta: decode user %q: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// SetPassword implements storage.Accounts.
func (db *DB) SetPassword(ctx context.Context, name string, hash []byte, at time.Time) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		u, ok, err := getJSON[storage.User](b, []byte(name), "user")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
		}
		u.PasswordHash = bytes.Clone(hash)
		u.PasswordChanged = at.UTC()
		if err := putJSON(b, []byte(name), u); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// DeleteUser implements storage.Accounts.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(name)) == nil {
			return fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
		}
		if err := users.Delete([]byte(name)); err != nil {
			return err
		}
		grants := tx.Bucket(bucketGrants)
		prefix := []byte(name + "\x00")
		var drop [][]byte
		c := grants.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			drop = append(drop, bytes.Clone(k))
		}
		for _, k := range drop {
			if err := grants.Delete(k); err != nil {
				return err
			}
		}
		tokens := tx.Bucket(bucketTokens)
		drop = drop[:0]
		err := tokens.ForEach(func(k, v []byte) error {
			var t storage.APIToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("meta: decode token %q: %w", k, err)
			}
			if t.User == name {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := tokens.Delete(k); err != nil {
				return err
			}
		}
		if _, err := deleteSessionsOf(tx.Bucket(bucketSessions), func(s storage.Session) bool { return s.User == name }); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// PutGrant implements storage.Accounts.
func (db *DB) PutGrant(ctx context.Context, g storage.Grant) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(g.User)) == nil {
			return fmt.Errorf("%s: %w", g.User, storage.ErrUserUnknown)
		}
		g.Created = g.Created.UTC()
		if err := putJSON(tx.Bucket(bucketGrants), grantKey(g.User, g.Pattern), g); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// DeleteGrant implements storage.Accounts.
func (db *DB) DeleteGrant(ctx context.Context, user, pattern string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGrants)
		k := grantKey(user, pattern)
		if b.Get(k) == nil {
			return fmt.Errorf("%s on %s: %w", user, pattern, storage.ErrGrantUnknown)
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// Grants implements storage.Accounts.
func (db *DB) Grants(ctx context.Context, user string) ([]storage.Grant, error) {
	var out []storage.Grant
	err := db.db.View(func(tx *bolt.Tx) error {
		var prefix []byte
		if user != "" {
			prefix = []byte(user + "\x00")
		}
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var g storage.Grant
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("meta: decode grant %q: %w", k, err)
			}
			out = append(out, g)
		}
		return nil
	})
	// Keys sort by user then pattern already: the 0x00 separator sorts
	// below every character a name may hold.
	return out, err
}

// PutToken implements storage.Accounts.
func (db *DB) PutToken(ctx context.Context, t storage.APIToken) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketUsers).Get([]byte(t.User)) == nil {
			return fmt.Errorf("%s: %w", t.User, storage.ErrUserUnknown)
		}
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(t.ID)) != nil {
			return fmt.Errorf("%s: %w", t.ID, storage.ErrTokenExists)
		}
		t.Created = t.Created.UTC()
		t.Expires = t.Expires.UTC()
		if err := putJSON(b, []byte(t.ID), t); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// Token implements storage.Accounts.
func (db *DB) Token(ctx context.Context, id string) (storage.APIToken, error) {
	var t storage.APIToken
	err := db.db.View(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		t, ok, err = getJSON[storage.APIToken](tx.Bucket(bucketTokens), []byte(id), "token")
		if err == nil && !ok {
			err = fmt.Errorf("%s: %w", id, storage.ErrTokenUnknown)
		}
		return err
	})
	return t, err
}

// Tokens implements storage.Accounts.
func (db *DB) Tokens(ctx context.Context, user string) ([]storage.APIToken, error) {
	var out []storage.APIToken
	err := db.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var t storage.APIToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("meta: decode token %q: %w", k, err)
			}
			if user == "" || t.User == user {
				out = append(out, t)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b storage.APIToken) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// DeleteToken implements storage.Accounts.
func (db *DB) DeleteToken(ctx context.Context, id string) error {
	return db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(id)) == nil {
			return fmt.Errorf("%s: %w", id, storage.ErrTokenUnknown)
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		return bumpAccounts(tx)
	})
}

// Secret implements storage.Accounts.
func (db *DB) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var out []byte
	err := db.db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketSecrets).Get([]byte(name)))
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	err = db.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if v := b.Get([]byte(name)); v != nil {
			out = bytes.Clone(v)
			return nil
		}
		out = bytes.Clone(fresh)
		return b.Put([]byte(name), fresh)
	})
	return out, err
}

// AccountsRevision implements storage.Accounts.
func (db *DB) AccountsRevision(ctx context.Context) (uint64, error) {
	var v uint64
	err := db.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keyAccountsRevision); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return v, err
}
