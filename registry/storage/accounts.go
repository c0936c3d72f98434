package storage

import (
	"context"
	"errors"
	"time"
)

// Roles a grant gives on the repositories its pattern matches. Each implies
// the ones before it: admin implies write, write implies read.
const (
	RoleRead  = "read"  // pull: manifests, blobs, tags, referrers, history
	RoleWrite = "write" // push: uploads, manifest PUT, tag moves
	RoleAdmin = "admin" // delete; with the pattern "**", the admin API
)

// User is an account of the registry.
type User struct {
	Name string `json:"name"`
	// PasswordHash is the password's bcrypt hash (cost and salt included).
	PasswordHash []byte    `json:"passwordHash"`
	Created      time.Time `json:"created"`
	// PasswordChanged is when PasswordHash was last set.
	PasswordChanged time.Time `json:"passwordChanged"`
}

// Grant gives a user a role on every repository its pattern matches.
// Patterns are repository names in which a path element may be "*" (any one
// element, or part of one) or "**" (any number of elements).
type Grant struct {
	User    string    `json:"user"`
	Pattern string    `json:"pattern"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	// By is the principal that made the grant.
	By string `json:"by,omitempty"`
}

// APIToken is a long-lived credential of a user, limited to its scopes
// (docker scope strings whose repository names may be patterns) and, when
// it is used, to its owner's roles at that time.
type APIToken struct {
	ID     string   `json:"id"`
	User   string   `json:"user"`
	Name   string   `json:"name,omitempty"`
	Scopes []string `json:"scopes"`
	// Hash is the SHA-256 of the token's secret; the secret itself is
	// never stored.
	Hash    []byte    `json:"hash"`
	Created time.Time `json:"created"`
	// Expires is when the token stops working; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// Accounts stores users, their grants, API tokens and web UI sessions, and
// the secrets the authentication layer signs with. Every method is atomic.
// Returned values are copies the caller may keep and modify.
type Accounts interface {
	Sessions

	// CreateUser adds a user, or returns ErrUserExists.
	CreateUser(ctx context.Context, u User) error
	// User returns a user, or ErrUserUnknown.
	User(ctx context.Context, name string) (User, error)
	// Users lists every user in lexical order of name.
	Users(ctx context.Context) ([]User, error)
	// SetPassword replaces a user's password hash and sets
	// PasswordChanged to at.
	SetPassword(ctx context.Context, name string, hash []byte, at time.Time) error
	// DeleteUser removes a user with its grants, API tokens and sessions.
	DeleteUser(ctx context.Context, name string) error

	// PutGrant records g, replacing the role of an existing grant of the
	// same user and pattern. The user must exist (ErrUserUnknown).
	PutGrant(ctx context.Context, g Grant) error
	// DeleteGrant removes the grant of user on pattern, or returns
	// ErrGrantUnknown.
	DeleteGrant(ctx context.Context, user, pattern string) error
	// Grants lists the grants of user (every user's when user is ""),
	// ordered by user, then pattern.
	Grants(ctx context.Context, user string) ([]Grant, error)

	// PutToken records a new API token. The user must exist
	// (ErrUserUnknown) and the ID must be new (ErrTokenExists).
	PutToken(ctx context.Context, t APIToken) error
	// Token returns an API token by ID, or ErrTokenUnknown.
	Token(ctx context.Context, id string) (APIToken, error)
	// Tokens lists the tokens of user (every user's when user is ""),
	// ordered by creation time, then ID.
	Tokens(ctx context.Context, user string) ([]APIToken, error)
	// DeleteToken removes an API token, or returns ErrTokenUnknown.
	DeleteToken(ctx context.Context, id string) error

	// Secret returns the secret stored under name. When there is none it
	// stores fresh first, so concurrent callers (on any node) all get the
	// one value that was stored first.
	Secret(ctx context.Context, name string, fresh []byte) ([]byte, error)
	// AccountsRevision returns a number that changes whenever a user, grant
	// or token changes, so that caches can tell when to reload.
	AccountsRevision(ctx context.Context) (uint64, error)
}

var (
	// ErrUserUnknown means there is no user of that name.
	ErrUserUnknown = errors.New("user unknown")
	// ErrUserExists means a user of that name already exists.
	ErrUserExists = errors.New("user exists")
	// ErrGrantUnknown means the user has no grant on that pattern.
	ErrGrantUnknown = errors.New("grant unknown")
	// ErrTokenUnknown means there is no API token with that ID.
	ErrTokenUnknown = errors.New("token unknown")
	// ErrTokenExists means an API token with that ID already exists.
	ErrTokenExists = errors.New("token exists")
)
