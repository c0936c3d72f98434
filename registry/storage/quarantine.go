package storage

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Quarantine is a version of a repository that may not be pulled, and why.
type Quarantine struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Reason     string        `json:"reason"`
	By         string        `json:"by,omitempty"`
	Time       time.Time     `json:"time"`
}

// Quarantines records quarantined versions. A metadata store that
// implements it lets the registry refuse their pulls; meta.DB does.
type Quarantines interface {
	// SetQuarantine quarantines q.Repository@q.Digest, replacing any reason
	// recorded before. The manifest must exist (ErrManifestUnknown).
	SetQuarantine(ctx context.Context, q Quarantine) error
	// ClearQuarantine lifts a quarantine; lifting one that is not set
	// returns ErrNotQuarantined.
	ClearQuarantine(ctx context.Context, repo string, dgst digest.Digest) error
	// Quarantined returns the quarantine of repo@dgst, or nil when the
	// version is not quarantined.
	Quarantined(ctx context.Context, repo string, dgst digest.Digest) (*Quarantine, error)
	// ListQuarantines returns a repository's quarantined versions (every
	// repository's when repo is empty), oldest first.
	ListQuarantines(ctx context.Context, repo string) ([]Quarantine, error)
}
