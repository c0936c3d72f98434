package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"cairn.dev/cairn/registry/storage"
)

// The access log (storage.AccessLog) lives in four top-level buckets (see
// buckets.go):
//
//	access            seq (8 bytes, big endian) -> SHA-256 of the encoding (32 bytes) || storage.EncodeAccessRecord
//	access-chain      head   -> seq || SHA-256 of the newest record ever appended
//	                  anchor -> seq || SHA-256 of the last record retention removed (absent: never pruned)
//	access-repo       repository 0x00 seq -> empty
//	access-principal  principal 0x00 seq -> empty
//
// The buckets are created by the first append, so no migration is needed
// and a database without them holds an empty log. The two index buckets
// only make filtered reads fast: every record found through them is
// re-checked against the filter, and VerifyAccess checks that they list
// every record.

var _ storage.AccessLog = (*DB)(nil)

const (
	// accessReadChunk is how many records Access reads per transaction
	// before calling fn outside it.
	accessReadChunk = 1024
	// accessPruneChunk is how many records PruneAccess removes per
	// transaction, so that a large prune does not hold one huge
	// transaction (each chunk appends its own prune record).
	accessPruneChunk = 50_000
)

var genesis = storage.ChainPoint{}

func encodePoint(p storage.ChainPoint) []byte {
	return append(binary.BigEndian.AppendUint64(nil, p.Seq), p.Hash[:]...)
}

