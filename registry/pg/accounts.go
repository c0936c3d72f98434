package pg

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Accounts = (*DB)(nil)

// bumpAccounts advances the accounts revision inside tx. The counter's row
// lock also orders concurrent account changes.
func bumpAccounts(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "UPDATE counters SET value = value + 1 WHERE name = 'accounts'"); err != nil {
		return fmt.Errorf("pg: accounts revision: %w", err)
	}
	return nil
}

// userExists checks (and share-locks) a user row in tx.
func userExists(ctx context.Context, tx pgx.Tx, name string) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE name = $1 FOR KEY SHARE", name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
	}
	if err != nil {
		return fmt.Errorf("pg: user %s: %w", name, err)
	}
	return nil
}

// CreateUser implements storage.Accounts.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	rec, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, "INSERT INTO users (name, record) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", u.Name, rec)
		if err != nil {
			return fmt.Errorf("pg: create user %s: %w", u.Name, err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", u.Name, storage.ErrUserExists)
		}
		return bumpAccounts(ctx, tx)
	})
}

// User implements storage.Accounts.
func (db *DB) User(ctx context.Context, name string) (storage.User, error) {
	var rec []byte
	err := db.pool.QueryRow(ctx, "SELECT record FROM users WHERE name = $1", name).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.User{}, fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("pg: user %s: %w", name, err)
	}
	return decode[storage.User](rec, "user")
}

// Users implements storage.Accounts.
func (db *DB) Users(ctx context.Context) ([]storage.User, error) {
	recs, err := pgxCollect(db.pool.Query(ctx, "SELECT record FROM users ORDER BY name"))
	if err != nil {
		return nil, fmt.Errorf("pg: users: %w", err)
	}
	var out []storage.User
	for _, rec := range recs {
		u, err := decode[storage.User](rec, "user")
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// SetPassword implements storage.Accounts.
func (db *DB) SetPassword(ctx context.Context, name string, hash []byte, at time.Time) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		var rec []byte
		err := tx.QueryRow(ctx, "SELECT record FROM users WHERE name = $1 FOR UPDATE", name).Scan(&rec)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
		}
		if err != nil {
			return fmt.Errorf("pg: user %s: %w", name, err)
		}
		u, err := decode[storage.User](rec, "user")
		if err != nil {
			return err
		}
		u.PasswordHash = bytes.Clone(hash)
		u.PasswordChanged = at.UTC()
		rec, _ = json.Marshal(u)
		if _, err := tx.Exec(ctx, "UPDATE users SET record = $2 WHERE name = $1", name, rec); err != nil {
			return fmt.Errorf("pg: set password of %s: %w", name, err)
		}
		return bumpAccounts(ctx, tx)
	})
}

// DeleteUser implements storage.Accounts. Grants, tokens and sessions go with the
// user (ON DELETE CASCADE).
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, "DELETE FROM users WHERE name = $1", name)
		if err != nil {
			return fmt.Errorf("pg: delete user %s: %w", name, err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", name, storage.ErrUserUnknown)
		}
		return bumpAccounts(ctx, tx)
	})
}

// PutGrant implements storage.Accounts.
func (db *DB) PutGrant(ctx context.Context, g storage.Grant) error {
	g.Created = g.Created.UTC()
	rec, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, g.User); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO grants (username, pattern, record) VALUES ($1, $2, $3)
			ON CONFLICT (username, pattern) DO UPDATE SET record = EXCLUDED.record`, g.User, g.Pattern, rec)
		if err != nil {
			return fmt.Errorf("pg: put grant: %w", err)
		}
		return bumpAccounts(ctx, tx)
	})
}

// DeleteGrant implements storage.Accounts.
func (db *DB) DeleteGrant(ctx context.Context, user, pattern string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, "DELETE FROM grants WHERE username = $1 AND pattern = $2", user, pattern)
		if err != nil {
			return fmt.Errorf("pg: delete grant: %w", err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s on %s: %w", user, pattern, storage.ErrGrantUnknown)
		}
		return bumpAccounts(ctx, tx)
	})
}

// Grants implements storage.Accounts.
func (db *DB) Grants(ctx context.Context, user string) ([]storage.Grant, error) {
	recs, err := pgxCollect(db.pool.Query(ctx, "SELECT record FROM grants WHERE $1 = '' OR username = $1 ORDER BY username, pattern", user))
	if err != nil {
		return nil, fmt.Errorf("pg: grants: %w", err)
	}
	var out []storage.Grant
	for _, rec := range recs {
		g, err := decode[storage.Grant](rec, "grant")
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// PutToken implements storage.Accounts.
func (db *DB) PutToken(ctx context.Context, t storage.APIToken) error {
	t.Created = t.Created.UTC()
	t.Expires = t.Expires.UTC()
	rec, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, t.User); err != nil {
			return err
		}
		ct, err := tx.Exec(ctx, "INSERT INTO tokens (id, username, record) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING", t.ID, t.User, rec)
		if err != nil {
			return fmt.Errorf("pg: put token: %w", err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", t.ID, storage.ErrTokenExists)
		}
		return bumpAccounts(ctx, tx)
	})
}

// Token implements storage.Accounts.
func (db *DB) Token(ctx context.Context, id string) (storage.APIToken, error) {
	var rec []byte
	err := db.pool.QueryRow(ctx, "SELECT record FROM tokens WHERE id = $1", id).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.APIToken{}, fmt.Errorf("%s: %w", id, storage.ErrTokenUnknown)
	}
	if err != nil {
		return storage.APIToken{}, fmt.Errorf("pg: token: %w", err)
	}
	return decode[storage.APIToken](rec, "token")
}

// Tokens implements storage.Accounts.
func (db *DB) Tokens(ctx context.Context, user string) ([]storage.APIToken, error) {
	recs, err := pgxCollect(db.pool.Query(ctx, "SELECT record FROM tokens WHERE $1 = '' OR username = $1", user))
	if err != nil {
		return nil, fmt.Errorf("pg: tokens: %w", err)
	}
	var out []storage.APIToken
	for _, rec := range recs {
		t, err := decode[storage.APIToken](rec, "token")
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b storage.APIToken) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteToken implements storage.Accounts.
func (db *DB) DeleteToken(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, "DELETE FROM tokens WHERE id = $1", id)
		if err != nil {
			return fmt.Errorf("pg: delete token: %w", err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", id, storage.ErrTokenUnknown)
		}
		return bumpAccounts(ctx, tx)
	})
}

// Secret implements storage.Accounts. The insert waits for a concurrent
// one of the same name and then does nothing, so every caller reads the
// value that was committed first.
func (db *DB) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, "SELECT value FROM secrets WHERE name = $1", name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pg: secret %s: %w", name, err)
	}
	if fresh == nil {
		fresh = []byte{}
	}
	if _, err := db.pool.Exec(ctx, "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, fresh); err != nil {
		return nil, fmt.Errorf("pg: store secret %s: %w", name, err)
	}
	if err := db.pool.QueryRow(ctx, "SELECT value FROM secrets WHERE name = $1", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("pg: secret %s: %w", name, err)
	}
	return v, nil
}

// AccountsRevision implements storage.Accounts.
func (db *DB) AccountsRevision(ctx context.Context) (uint64, error) {
	var v int64
	if err := db.pool.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'accounts'").Scan(&v); err != nil {
		return 0, fmt.Errorf("pg: accounts revision: %w", err)
	}
	return uint64(v), nil
}
