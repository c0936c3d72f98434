package pg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"cairn.dev/cairn/registry/storage"
)

// The access log (storage.AccessLog) is two tables (migrations/003):
//
//	access_log    seq -> hash (SHA-256 of enc), enc (storage.EncodeAccessRecord),
//	              repository, principal (the record's fields, for the indexes)
//	access_chain  'head'   -> seq, hash of the newest record ever appended
//	              'anchor' -> seq, hash of the last record retention removed
//
// Appends from every node are serialised by one advisory lock (lockAccess)
// taken in the appending transaction, so the chain has one order however
// many nodes write to it. The same checks as the embedded store's run on
// VerifyAccess, and the index columns are checked against each record.

var _ storage.AccessLog = (*DB)(nil)

const (
	// accessReadChunk is how many rows Access reads per query before
	// calling fn.
	accessReadChunk = 1024
	// accessPruneChunk is how many records PruneAccess removes per
	// transaction.
	accessPruneChunk = 50_000
)

// point reads a row of access_chain; ok is false when there is none.
func point(ctx context.Context, q querier, name string) (p storage.ChainPoint, ok bool, err error) {
	var seq int64
	var h []byte
	err = q.QueryRow(ctx, "SELECT seq, hash FROM access_chain WHERE name = $1", name).Scan(&seq, &h)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("pg: access log %s: %w", name, err)
	}
	if len(h) != sha256.Size || seq < 0 {
		return p, true, fmt.Errorf("pg: access log %s: seq %d, %d hash bytes", name, seq, len(h))
	}
	p.Seq = uint64(seq)
	copy(p.Hash[:], h)
	return p, true, nil
}

func setPoint(ctx context.Context, tx pgx.Tx, name string, p storage.ChainPoint) error {
	_, err := tx.Exec(ctx, `INSERT INTO access_chain (name, seq, hash) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash`, name, int64(p.Seq), p.Hash[:])
	if err != nil {
		return fmt.Errorf("pg: access log %s: %w", name, err)
	}
	return nil
}

// head returns the newest record's chain point: the head, or the anchor
// when nothing was appended since (or ever).
func head(ctx context.Context, q querier) (storage.ChainPoint, error) {
	h, ok, err := point(ctx, q, "head")
	if ok || err != nil {
		return h, err
	}
	a, _, err := point(ctx, q, "anchor")
	return a, err
}

