package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.TransparencyLogs = (*DB)(nil)

// appendLeaf adds data as the next leaf of log in the transaction of the
// change it records and returns its index. The log's advisory lock, held
// to the commit, gives every node one order: the leaf is appended by the
// same commit as the change (an acknowledged change is always a leaf) and
// appends from all nodes form one tree.
func appendLeaf(ctx context.Context, tx pgx.Tx, log string, data []byte) (int64, error) {
	if len(data) > storage.MaxLogEntrySize {
		return 0, fmt.Errorf("pg: log %s: entry of %d bytes, more than %d", log, len(data), storage.MaxLogEntrySize)
	}
	if err := lockXact(ctx, tx, "tlog:"+log, false); err != nil {
		return 0, err
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT COALESCE(max(idx) + 1, 0) FROM tlog_leaves WHERE log = $1", log).Scan(&n); err != nil {
		return 0, fmt.Errorf("pg: log %s: size: %w", log, err)
	}
	stored, err := tlog.StoredHashes(n, data, hashReader(ctx, tx, log))
	if err != nil {
		return 0, fmt.Errorf("pg: log %s: leaf %d: %w", log, n, err)
	}
	hashes := make([]byte, 0, len(stored)*tlog.HashSize)
	for _, h := range stored {
		hashes = append(hashes, h[:]...)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO tlog_leaves (log, idx, hashes, entry) VALUES ($1, $2, $3, $4)", log, n, hashes, data); err != nil {
		return 0, fmt.Errorf("pg: log %s: leaf %d: %w", log, n, err)
	}
	return n, nil
}

// appendEntry appends e to the log of names.
func appendEntry(ctx context.Context, tx pgx.Tx, e storage.LogEntry) (int64, error) {
	return appendLeaf(ctx, tx, storage.LogNames, storage.EncodeLogEntry(e))
}

// hashReader reads stored hashes, each from the leaf storage.StoredHashLeaf
// names, in one query.
func hashReader(ctx context.Context, q querier, log string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		if len(indexes) == 0 {
			return nil, nil // an even leaf completes no subtree: no round trip
		}
		leaves := make([]int64, len(indexes))
		levels := make([]int, len(indexes))
		for i, x := range indexes {
			leaf, level, ok := storage.StoredHashLeaf(x)
			if !ok {
				return nil, fmt.Errorf("pg: stored hash %d: %w", x, storage.ErrLogCorrupt)
			}
			leaves[i], levels[i] = leaf, level
		}
		rows, err := q.Query(ctx, "SELECT idx, hashes FROM tlog_leaves WHERE log = $1 AND idx = ANY($2)", log, leaves)
		if err != nil {
			return nil, fmt.Errorf("pg: log %s: %w", log, err)
		}
		found := map[int64][]byte{}
		var idx int64
		var hashes []byte
		_, err = pgx.ForEachRow(rows, []any{&idx, &hashes}, func() error {
			found[idx] = append([]byte(nil), hashes...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("pg: log %s: %w", log, err)
		}
		out := make([]tlog.Hash, len(indexes))
		for i := range indexes {
			h := found[leaves[i]]
			if len(h) < (levels[i]+1)*tlog.HashSize {
				return nil, fmt.Errorf("pg: stored hash %d: %w", indexes[i], storage.ErrLogCorrupt)
			}
			copy(out[i][:], h[levels[i]*tlog.HashSize:])
		}
		return out, nil
	})
}

// LogSize implements storage.TransparencyLogs.
func (db *DB) LogSize(ctx context.Context, log string) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, "SELECT COALESCE(max(idx) + 1, 0) FROM tlog_leaves WHERE log = $1", log).Scan(&n); err != nil {
		return 0, fmt.Errorf("pg: log %s: size: %w", log, err)
	}
	return n, nil
}

// LogHashes implements storage.TransparencyLogs.
func (db *DB) LogHashes(ctx context.Context, log string, indexes []int64) ([]tlog.Hash, error) {
	return hashReader(ctx, db.pool, log).ReadHashes(indexes)
}

// LogEntries implements storage.TransparencyLogs.
func (db *DB) LogEntries(ctx context.Context, log string, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("pg: log %s: entries [%d, %d): bad range", log, start, end)
	}
	rows, err := db.pool.Query(ctx, "SELECT idx, entry FROM tlog_leaves WHERE log = $1 AND idx >= $2 AND idx < $3 ORDER BY idx", log, start, end)
	if err != nil {
		return nil, fmt.Errorf("pg: log %s: %w", log, err)
	}
	out := make([][]byte, 0, end-start)
	var idx int64
	var entry []byte
	_, err = pgx.ForEachRow(rows, []any{&idx, &entry}, func() error {
		if idx != start+int64(len(out)) {
			return errors.New("gap")
		}
		out = append(out, append([]byte(nil), entry...))
		return nil
	})
	if err != nil || int64(len(out)) != end-start {
		return nil, fmt.Errorf("pg: log %s: entry %d: %w", log, start+int64(len(out)), storage.ErrLogCorrupt)
	}
	return out, nil
}
