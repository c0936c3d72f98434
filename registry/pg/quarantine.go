package pg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Quarantines = (*DB)(nil)

// SetQuarantine implements storage.Quarantines.
func (db *DB) SetQuarantine(ctx context.Context, q storage.Quarantine) error {
	rec, err := json.Marshal(q)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repo_id
			WHERE r.name = $1 AND m.digest = $2 FOR SHARE OF m`, q.Repository, string(q.Digest)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%s@%s: %w", q.Repository, q.Digest, storage.ErrManifestUnknown)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO quarantines (repository, digest, record) VALUES ($1, $2, $3)
			ON CONFLICT (repository, digest) DO UPDATE SET record = EXCLUDED.record`, q.Repository, string(q.Digest), rec)
		if err != nil {
			return err
		}
		return appendEntry(ctx, tx, storage.LogEntry{Kind: storage.EntryQuarantineSet, Repository: q.Repository, Digest: q.Digest, Reason: q.Reason, Time: q.Time.UTC(), By: q.By})
	})
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// ClearQuarantine implements storage.Quarantines.
func (db *DB) ClearQuarantine(ctx context.Context, repo string, dgst digest.Digest) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		ct, err := tx.Exec(ctx, "DELETE FROM quarantines WHERE repository = $1 AND digest = $2", repo, string(dgst))
		if err != nil {
			return fmt.Errorf("pg: clear quarantine: %w", err)
		}
		if ct.RowsAffected() == 0 {
			return fmt.Errorf("%s@%s: %w", repo, dgst, storage.ErrNotQuarantined)
		}
		return appendEntry(ctx, tx, storage.LogEntry{Kind: storage.EntryQuarantineLift, Repository: repo, Digest: dgst, Time: db.now().UTC()})
	})
}

// Quarantined implements storage.Quarantines.
func (db *DB) Quarantined(ctx context.Context, repo string, dgst digest.Digest) (*storage.Quarantine, error) {
	var rec []byte
	err := db.pool.QueryRow(ctx, "SELECT record FROM quarantines WHERE repository = $1 AND digest = $2", repo, string(dgst)).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pg: quarantine of %s@%s: %w", repo, dgst, err)
	}
	q, err := decode[storage.Quarantine](rec, "quarantine")
	if err != nil {
		return nil, err
	}
	return &q, nil
}

// ListQuarantines implements storage.Quarantines.
func (db *DB) ListQuarantines(ctx context.Context, repo string) ([]storage.Quarantine, error) {
	// Key order "<repo>@<digest>" first, as the embedded store, then by time.
	recs, err := pgxCollect(db.pool.Query(ctx, `SELECT record FROM quarantines WHERE $1 = '' OR repository = $1
		ORDER BY (repository || '@' || digest) COLLATE "C"`, repo))
	if err != nil {
		return nil, fmt.Errorf("pg: quarantines: %w", err)
	}
	out := []storage.Quarantine{}
	for _, rec := range recs {
		q, err := decode[storage.Quarantine](rec, "quarantine")
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	sortStable(out, func(q storage.Quarantine) time.Time { return q.Time })
	return out, nil
}
