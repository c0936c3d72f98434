package storage

import (
	"context"
	"errors"
	"time"
)

// Session is a login to the web UI, kept in the metadata store so that it
// holds across restarts and on every node, and ends for all of them at once.
type Session struct {
	// ID is the hex SHA-256 of the secret the browser's cookie carries;
	// the secret itself is never stored.
	ID   string `json:"id"`
	User string `json:"user"`
	// TokenID is the API token the login used as its password, if any.
	TokenID string `json:"tokenId,omitempty"`
	// Stamp fingerprints what the login was granted under (the user's
	// password hash and roles, as the authentication layer computes it): a
	// session whose stamp no longer matches is over.
	Stamp   string    `json:"stamp"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Address is the client address the login came from.
	Address string `json:"address,omitempty"`
}

// Sessions stores web UI sessions. Every method is atomic. Changes to
// sessions do not change AccountsRevision: readers cache a session for a
// few seconds at most instead.
type Sessions interface {
	// CreateSession records s. The user must exist (ErrUserUnknown) and the
	// ID must be new (ErrSessionExists). In the same transaction, every
	// session (of any user) that expired by s.Created is removed, and the
	// user's oldest sessions beyond max (when max > 0) are removed, so that
	// the store stays bounded however often a user logs in.
	CreateSession(ctx context.Context, s Session, max int) error
	// Session returns a session by ID, or ErrSessionUnknown. Expired
	// sessions may still be returned until they are removed: the caller
	// checks Expires.
	Session(ctx context.Context, id string) (Session, error)
	// Sessions lists the sessions of user (every user's when user is ""),
	// ordered by user, then creation time, then ID.
	Sessions(ctx context.Context, user string) ([]Session, error)
	// DeleteSession removes a session, or returns ErrSessionUnknown.
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessions removes every session of user and returns how many
	// there were.
	DeleteSessions(ctx context.Context, user string) (int, error)
}

var (
	// ErrSessionUnknown means there is no session with that ID.
	ErrSessionUnknown = errors.New("session unknown")
	// ErrSessionExists means a session with that ID already exists.
	ErrSessionExists = errors.New("session exists")
)
