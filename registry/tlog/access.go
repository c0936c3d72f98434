package tlog

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

// AccessPathPrefix is where a registry serves its access log's
// transparency log (storage.LogAccess), for administrators only: the same
// C2SP tlog-tiles as the log of names, under its own origin line
// (AccessOrigin), signed with the same key.
const AccessPathPrefix = PathPrefix + "access/"

// AccessOrigin is the origin line of the access log's checkpoints when
// the log of names is signed by a key named keyName: "<keyName>/access".
// One key signs both logs; the origin tells their checkpoints apart.
func AccessOrigin(keyName string) string { return keyName + "/access" }

// AccessLogInput is what CheckAccess compares: every leaf of the access
// log's transparency log, the records the database still holds, and
// checkpoints that vouch for the tree.
type AccessLogInput struct {
	// Leaves are the log's entries, leaf 0 first (storage.AccessLeaf JSON).
	Leaves [][]byte
	// Records are the records the store holds, in any order.
	Records []storage.AccessRecord
	// Tree, when not nil, is the tree the leaves must hash to: a checkpoint
	// the registry signed, or the root of the store's stored hashes.
	Tree *tlog.Tree
	// Kept, when not nil, is a checkpoint kept earlier (by the operator, a
	// witness or this client), whose signature the caller checked: the
	// leaves must extend it.
	Kept *tlog.Tree
	// Retention, when > 0, is the shortest retention the registry runs
	// with (cairn serve --log-retention): a prune that removed records
	// younger than that is forged.
	Retention time.Duration
}

// AccessLogReport is what CheckAccess verified.
type AccessLogReport struct {
	// Tree is the tree of the leaves.
	Tree tlog.Tree
	// Records is how many records matched their leaves; Pruned how many
	// leaves' records retention removed (each covered by a prune in the
	// log).
	Records, Pruned int64
}

