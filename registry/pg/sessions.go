package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Sessions = (*DB)(nil)

// CreateSession implements storage.Sessions.
func (db *DB) CreateSession(ctx context.Context, s storage.Session, max int) error {
	s.Created, s.Expires = s.Created.UTC(), s.Expires.UTC()
	rec, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		if err := userExists(ctx, tx, s.User); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE expires <= $1", s.Created); err != nil {
			return fmt.Errorf("pg: remove expired sessions: %w", err)
		}
		if max > 0 {
			_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id IN (
				SELECT id FROM sessions WHERE username = $1 ORDER BY created DESC, id DESC OFFSET $2)`, s.User, max-1)
			if err != nil {
				return fmt.Errorf("pg: trim the sessions of %s: %w", s.User, err)
			}
		}
		ct, err := tx.Exec(ctx, "INSERT INTO sessions (id, username, created, expires, record) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
			s.ID, s.User, s.Created, s.Expires, rec)
		if err != nil {
			return fmt.Errorf("pg: create session: %w", err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("session %.12s: %w", s.ID, storage.ErrSessionExists)
		}
		return nil
	})
}

// Session implements storage.Sessions.
func (db *DB) Session(ctx context.Context, id string) (storage.Session, error) {
	var rec []byte
	err := db.pool.QueryRow(ctx, "SELECT record FROM sessions WHERE id = $1", id).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Session{}, fmt.Errorf("session %.12s: %w", id, storage.ErrSessionUnknown)
	}
	if err != nil {
		return storage.Session{}, fmt.Errorf("pg: session: %w", err)
	}
	return decode[storage.Session](rec, "session")
}

// Sessions implements storage.Sessions.
func (db *DB) Sessions(ctx context.Context, user string) ([]storage.Session, error) {
	recs, err := pgxCollect(db.pool.Query(ctx, "SELECT record FROM sessions WHERE $1 = '' OR username = $1 ORDER BY username, created, id", user))
	if err != nil {
		return nil, fmt.Errorf("pg: sessions: %w", err)
	}
	var out []storage.Session
	for _, rec := range recs {
		s, err := decode[storage.Session](rec, "session")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// DeleteSession implements storage.Sessions.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	ct, err := db.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("pg: delete session: %w", err)
	}
	if ct.RowsAffected() == 0 {
		return fmt.Errorf("session %.12s: %w", id, storage.ErrSessionUnknown)
	}
	return nil
}

// DeleteSessions implements storage.Sessions.
func (db *DB) DeleteSessions(ctx context.Context, user string) (int, error) {
	ct, err := db.pool.Exec(ctx, "DELETE FROM sessions WHERE username = $1", user)
	if err != nil {
		return 0, fmt.Errorf("pg: delete the sessions of %s: %w", user, err)
	}
	return int(ct.RowsAffected()), nil
}
