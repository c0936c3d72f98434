package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

var _ storage.TransparencyLogs = (*DB)(nil)

// Each log is one top-level bucket, created by its first leaf (an older
// database needs no migration):
//
//	tlog/<log>   leaf index (8 bytes, big endian) -> k (1 byte) || k stored hashes (32 bytes each) || entry
//
// The stored hashes of a leaf are those tlog.StoredHashes returns when it
// is appended: the leaf's hash and the hashes of the subtrees it
// completes. Keeping them with the entry makes an append one Put in one
// B+tree. The tree size is the number of leaves.
func logBucket(log string) []byte { return []byte("tlog/" + log) }

func u64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// appendLeaf adds data as the next leaf of log inside tx and returns its
// index. It reads the O(log n) stored hashes tlog.StoredHashes needs and
// writes one value.
func appendLeaf(tx *bolt.Tx, log string, data []byte) (int64, error) {
	if len(data) > storage.MaxLogEntrySize {
		return 0, fmt.Errorf("meta: log %s: entry of %d bytes, more than %d", log, len(data), storage.MaxLogEntrySize)
	}
	b, err := tx.CreateBucketIfNotExists(logBucket(log))
	if err != nil {
		return 0, fmt.Errorf("meta: log %s: %w", log, err)
	}
	// Keys only ever grow: full pages split less and waste nothing.
	b.FillPercent = 1.0
	n := bucketLogSize(b)
	stored, err := tlog.StoredHashes(n, data, hashReader(b))
	if err != nil {
		return 0, fmt.Errorf("meta: log %s: leaf %d: %w", log, n, err)
	}
	v := make([]byte, 0, 1+len(stored)*tlog.HashSize+len(data))
	v = append(v, byte(len(stored)))
	for _, h := range stored {
		v = append(v, h[:]...)
	}
	v = append(v, data...)
	if err := b.Put(u64(n), v); err != nil {
		return 0, err
	}
	return n, nil
}

// appendEntry appends e to the log of names.
func appendEntry(tx *bolt.Tx, e storage.LogEntry) (int64, error) {
	return appendLeaf(tx, storage.LogNames, storage.EncodeLogEntry(e))
}

func bucketLogSize(b *bolt.Bucket) int64 {
	k, _ := b.Cursor().Last()
	if k == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(k)) + 1
}

// splitLeaf splits a stored leaf value into its stored hashes and entry.
func splitLeaf(v []byte) (hashes, entry []byte, ok bool) {
	if len(v) < 1 {
		return nil, nil, false
	}
	k := int(v[0])
	if len(v) < 1+k*tlog.HashSize {
		return nil, nil, false
	}
	return v[1 : 1+k*tlog.HashSize], v[1+k*tlog.HashSize:], true
}

// hashReader reads stored hashes from a log's bucket, each from the leaf
// storage.StoredHashLeaf names.
func hashReader(b *bolt.Bucket) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			leaf, level, ok := storage.StoredHashLeaf(x)
			var hashes []byte
			if b != nil && ok {
				hashes, _, ok = splitLeaf(b.Get(u64(leaf)))
			}
			if !ok || len(hashes) < (level+1)*tlog.HashSize {
				return nil, fmt.Errorf("meta: stored hash %d: %w", x, storage.ErrLogCorrupt)
			}
			copy(out[i][:], hashes[level*tlog.HashSize:])
		}
		return out, nil
	})
}

// LogSize implements storage.TransparencyLogs.
func (db *DB) LogSize(ctx context.Context, log string) (int64, error) {
	var n int64
	err := db.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(logBucket(log)); b != nil {
			n = bucketLogSize(b)
		}
		return nil
	})
	return n, err
}

// LogHashes implements storage.TransparencyLogs.
func (db *DB) LogHashes(ctx context.Context, log string, indexes []int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	err := db.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = hashReader(tx.Bucket(logBucket(log))).ReadHashes(indexes)
		return err
	})
	return out, err
}

// LogEntries implements storage.TransparencyLogs.
func (db *DB) LogEntries(ctx context.Context, log string, start, end int64) ([][]byte, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("meta: log %s: entries [%d, %d): bad range", log, start, end)
	}
	out := make([][]byte, 0, end-start)
	err := db.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(logBucket(log))
		if b == nil {
			if end > start {
				return fmt.Errorf("meta: log %s: entry %d: %w", log, start, storage.ErrLogCorrupt)
			}
			return nil
		}
		c := b.Cursor()
		i := start
		for k, v := c.Seek(u64(start)); k != nil && i < end; k, v = c.Next() {
			if int64(binary.BigEndian.Uint64(k)) != i {
				break
			}
			_, e, ok := splitLeaf(v)
			if !ok {
				break
			}
			out = append(out, bytes.Clone(e))
			i++
		}
		if i != end {
			return fmt.Errorf("meta: log %s: entry %d: %w", log, i, storage.ErrLogCorrupt)
		}
		return nil
	})
	return out, err
}
