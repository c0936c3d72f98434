package pg

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is a storage.Metadata (and storage.Quarantines, storage.Accounts,
// storage.AccessLog, storage.Leases) in a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// defaultMaxConns is the pool size when the URL does not set
// pool_max_conns: enough for a node serving many clients at once, each
// request holding a connection only for its statements.
func defaultMaxConns() int32 { return int32(max(16, 4*runtime.GOMAXPROCS(0))) }

// Open connects to the database named by url (postgres://... or
// postgresql://..., any parameter pgx knows, pool_max_conns included) and
// migrates it to the current schema. The schema is the first of the
// connection's search_path, so url may pick one with
// ?search_path=NAME; it must exist.
func Open(ctx context.Context, url string) (*DB, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, fmt.Errorf("pg: %w: want postgres://...", ErrURL)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("pg: %w: %v", ErrURL, redact(err, url))
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pg: connect: %v", redact(err, url))
	}
	db := &DB{pool: pool, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// redact removes url's password from err's text.
func redact(err error, url string) string {
	msg := err.Error()
	if cfg, perr := pgconn.ParseConfig(url); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}

// Close closes the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool exposes the connection pool, for tests and tools that need to look
// at the tables.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations returns the embedded migrations in order: file i (from 0)
// is named NNN_*.sql with NNN = i+1 and takes the schema from version i to
// i+1. Append, never edit.
func migrations() ([]string, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []string
	for i, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if n, err := strconv.Atoi(num); !ok || err != nil || n != i+1 {
			return nil, fmt.Errorf("pg: migration %s is out of sequence (want number %d)", e.Name(), i+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// SchemaVersion is the schema this binary writes: the number of embedded
// migrations.
var SchemaVersion = func() int {
	m, err := migrations()
	if err != nil {
		panic(err)
	}
	return len(m)
}()

// Advisory lock names; the key is hashed with the schema's name, so that
// several schemas in one database (tests) do not share locks.
const (
	lockMigrate = "migrate"
	lockGC      = "gc"     // shared by PutManifest, exclusive by LiveBlobs
	lockAccess  = "access" // serialises appends to the access log
)

// lockXact takes a transaction-level advisory lock.
func lockXact(ctx context.Context, tx pgx.Tx, name string, shared bool) error {
	fn := "pg_advisory_xact_lock"
	if shared {
		fn = "pg_advisory_xact_lock_shared"
	}
	_, err := tx.Exec(ctx, "SELECT "+fn+"(hashtextextended(current_schema() || ':cairn:' || $1, 0))", name)
	if err != nil {
		return fmt.Errorf("pg: lock %s: %w", name, err)
	}
	return nil
}

// migrate brings the schema to SchemaVersion in one transaction, under an
// advisory lock so that nodes starting together migrate once.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("pg: migrate: %w", err)
		}
		if schema == nil {
			return fmt.Errorf("pg: migrate: %w", ErrNoSchema)
		}
		if err := lockXact(ctx, tx, lockMigrate, false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"); err != nil {
			return fmt.Errorf("pg: migrate: %w", err)
		}
		var v int
		err := tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES (0)")
		}
		if err != nil {
			return fmt.Errorf("pg: migrate: %w", err)
		}
		if v > len(ms) {
			return fmt.Errorf("pg: schema %d, this binary knows %d: %w", v, len(ms), ErrSchemaTooNew)
		}
		for ; v < len(ms); v++ {
			if _, err := tx.Exec(ctx, ms[v]); err != nil {
				return fmt.Errorf("pg: migrate to schema %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE schema_version SET version = $1", v); err != nil {
			return fmt.Errorf("pg: migrate: %w", err)
		}
		return nil
	})
}

// Schema returns the database's schema version.
func (db *DB) Schema(ctx context.Context) (int, error) {
	var v int
	err := db.pool.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
	return v, err
}

// maxAttempts bounds the retries of a transaction that lost a deadlock or
// a serialization conflict.
const maxAttempts = 5

// tx runs fn in a transaction, retrying it when PostgreSQL aborted it for a
// deadlock or a serialization failure.
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.txOptions(ctx, pgx.TxOptions{}, fn)
}

func (db *DB) txOptions(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	var err error
	for range maxAttempts {
		err = pgx.BeginTxFunc(ctx, db.pool, opts, fn)
		if !retryable(err) {
			return err
		}
	}
	return err
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// repoID returns the id of a repository, creating it when create is set.
// ok is false when it does not exist and create is not set.
func repoID(ctx context.Context, q querier, name string, create bool) (id int64, ok bool, err error) {
	for range 2 {
		err = q.QueryRow(ctx, "SELECT id FROM repositories WHERE name = $1", name).Scan(&id)
		if err == nil {
			return id, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("pg: repository %s: %w", name, err)
		}
		if !create {
			return 0, false, nil
		}
		// Another transaction may create it meanwhile: then the insert
		// does nothing and the select finds it.
		err = q.QueryRow(ctx, "INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id", name).Scan(&id)
		if err == nil {
			return id, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("pg: create repository %s: %w", name, err)
		}
	}
	return 0, false, fmt.Errorf("pg: create repository %s: not found after insert", name)
}

// lockRepo creates (when create is set) and locks a repository's row for
// the rest of tx: writes to a repository's tags and manifests are
// serialised by it, so its tag history has one order on every node. The
// lock does not block blob links (they take KEY SHARE).
func lockRepo(ctx context.Context, tx pgx.Tx, name string, create bool) (int64, bool, error) {
	id, ok, err := repoID(ctx, tx, name, create)
	if err != nil || !ok {
		return id, ok, err
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM repositories WHERE id = $1 FOR NO KEY UPDATE", id); err != nil {
		return 0, false, fmt.Errorf("pg: lock repository %s: %w", name, err)
	}
	return id, true, nil
}

// decode unmarshals a JSON record.
func decode[T any](b []byte, what string) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("pg: decode %s: %w", what, err)
	}
	return v, nil
}

// limit turns "n <= 0: all" into a LIMIT argument (NULL is no limit).
func limit(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}

// collectStrings returns the first column of every row.
func collectStrings(rows pgx.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// sortStable sorts by key, keeping the order of equal keys.
func sortStable[T any](s []T, key func(T) time.Time) {
	slices.SortStableFunc(s, func(a, b T) int { return key(a).Compare(key(b)) })
}
