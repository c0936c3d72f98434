package pg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.Leases = (*DB)(nil)

// AcquireLease implements storage.Leases. One statement takes a free or
// expired lease or renews the holder's own; the row's lock makes it atomic.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) error {
	var got string
	err := db.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires) VALUES ($1, $2, now() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires
		WHERE leases.holder = EXCLUDED.holder OR leases.expires <= now()
		RETURNING holder`, name, holder, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		var other string
		var until time.Time
		if err := db.pool.QueryRow(ctx, "SELECT holder, expires FROM leases WHERE name = $1", name).Scan(&other, &until); err != nil {
			return fmt.Errorf("lease %s: %w", name, storage.ErrLeaseHeld)
		}
		return fmt.Errorf("lease %s: %w: %s until %s", name, storage.ErrLeaseHeld, other, until.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("pg: lease %s: %w", name, err)
	}
	return nil
}

// ReleaseLease implements storage.Leases.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder); err != nil {
		return fmt.Errorf("pg: release lease %s: %w", name, err)
	}
	return nil
}
