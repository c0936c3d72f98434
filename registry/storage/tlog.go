package storage

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/sumdb/tlog"
)

// Logs kept by a store that implements TransparencyLogs.
const (
	// LogNames records every change to what a name means: tag moves,
	// manifest pushes and deletes, quarantines set and lifted.
	LogNames = "names"
)

// MaxLogEntrySize bounds one leaf of a log: C2SP entry bundles prefix each
// entry with a 16-bit length, and a store refuses a change whose leaf would
// be longer (names, tags, digests and a quarantine reason are bounded far
// below it).
const MaxLogEntrySize = 16 << 10

// Kinds of LogEntry.
const (
	EntryTag            = "tag"             // a tag created (Old empty), moved, or deleted (New empty)
	EntryManifestPush   = "manifest.push"   // a manifest stored: Digest
	EntryManifestDelete = "manifest.delete" // a manifest removed: Digest
	EntryQuarantineSet  = "quarantine.set"  // a version quarantined: Digest, Reason
	EntryQuarantineLift = "quarantine.lift" // a quarantine lifted: Digest
)

// LogEntry is one leaf of the log of names, stored and served as the JSON
// that EncodeLogEntry writes. The leaf hash is the RFC 6962 hash of those
// bytes, so they are kept exactly as first written.
type LogEntry struct {
	Kind       string        `json:"kind"`
	Repository string        `json:"repository"`
	Tag        string        `json:"tag,omitempty"`
	Old        digest.Digest `json:"old,omitempty"`
	New        digest.Digest `json:"new,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	Time       time.Time     `json:"time"`
	By         string        `json:"by,omitempty"`
}

// TagMoveEntry is the leaf that records mv.
func TagMoveEntry(mv TagMove) LogEntry {
	return LogEntry{Kind: EntryTag, Repository: mv.Repository, Tag: mv.Tag, Old: mv.Old, New: mv.New, Time: mv.Time.UTC(), By: mv.By}
}

// EncodeLogEntry returns the bytes of a leaf: compact JSON, one object.
func EncodeLogEntry(e LogEntry) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic("storage: encode log entry: " + err.Error()) // only strings, digests and a time
	}
	return b
}

// Matches reports whether the leaf records mv: the check a client makes
// before it trusts a history answer.
func (e LogEntry) Matches(mv TagMove) bool {
	return e.Kind == EntryTag && e.Repository == mv.Repository && e.Tag == mv.Tag &&
		e.Old == mv.Old && e.New == mv.New && e.Time.Equal(mv.Time) && e.By == mv.By
}

// TransparencyLogs is implemented by metadata stores that append a leaf to
// a log in the same transaction as every change the log records, so that
// an acknowledged change is always a leaf (even after kill -9) and a leaf
// always records a change that happened. The tree is RFC 6962 with the
// stored hashes of golang.org/x/mod/sumdb/tlog (tlog.StoredHashes): an
// append writes O(1) hashes on average, never recomputes the tree.
type TransparencyLogs interface {
	// LogSize returns the number of leaves of log.
	LogSize(ctx context.Context, log string) (int64, error)
	// LogHashes returns the stored hashes at the given indexes
	// (tlog.StoredHashIndex) of log; every index must be below
	// tlog.StoredHashCount(LogSize).
	LogHashes(ctx context.Context, log string, indexes []int64) ([]tlog.Hash, error)
	// LogEntries returns the leaves [start, end) of log; end must not
	// exceed LogSize.
	LogEntries(ctx context.Context, log string, start, end int64) ([][]byte, error)
}

// StoredHashLeaf says where a store that keeps each leaf's stored hashes
// with the leaf finds stored hash x (tlog.StoredHashIndex numbering): the
// hash at level l, index i completes the subtree whose last leaf is
// (i+1)<<l - 1, and is the l-th of the hashes tlog.StoredHashes returned
// when that leaf was appended. ok is false for an index no tree has.
func StoredHashLeaf(x int64) (leaf int64, pos int, ok bool) {
	level, i := tlog.SplitStoredHashIndex(x)
	if x < 0 || level >= 62 || i >= 1<<(62-level) {
		return 0, 0, false
	}
	return (i+1)<<level - 1, level, true
}