// nullable returns s as bytes, or NULL for "".
func nullable(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// appendChain appends recs after the head in tx, which holds lockAccess,
// setting Seq, Prev and Hash, moves the head, and appends each record's
// leaf to the access log's transparency log (leaf Seq-1) in the same
// transaction.
func appendChain(ctx context.Context, tx pgx.Tx, recs []storage.AccessRecord) error {
	h, err := head(ctx, tx)
	if err != nil {
		return err
	}
	leaves := &leafBatch{log: storage.LogAccess}
	if err := catchUpLeaves(ctx, tx, h.Seq, leaves); err != nil {
		return err
	}
	rows := make([][]any, len(recs))
	for i := range recs {
		r := &recs[i]
		r.Seq = h.Seq + 1
		r.Prev = h.Hex()
		enc, err := storage.EncodeAccessRecord(r)
		if err != nil {
			return fmt.Errorf("pg: append access: %w", err)
		}
		sum := sha256.Sum256(enc)
		r.Hash = hex.EncodeToString(sum[:])
		rows[i] = []any{int64(r.Seq), sum[:], enc, nullable(r.Repository), nullable(r.Principal), []byte(r.Action), []byte(r.Result)}
		h = storage.ChainPoint{Seq: r.Seq, Hash: sum}
		leaf, err := storage.StoredAccessLeaf(enc, r.Hash)
		if err != nil {
			return fmt.Errorf("pg: append access: %w", err)
		}
		if err := leaves.addData(leaf, nil); err != nil {
			return err
		}
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"access_log"}, []string{"seq", "hash", "enc", "repository", "principal", "action", "result"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("pg: append access: %w", err)
	}
	if err := leaves.flush(ctx, tx); err != nil {
		return err
	}
	return setPoint(ctx, tx, "head", h)
}

// catchUpLeaves queues the leaves of the records of a database older than
// the access log's transparency log (storage.AccessLeaves), so that leaf i
// is always the record with seq i+1.
func catchUpLeaves(ctx context.Context, tx pgx.Tx, head uint64, leaves *leafBatch) error {
	var have int64
	if err := tx.QueryRow(ctx, "SELECT COALESCE(max(idx) + 1, 0) FROM tlog_leaves WHERE log = $1", storage.LogAccess).Scan(&have); err != nil {
		return fmt.Errorf("pg: log %s: size: %w", storage.LogAccess, err)
	}
	if uint64(have) >= head {
		return nil
	}
	rows, err := tx.Query(ctx, "SELECT seq, hash, enc FROM access_log WHERE seq > $1 AND seq <= $2 ORDER BY seq", have, int64(head))
	if err != nil {
		return fmt.Errorf("pg: read access log: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (stored, error) {
		var s stored
		err := row.Scan(&s.seq, &s.hash, &s.enc)
		return s, err
	})
	if err != nil {
		return fmt.Errorf("pg: read access log: %w", err)
	}
	bySeq := make(map[uint64]*stored, len(recs))
	for i := range recs {
		bySeq[uint64(recs[i].seq)] = &recs[i]
	}
	return storage.AccessLeaves(uint64(have)+1, head, func(seq uint64) (storage.AccessRecord, bool, error) {
		s := bySeq[seq]
		if s == nil {
			return storage.AccessRecord{}, false, nil
		}
		r, _, err := s.decode()
		return r, true, err
	}, func(leaf []byte) error { return leaves.addData(leaf, nil) })
}

// AppendAccess implements storage.AccessLog.
func (db *DB) AppendAccess(ctx context.Context, recs ...storage.AccessRecord) ([]storage.AccessRecord, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	now := db.now().UTC()
	in := make([]storage.AccessRecord, len(recs))
	for i, r := range recs {
		if r.Action == storage.ActionPrune {
			return nil, fmt.Errorf("pg: append access: %w: action %q is written by the store only", storage.ErrAccessRecordInvalid, r.Action)
		}
		if r.Time.IsZero() {
			r.Time = now
		}
		r.Time = r.Time.UTC()
		r.Seq, r.Prev, r.Hash = 0, storage.AccessGenesis, ""
		if err := storage.ValidateAccessRecord(&r); err != nil {
			return nil, fmt.Errorf("pg: append access: %w", err)
		}
		in[i] = r
	}
	out := make([]storage.AccessRecord, len(in))
	err := db.tx(ctx, func(tx pgx.Tx) error {
		copy(out, in)
		if err := lockXact(ctx, tx, lockAccess, false); err != nil {
			return err
		}
		return appendChain(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stored is a row of access_log.
type stored struct {
	seq                   int64
	hash, enc             []byte
	repository, principal []byte
	action, result        []byte
}

// decode decodes the record; its Hash is the stored hash, and intact
// reports whether the encoding still hashes to it.
func (s *stored) decode() (r storage.AccessRecord, intact bool, err error) {
	if len(s.hash) != sha256.Size {
		return r, false, fmt.Errorf("%w: a hash of %d bytes", storage.ErrAccessRecordInvalid, len(s.hash))
	}
	r, err = storage.DecodeAccessRecord(s.enc)
	if err != nil {
		return r, false, err
	}
	sum := sha256.Sum256(s.enc)
	r.Hash = hex.EncodeToString(s.hash)
	return r, string(sum[:]) == string(s.hash), nil
}

// Access implements storage.AccessLog: newest first, filtered by the
// database (by index for a repository or a principal), in chunks; each
// record is re-checked against the filter after decoding.
func (db *DB) Access(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error {
	before := int64(1<<63 - 1)
	if f.Before > 0 {
		before = int64(min(f.Before, 1<<63-1))
	}
	sql := "SELECT seq, hash, enc FROM access_log WHERE seq < $1"
	args := []any{before}
	for _, c := range []struct{ col, val string }{
		{"repository", f.Repository}, {"principal", f.Principal}, {"action", f.Action}, {"result", f.Result},
	} {
		if c.val != "" {
			args = append(args, []byte(c.val))
			sql += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
		}
	}
	sql += fmt.Sprintf(" ORDER BY seq DESC LIMIT $%d", len(args)+1)
	left := f.Limit
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := accessReadChunk
		if left > 0 && left < n {
			n = left
		}
		rows, err := db.pool.Query(ctx, sql, append(args, n)...)
		if err != nil {
			return fmt.Errorf("pg: read access log: %w", err)
		}
		var page []storage.AccessRecord
		var s stored
		got := 0
		_, err = pgx.ForEachRow(rows, []any{&s.seq, &s.hash, &s.enc}, func() error {
			got++
			args[0] = s.seq
			r, _, err := s.decode()
			if err != nil {
				return fmt.Errorf("pg: access record %d: %w", s.seq, err)
			}
			if f.Match(&r) {
				page = append(page, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if left > 0 {
			if left -= len(page); left <= 0 {
				return nil
			}
		}
		if got < n {
			return nil
		}
	}
}

// VerifyAccess implements storage.AccessLog. It reads the whole log in one
// repeatable-read transaction, so it sees one consistent state without
// blocking appends.
func (db *DB) VerifyAccess(ctx context.Context) (storage.AccessChainState, error) {
	var st storage.AccessChainState
	err := db.txOptions(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		st, err = verifyAccess(ctx, tx)
		return err
	})
	return st, err
}

func verifyAccess(ctx context.Context, tx pgx.Tx) (storage.AccessChainState, error) {
	w := storage.NewChainWalk()
	anchor, anchored, err := point(ctx, tx, "anchor")
	if err != nil {
		return w.Fail(0, "anchor unreadable: %v", err), nil
	}
	hd, headed, err := point(ctx, tx, "head")
	if err != nil {
		return w.Fail(0, "head unreadable: %v", err), nil
	}
	if !w.Start(anchor, anchored, hd, headed) {
		return w.State(), nil
	}
	rows, err := tx.Query(ctx, "SELECT seq, hash, enc, repository, principal, action, result FROM access_log ORDER BY seq")
	if err != nil {
		return w.State(), fmt.Errorf("pg: read access log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.seq, &s.hash, &s.enc, &s.repository, &s.principal, &s.action, &s.result); err != nil {
			return w.State(), fmt.Errorf("pg: read access log: %w", err)
		}
		if w.Records()%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return w.State(), err
			}
		}
		if s.seq < 0 {
			return w.Fail(w.Want(), "a negative seq %d among the records", s.seq), nil
		}
		seq := uint64(s.seq)
		r, intact, err := s.decode()
		var h [sha256.Size]byte
		copy(h[:], s.hash)
		if !w.Next(seq, r, err, h, intact) {
			return w.State(), nil
		}
		// The index columns must say what the record says, or filtered
		// reads would hide it.
		if string(s.repository) != r.Repository || string(s.principal) != r.Principal ||
			(s.repository != nil) != (r.Repository != "") || (s.principal != nil) != (r.Principal != "") ||
			string(s.action) != r.Action || string(s.result) != r.Result {
			return w.Fail(seq, "record %d is missing from the repository or principal index: filtered reads would hide it", seq), nil
		}
	}
	if err := rows.Err(); err != nil {
		return w.State(), fmt.Errorf("pg: read access log: %w", err)
	}
	return w.Finish(), nil
}

// PruneAccess implements storage.AccessLog. It verifies the whole chain
// first and refuses to prune a broken one.
func (db *DB) PruneAccess(ctx context.Context, before time.Time) (int, error) {
	st, err := db.VerifyAccess(ctx)
	if err != nil {
		return 0, err
	}
	if !st.OK {
		return 0, fmt.Errorf("pg: prune access log: %w (run cairn log verify)", st.Err())
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := db.tx(ctx, func(tx pgx.Tx) error {
			if err := lockXact(ctx, tx, lockAccess, false); err != nil {
				return err
			}
			var err error
			n, err = pruneChunk(ctx, tx, before, db.now().UTC())
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < accessPruneChunk {
			return total, nil
		}
	}
}

// pruneChunk removes up to accessPruneChunk of the oldest records older
// than before, checking the chain as it goes, moves the anchor to the last
// one removed and appends the prune record.
func pruneChunk(ctx context.Context, tx pgx.Tx, before, now time.Time) (int, error) {
	anchor, _, err := point(ctx, tx, "anchor")
	if err != nil {
		return 0, err
	}
	hd, err := head(ctx, tx)
	if err != nil {
		return 0, err
	}
	prev := anchor
	broken := func(what string) (int, error) {
		return 0, fmt.Errorf("pg: prune access log: record %d %s: %w (run cairn log verify)", prev.Seq+1, what, storage.ErrAccessChainBroken)
	}
	rows, err := tx.Query(ctx, "SELECT seq, hash, enc FROM access_log ORDER BY seq LIMIT $1", accessPruneChunk+1)
	if err != nil {
		return 0, fmt.Errorf("pg: read access log: %w", err)
	}
	var recs []stored
	recs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (stored, error) {
		var s stored
		err := row.Scan(&s.seq, &s.hash, &s.enc)
		return s, err
	})
	if err != nil {
		return 0, fmt.Errorf("pg: read access log: %w", err)
	}
	n := 0
	for _, s := range recs {
		if n == accessPruneChunk {
			break
		}
		r, intact, err := s.decode()
		switch {
		case err != nil:
			return broken("cannot be decoded")
		case uint64(s.seq) != prev.Seq+1 || r.Seq != prev.Seq+1:
			return broken("is missing or moved")
		case !intact:
			return broken("does not match its hash")
		case r.Prev != prev.Hex():
			return broken("does not follow the one before")
		case r.Seq == hd.Seq && string(s.hash) != string(hd.Hash[:]):
			return broken("is not the head")
		}
		if !r.Time.Before(before) {
			break
		}
		n++
		prev.Seq = r.Seq
		copy(prev.Hash[:], s.hash)
	}
	if n == 0 {
		return 0, nil
	}
	if prev.Seq > hd.Seq {
		return broken("is after the head")
	}
	if _, err := tx.Exec(ctx, "DELETE FROM access_log WHERE seq <= $1", int64(prev.Seq)); err != nil {
		return 0, fmt.Errorf("pg: prune access log: %w", err)
	}
	if err := setPoint(ctx, tx, "anchor", prev); err != nil {
		return 0, err
	}
	rec := storage.PruneRecord(prev, n, before, now)
	if err := appendChain(ctx, tx, []storage.AccessRecord{rec}); err != nil {
		return 0, err
	}
	return n, nil
}