// point reads a chain point; ok is false when the key is absent.
func point(b *bolt.Bucket, key []byte) (p storage.ChainPoint, ok bool, err error) {
	if b == nil {
		return p, false, nil
	}
	v := b.Get(key)
	if v == nil {
		return p, false, nil
	}
	if len(v) != 8+sha256.Size {
		return p, true, fmt.Errorf("meta: access log %s: %d bytes, want %d", key, len(v), 8+sha256.Size)
	}
	p.Seq = binary.BigEndian.Uint64(v)
	copy(p.Hash[:], v[8:])
	return p, true, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func indexKey(name string, seq uint64) []byte {
	k := make([]byte, 0, len(name)+1+8)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// accessBuckets are the access log's buckets in one transaction; in a read
// transaction on a database that never logged, they are nil.
type accessBuckets struct {
	tx                           *bolt.Tx
	recs, chain, repo, principal *bolt.Bucket
}

func viewAccess(tx *bolt.Tx) accessBuckets {
	return accessBuckets{
		tx:        tx,
		recs:      tx.Bucket(bucketAccess),
		chain:     tx.Bucket(bucketAccessChain),
		repo:      tx.Bucket(bucketAccessRepo),
		principal: tx.Bucket(bucketAccessPrincipal),
	}
}

func createAccess(tx *bolt.Tx) (accessBuckets, error) {
	ab := accessBuckets{tx: tx}
	for _, p := range []struct {
		b    **bolt.Bucket
		name []byte
	}{{&ab.recs, bucketAccess}, {&ab.chain, bucketAccessChain}, {&ab.repo, bucketAccessRepo}, {&ab.principal, bucketAccessPrincipal}} {
		b, err := tx.CreateBucketIfNotExists(p.name)
		if err != nil {
			return ab, fmt.Errorf("meta: create bucket %s: %w", p.name, err)
		}
		*p.b = b
	}
	return ab, nil
}

// head returns the newest record's chain point: the head key, or the anchor
// when nothing was appended since (or ever).
func (ab accessBuckets) head() (storage.ChainPoint, error) {
	h, ok, err := point(ab.chain, keyAccessHead)
	if ok || err != nil {
		return h, err
	}
	a, _, err := point(ab.chain, keyAccessAnchor)
	return a, err
}

// decodeStored splits a value of bucketAccess and decodes the record; the
// returned record's Hash is the stored one.
func decodeStored(v []byte) (r storage.AccessRecord, stored [sha256.Size]byte, err error) {
	if len(v) < sha256.Size {
		return r, stored, fmt.Errorf("%w: %d bytes", storage.ErrAccessRecordInvalid, len(v))
	}
	copy(stored[:], v)
	r, err = storage.DecodeAccessRecord(v[sha256.Size:])
	if err != nil {
		return r, stored, err
	}
	r.Hash = hex.EncodeToString(stored[:])
	return r, stored, nil
}

// checkStored decodes a value of bucketAccess and reports whether its
// encoding still hashes to the stored hash.
func checkStored(v []byte) (r storage.AccessRecord, stored [sha256.Size]byte, intact bool, err error) {
	r, stored, err = decodeStored(v)
	if err != nil {
		return r, stored, false, err
	}
	return r, stored, sha256.Sum256(v[sha256.Size:]) == stored, nil
}

// appendChain appends recs after the current head, setting Seq, Prev and
// Hash, moves the head, and appends each record's leaf to the access log's
// transparency log (leaf Seq-1) in the same transaction.
func (ab accessBuckets) appendChain(recs []storage.AccessRecord) error {
	head, err := ab.head()
	if err != nil {
		return err
	}
	if err := ab.catchUpLeaves(head.Seq); err != nil {
		return err
	}
	for i := range recs {
		r := &recs[i]
		r.Seq = head.Seq + 1
		r.Prev = head.Hex()
		enc, err := storage.EncodeAccessRecord(r)
		if err != nil {
			return fmt.Errorf("meta: append access: %w", err)
		}
		sum := sha256.Sum256(enc)
		r.Hash = hex.EncodeToString(sum[:])
		if err := ab.recs.Put(seqKey(r.Seq), append(sum[:], enc...)); err != nil {
			return fmt.Errorf("meta: append access: %w", err)
		}
		if r.Repository != "" {
			if err := ab.repo.Put(indexKey(r.Repository, r.Seq), nil); err != nil {
				return fmt.Errorf("meta: append access: %w", err)
			}
		}
		if r.Principal != "" {
			if err := ab.principal.Put(indexKey(r.Principal, r.Seq), nil); err != nil {
				return fmt.Errorf("meta: append access: %w", err)
			}
		}
		head = storage.ChainPoint{Seq: r.Seq, Hash: sum}
		leaf, err := storage.StoredAccessLeaf(enc, r.Hash)
		if err != nil {
			return fmt.Errorf("meta: append access: %w", err)
		}
		if _, err := appendLeaf(ab.tx, storage.LogAccess, leaf); err != nil {
			return fmt.Errorf("meta: append access: %w", err)
		}
	}
	return ab.chain.Put(keyAccessHead, encodePoint(head))
}

// catchUpLeaves gives the records of a database older than the access
// log's transparency log their leaves (storage.AccessLeaves), so that leaf
// i is always the record with seq i+1.
func (ab accessBuckets) catchUpLeaves(head uint64) error {
	have := int64(0)
	if b := ab.tx.Bucket(logBucket(storage.LogAccess)); b != nil {
		have = bucketLogSize(b)
	}
	if uint64(have) >= head {
		return nil
	}
	return storage.AccessLeaves(uint64(have)+1, head, func(seq uint64) (storage.AccessRecord, bool, error) {
		v := ab.recs.Get(seqKey(seq))
		if v == nil {
			return storage.AccessRecord{}, false, nil
		}
		r, _, err := decodeStored(v)
		return r, true, err
	}, func(leaf []byte) error {
		_, err := appendLeaf(ab.tx, storage.LogAccess, leaf)
		return err
	})
}

// AppendAccess implements storage.AccessLog.
func (db *DB) AppendAccess(ctx context.Context, recs ...storage.AccessRecord) ([]storage.AccessRecord, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	now := db.now().UTC()
	out := make([]storage.AccessRecord, len(recs))
	for i, r := range recs {
		if r.Action == storage.ActionPrune {
			return nil, fmt.Errorf("meta: append access: %w: action %q is written by the store only", storage.ErrAccessRecordInvalid, r.Action)
		}
		if r.Time.IsZero() {
			r.Time = now
		}
		r.Time = r.Time.UTC()
		r.Seq, r.Prev, r.Hash = 0, storage.AccessGenesis, ""
		if err := storage.ValidateAccessRecord(&r); err != nil {
			return nil, fmt.Errorf("meta: append access: %w", err)
		}
		out[i] = r
	}
	err := db.db.Update(func(tx *bolt.Tx) error {
		ab, err := createAccess(tx)
		if err != nil {
			return err
		}
		return ab.appendChain(out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Access implements storage.AccessLog. With a repository (or else a
// principal) in the filter it walks that index; otherwise the records
// themselves, newest first with a reverse cursor. Either way it stops as
// soon as Limit records matched.
func (db *DB) Access(ctx context.Context, f storage.AccessFilter, fn func(storage.AccessRecord) error) error {
	before := f.Before
	if before == 0 {
		before = ^uint64(0)
	}
	left := f.Limit
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := accessReadChunk
		if left > 0 && left < n {
			n = left
		}
		var (
			page []storage.AccessRecord
			more bool
		)
		err := db.db.View(func(tx *bolt.Tx) error {
			var err error
			page, more, err = readAccess(viewAccess(tx), &f, before, n)
			return err
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
			if left -= len(page); left == 0 {
				return nil
			}
		}
		if !more {
			return nil
		}
		before = page[len(page)-1].Seq
	}
}

// readAccess returns up to n records matching f with seq < before, newest
// first; more is false when the walk reached the oldest record.
func readAccess(ab accessBuckets, f *storage.AccessFilter, before uint64, n int) (page []storage.AccessRecord, more bool, err error) {
	if ab.recs == nil {
		return nil, false, nil
	}
	var (
		idx    *bolt.Bucket
		prefix []byte
	)
	switch {
	case f.Repository != "":
		idx, prefix = ab.repo, append([]byte(f.Repository), 0)
	case f.Principal != "":
		idx, prefix = ab.principal, append([]byte(f.Principal), 0)
	default:
		idx = ab.recs
	}
	if idx == nil {
		return nil, false, nil
	}
	c := idx.Cursor()
	k, v := c.Seek(binary.BigEndian.AppendUint64(bytes.Clone(prefix), before))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		if len(k) != len(prefix)+8 {
			continue // a longer name sharing the prefix
		}
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		if seq >= before {
			continue
		}
		if idx != ab.recs {
			if v = ab.recs.Get(k[len(prefix):]); v == nil {
				continue // a stale index entry; VerifyAccess reports it
			}
		}
		r, _, err := decodeStored(v)
		if err != nil {
			return nil, false, fmt.Errorf("meta: access record %d: %w", seq, err)
		}
		if !f.Match(&r) {
			continue
		}
		if len(page) == n {
			return page, true, nil
		}
		page = append(page, r)
	}
	return page, false, nil
}

// VerifyAccess implements storage.AccessLog. It reads the whole log in one
// read transaction, so it sees one consistent state; a very long log
// delays writers that need to grow the file until it is done.
func (db *DB) VerifyAccess(ctx context.Context) (storage.AccessChainState, error) {
	var st storage.AccessChainState
	err := db.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = verifyAccess(ctx, viewAccess(tx))
		return err
	})
	return st, err
}

func verifyAccess(ctx context.Context, ab accessBuckets) (storage.AccessChainState, error) {
	w := storage.NewChainWalk()
	anchor, anchored, err := point(ab.chain, keyAccessAnchor)
	if err != nil {
		return w.Fail(0, "anchor unreadable: %v", err), nil
	}
	head, headed, err := point(ab.chain, keyAccessHead)
	if err != nil {
		return w.Fail(0, "head unreadable: %v", err), nil
	}
	if !w.Start(anchor, anchored, head, headed) {
		return w.State(), nil
	}
	var withRepo, withPrinc int
	indexed := func(b *bolt.Bucket, name string, seq uint64) bool {
		return name == "" || (b != nil && b.Get(indexKey(name, seq)) != nil)
	}
	if ab.recs != nil {
		c := ab.recs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if w.Records()%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return w.State(), err
				}
			}
			if len(k) != 8 {
				return w.Fail(w.Want(), "a key of %d bytes among the records", len(k)), nil
			}
			seq := binary.BigEndian.Uint64(k)
			r, stored, intact, err := checkStored(v)
			if !w.Next(seq, r, err, stored, intact) {
				return w.State(), nil
			}
			if !indexed(ab.repo, r.Repository, seq) || !indexed(ab.principal, r.Principal, seq) {
				return w.Fail(seq, "record %d is missing from the repository or principal index: filtered reads would hide it", seq), nil
			}
			if r.Repository != "" {
				withRepo++
			}
			if r.Principal != "" {
				withPrinc++
			}
		}
	}
	if st := w.Finish(); !st.OK {
		return st, nil
	}
	if n := countKeys(ab.repo); n != withRepo {
		return w.Fail(0, "the repository index has %d entries for %d records", n, withRepo), nil
	}
	if n := countKeys(ab.principal); n != withPrinc {
		return w.Fail(0, "the principal index has %d entries for %d records", n, withPrinc), nil
	}
	return w.State(), nil
}

func countKeys(b *bolt.Bucket) int {
	if b == nil {
		return 0
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// PruneAccess implements storage.AccessLog. It verifies the whole chain
// first (one VerifyAccess) and refuses to prune a broken one.
func (db *DB) PruneAccess(ctx context.Context, before time.Time) (int, error) {
	st, err := db.VerifyAccess(ctx)
	if err != nil {
		return 0, err
	}
	if !st.OK {
		return 0, fmt.Errorf("meta: prune access log: %w (run cairn log verify)", st.Err())
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := db.db.Update(func(tx *bolt.Tx) error {
			ab := viewAccess(tx)
			if ab.recs == nil {
				return nil
			}
			var err error
			n, err = pruneChunk(ab, before, db.now().UTC())
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
func pruneChunk(ab accessBuckets, before, now time.Time) (int, error) {
	anchor, _, err := point(ab.chain, keyAccessAnchor)
	if err != nil {
		return 0, err
	}
	head, err := ab.head()
	if err != nil {
		return 0, err
	}
	prev := anchor
	broken := func(what string) (int, error) {
		return 0, fmt.Errorf("meta: prune access log: record %d %s: %w (run cairn log verify)", prev.Seq+1, what, storage.ErrAccessChainBroken)
	}
	type victim struct {
		key             []byte
		repo, principal string
	}
	var drop []victim
	c := ab.recs.Cursor()
	for k, v := c.First(); k != nil && len(drop) < accessPruneChunk; k, v = c.Next() {
		r, stored, intact, err := checkStored(v)
		switch {
		case err != nil:
			return broken("cannot be decoded")
		case len(k) != 8 || binary.BigEndian.Uint64(k) != prev.Seq+1 || r.Seq != prev.Seq+1:
			return broken("is missing or moved")
		case !intact:
			return broken("does not match its hash")
		case r.Prev != prev.Hex():
			return broken("does not follow the one before")
		case r.Seq == head.Seq && stored != head.Hash:
			return broken("is not the head")
		}
		if !r.Time.Before(before) {
			break
		}
		drop = append(drop, victim{key: bytes.Clone(k), repo: r.Repository, principal: r.Principal})
		prev = storage.ChainPoint{Seq: r.Seq, Hash: stored}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	if prev.Seq > head.Seq {
		return broken("is after the head")
	}
	for _, d := range drop {
		seq := binary.BigEndian.Uint64(d.key)
		if err := ab.recs.Delete(d.key); err != nil {
			return 0, err
		}
		if d.repo != "" {
			if err := ab.repo.Delete(indexKey(d.repo, seq)); err != nil {
				return 0, err
			}
		}
		if d.principal != "" {
			if err := ab.principal.Delete(indexKey(d.principal, seq)); err != nil {
				return 0, err
			}
		}
	}
	if err := ab.chain.Put(keyAccessAnchor, encodePoint(prev)); err != nil {
		return 0, err
	}
	rec := storage.PruneRecord(prev, len(drop), before, now)
	if err := ab.appendChain([]storage.AccessRecord{rec}); err != nil {
		return 0, err
	}
	return len(drop), nil
}

// OpenReadOnly opens the database at path for reading, with a shared lock,
// without migrating it: for offline readers such as cairn log. While a
// server holds the database it fails with ErrLocked after
// opts.LockTimeout; a missing file fails with an error wrapping
// fs.ErrNotExist. Methods that write return an error.
func OpenReadOnly(path string, opts *Options) (*DB, error) {
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("meta: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w", path, err)
	}
	err = bdb.View(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		if mb == nil {
			return fmt.Errorf("meta: open %s: not a cairn database (no %s bucket)", path, bucketMeta)
		}
		if b := mb.Get(keySchema); len(b) == 8 && binary.BigEndian.Uint64(b) > SchemaVersion {
			return fmt.Errorf("meta: schema %d, this binary knows %d: %w", binary.BigEndian.Uint64(b), SchemaVersion, ErrSchemaTooNew)
		}
		return nil
	})
	if err != nil {
		bdb.Close()
		return nil, err
	}
	return &DB{db: bdb, now: time.Now}, nil
}