// CheckAccess checks an access log against its transparency log: the
// leaves hash to Tree and extend Kept (a smaller tree is ErrTruncated, one
// that does not extend it ErrFork: the log was rebuilt), every record is
// the leaf of its seq, and every leaf without a record was removed by a
// prune in the log that covers it. The first disagreement is returned,
// wrapping ErrRecordRemoved, ErrRecordEdited, ErrReordered, ErrTruncated,
// ErrForgedPrune or ErrRecordAdded (all ErrVerification), with the seqs.
func CheckAccess(ctx context.Context, in AccessLogInput) (AccessLogReport, error) {
	var rep AccessLogReport
	n := int64(len(in.Leaves))
	leaves := make([]storage.AccessLeaf, n)
	hashes := make([]tlog.Hash, 0, tlog.StoredHashCount(n))
	reader := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ix))
		for i, x := range ix {
			if x < 0 || x >= int64(len(hashes)) {
				return nil, fmt.Errorf("stored hash %d of %d", x, len(hashes))
			}
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, b := range in.Leaves {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
		}
		l, err := storage.ParseAccessLeaf(b)
		if err != nil {
			return rep, fmt.Errorf("%w: leaf %d: %v", ErrMalformed, i, err)
		}
		if l.Seq != uint64(i)+1 {
			return rep, fmt.Errorf("%w: leaf %d holds record %d: the log's leaves were reordered", ErrReordered, i, l.Seq)
		}
		leaves[i] = l
		hs, err := tlog.StoredHashes(int64(i), b, reader)
		if err != nil {
			return rep, err
		}
		hashes = append(hashes, hs...)
	}
	root, err := tlog.TreeHash(n, reader)
	if err != nil {
		return rep, err
	}
	rep.Tree = tlog.Tree{N: n, Hash: root}
	if in.Tree != nil && *in.Tree != rep.Tree {
		return rep, fmt.Errorf("%w: the access log's %d leaves hash to %s, the tree says %d leaves, %s", ErrBadTiles, n, root, in.Tree.N, in.Tree.Hash)
	}
	if k := in.Kept; k != nil {
		switch {
		case n < k.N:
			return rep, fmt.Errorf("%w: the log has %d leaves, the checkpoint kept has %d: records were removed and the log rebuilt shorter", ErrTruncated, n, k.N)
		case n == k.N && root != k.Hash, n > k.N && k.N > 0 && !extends(n, root, *k, reader):
			return rep, fmt.Errorf("%w: the access log does not extend the checkpoint kept (%d records): it was rebuilt after a record among them was removed, edited or reordered", ErrFork, k.N)
		}
	}

	recs := slices.Clone(in.Records)
	slices.SortFunc(recs, func(a, b storage.AccessRecord) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	// A prune record must be the leaf of its seq: a prune the log does not
	// hold is forged, whatever it claims.
	var prunes []storage.AccessRecord
	for _, r := range recs {
		if r.Action != storage.ActionPrune {
			continue
		}
		if r.Seq == 0 || r.Seq > uint64(n) || !leaves[r.Seq-1].Matches(r) {
			return rep, fmt.Errorf("%w: prune record %d is not the leaf of its seq in the log (%q)", ErrForgedPrune, r.Seq, r.Detail)
		}
		prunes = append(prunes, r)
	}
	// Leaves before the first record: removed, and only by a prune in the
	// log that covers them and whose cutoff they are older than.
	first := uint64(n) + 1
	if len(recs) > 0 {
		first = recs[0].Seq
	}
	for seq := uint64(1); seq < first && seq <= uint64(n); seq++ {
		if err := covered(leaves[seq-1], prunes, in.Retention); err != nil {
			return rep, err
		}
		rep.Pruned++
	}
	// Then record j must be leaf first-1+j.
	i := int64(first) - 1
	for j := 0; j < len(recs); j, i = j+1, i+1 {
		r := recs[j]
		if i >= n {
			return rep, fmt.Errorf("%w: record %d (%s by %s at %s) has no leaf: the log has %d", ErrRecordAdded, r.Seq, r.Action, r.Principal, r.Time.Format(time.RFC3339Nano), n)
		}
		if r.Seq == uint64(i)+1 && leaves[i].Matches(r) {
			rep.Records++
			continue
		}
		return rep, mismatch(leaves, i, recs, j)
	}
	if i < n && len(recs) > 0 {
		return rep, fmt.Errorf("%w: records %d to %d were removed from the end (their leaves are in the log)", ErrTruncated, i+1, n)
	}
	return rep, nil
}

// extends reports whether the tree (n, root) extends kept, by a
// consistency proof over the rebuilt hashes.
func extends(n int64, root tlog.Hash, kept tlog.Tree, r tlog.HashReader) bool {
	p, err := tlog.ProveTree(n, kept.N, r)
	return err == nil && tlog.CheckTree(p, n, root, kept.N, kept.Hash) == nil
}

// covered checks that a leaf whose record is gone was removed by a prune:
// the first prune record after it that names an anchor at or after it,
// with a cutoff the record is older than, and, with a retention, a cutoff
// at least that long before the prune.
func covered(l storage.AccessLeaf, prunes []storage.AccessRecord, retention time.Duration) error {
	for _, p := range prunes {
		anchor, cutoff, ok := storage.PruneCutoff(p)
		if !ok || p.Seq <= l.Seq || anchor < l.Seq {
			continue
		}
		if !l.Time.Before(cutoff) {
			return fmt.Errorf("%w: record %d (of %s) was removed by prune record %d, which removes only records older than %s",
				ErrForgedPrune, l.Seq, l.Time.Format(time.RFC3339Nano), p.Seq, cutoff.Format(time.RFC3339Nano))
		}
		if retention > 0 && cutoff.After(p.Time.Add(-retention)) {
			return fmt.Errorf("%w: prune record %d of %s removed records up to %s, younger than the retention of %s",
				ErrForgedPrune, p.Seq, p.Time.Format(time.RFC3339), cutoff.Format(time.RFC3339Nano), retention)
		}
		return nil
	}
	return fmt.Errorf("%w: record %d (of %s) is gone and no prune in the log removed it", ErrRecordRemoved, l.Seq, l.Time.Format(time.RFC3339Nano))
}

