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

// leafBatch collects the leaves of one transaction, appended together by
// flush at its end: one lock, one size read and one insert for all of them,
// in the same commit as the changes they record (an acknowledged change is
// always a leaf). The log's advisory lock, held from flush to the commit,
// gives every node one order.
type leafBatch struct {
	log     string
	entries [][]byte
	// done[i] is called with the index of leaf i once it is known.
	done []func(leaf int64) error
}

// add queues e; done (may be nil) learns its leaf index at flush.
func (b *leafBatch) add(e storage.LogEntry, done func(leaf int64) error) error {
	return b.addData(storage.EncodeLogEntry(e), done)
}

// addData queues the leaf data.
func (b *leafBatch) addData(data []byte, done func(leaf int64) error) error {
	if len(data) > storage.MaxLogEntrySize {
		return fmt.Errorf("pg: log %s: entry of %d bytes, more than %d", b.log, len(data), storage.MaxLogEntrySize)
	}
	b.entries = append(b.entries, data)
	b.done = append(b.done, done)
	return nil
}

// flush appends the queued leaves in tx.
func (b *leafBatch) flush(ctx context.Context, tx pgx.Tx) error {
	if len(b.entries) == 0 {
		return nil
	}
	if err := lockXact(ctx, tx, "tlog:"+b.log, false); err != nil {
		return err
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT COALESCE(max(idx) + 1, 0) FROM tlog_leaves WHERE log = $1", b.log).Scan(&n); err != nil {
		return fmt.Errorf("pg: log %s: size: %w", b.log, err)
	}
	// Hashes of this batch's own leaves come from memory, older ones from
	// the table.
	mine := map[int64]tlog.Hash{}
	stored := hashReader(ctx, tx, b.log)
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var older []int64
		for _, x := range indexes {
			if _, ok := mine[x]; !ok {
				older = append(older, x)
			}
		}
		got, err := stored.ReadHashes(older)
		if err != nil {
			return nil, err
		}
		for i, x := range indexes {
			if h, ok := mine[x]; ok {
				out[i] = h
			} else {
				out[i], got = got[0], got[1:]
			}
		}
		return out, nil
	})
	idxs := make([]int64, len(b.entries))
	hashes := make([][]byte, len(b.entries))
	for i, data := range b.entries {
		idx := n + int64(i)
		hs, err := tlog.StoredHashes(idx, data, reader)
		if err != nil {
			return fmt.Errorf("pg: log %s: leaf %d: %w", b.log, idx, err)
		}
		base := tlog.StoredHashIndex(0, idx)
		for k, h := range hs {
			mine[base+int64(k)] = h
			hashes[i] = append(hashes[i], h[:]...)
		}
		idxs[i] = idx
	}
	_, err := tx.Exec(ctx, "INSERT INTO tlog_leaves (log, idx, hashes, entry) SELECT $1, unnest($2::bigint[]), unnest($3::bytea[]), unnest($4::bytea[])",
		b.log, idxs, hashes, b.entries)
	if err != nil {
		return fmt.Errorf("pg: log %s: append %d leaves: %w", b.log, len(idxs), err)
	}
	for i, done := range b.done {
		if done != nil {
			if err := done(idxs[i]); err != nil {
				return err
			}
		}
	}
	b.entries, b.done = b.entries[:0], b.done[:0]
	return nil
}

// appendEntry appends e to the log of names in tx, alone.
func appendEntry(ctx context.Context, tx pgx.Tx, e storage.LogEntry) error {
	b := &leafBatch{log: storage.LogNames}
	if err := b.add(e, nil); err != nil {
		return err
	}
	return b.flush(ctx, tx)
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