// mismatch names how record j, expected at leaf i, differs from it. A leaf
// keeps its record's time readable, which tells a removed record (its
// time is a later leaf's), an edited one (same time, other contents) and
// reordered ones (each at the other's leaf) apart.
func mismatch(leaves []storage.AccessLeaf, i int64, recs []storage.AccessRecord, j int) error {
	r := recs[j]
	leafOf := func(t time.Time) int64 {
		for k := i; k < int64(len(leaves)); k++ {
			if leaves[k].Time.Equal(t) {
				return k
			}
		}
		return -1
	}
	recordOf := func(t time.Time) int {
		for k := j; k < len(recs); k++ {
			if recs[k].Time.Equal(t) {
				return k
			}
		}
		return -1
	}
	want := leaves[i]
	switch at, holder := leafOf(r.Time), recordOf(want.Time); {
	case at == i:
		return fmt.Errorf("%w: record %d (%s by %s) is not what leaf %d committed to: its contents were changed", ErrRecordEdited, r.Seq, r.Action, r.Principal, i)
	case at > i && holder > j:
		return fmt.Errorf("%w: record %d of the log is stored at seq %d, and record %d at seq %d", ErrReordered, leaves[at].Seq, r.Seq, want.Seq, recs[holder].Seq)
	case at > i:
		return fmt.Errorf("%w: %s removed (the log holds the leaves; the records after were renumbered)", ErrRecordRemoved, span(want.Seq, leaves[at-1].Seq))
	case holder > j:
		return fmt.Errorf("%w: record %d (%s by %s at %s) has no leaf: it was inserted", ErrRecordAdded, r.Seq, r.Action, r.Principal, r.Time.Format(time.RFC3339Nano))
	}
	return fmt.Errorf("%w: record %d is not what leaf %d committed to (its time too was changed)", ErrRecordEdited, r.Seq, i)
}

func span(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("record %d was", from)
	}
	return fmt.Sprintf("records %d to %d were", from, to)
}

// ReadAccessLog reads a store's access log transparency log: every leaf,
// and the tree of the store's stored hashes (which CheckAccess compares
// with the tree the leaves give).
func ReadAccessLog(ctx context.Context, logs storage.TransparencyLogs) ([][]byte, tlog.Tree, error) {
	n, err := logs.LogSize(ctx, storage.LogAccess)
	if err != nil {
		return nil, tlog.Tree{}, err
	}
	leaves, err := logs.LogEntries(ctx, storage.LogAccess, 0, n)
	if err != nil {
		return nil, tlog.Tree{}, err
	}
	root, err := tlog.TreeHash(n, tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		return logs.LogHashes(ctx, storage.LogAccess, ix)
	}))
	if err != nil {
		return nil, tlog.Tree{}, err
	}
	return leaves, tlog.Tree{N: n, Hash: root}, nil
}

// AuditAccess checks a store's access log against its transparency log
// (CheckAccess with the store's own tree, no checkpoint), as cairn scrub
// does. A store whose records predate the log (no leaves yet) passes: its
// next append gives them theirs.
func AuditAccess(ctx context.Context, logs storage.TransparencyLogs, access storage.AccessLog) (AccessLogReport, error) {
	leaves, tree, err := ReadAccessLog(ctx, logs)
	if err != nil {
		return AccessLogReport{}, err
	}
	in := AccessLogInput{Leaves: leaves, Tree: &tree}
	err = access.Access(ctx, storage.AccessFilter{}, func(r storage.AccessRecord) error {
		in.Records = append(in.Records, r)
		return nil
	})
	if err != nil {
		return AccessLogReport{}, err
	}
	if tree.N == 0 {
		return AccessLogReport{}, nil
	}
	return CheckAccess(ctx, in)
}
