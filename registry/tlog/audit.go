package tlog

import (
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/storage"
)

// Finding is one inconsistency Audit found.
type Finding struct {
	// Leaf is the leaf concerned, -1 for a move that names none.
	Leaf   int64
	Detail string
}

// Audit checks a store's log of names against its own metadata, as cairn
// scrub does: every leaf's stored hashes are the ones its entry and the
// leaves before give (so the tree is the tree of the entries), every
// recorded tag move is the leaf it names, and every tag leaf is a
// recorded move. It reads the whole log, a tile of entries at a time.
func Audit(ctx context.Context, logs storage.TransparencyLogs, md storage.Metadata) ([]Finding, error) {
	var out []Finding
	n, err := logs.LogSize(ctx, storage.LogNames)
	if err != nil {
		return nil, err
	}
	stored := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		return logs.LogHashes(ctx, storage.LogNames, ix)
	})
	tagLeaves := map[int64]storage.LogEntry{}
	for start := int64(0); start < n; start += 1 << TileHeight {
		end := min(start+1<<TileHeight, n)
		entries, err := logs.LogEntries(ctx, storage.LogNames, start, end)
		if err != nil {
			return nil, err
		}
		for j, e := range entries {
			i := start + int64(j)
			want, err := tlog.StoredHashes(i, e, stored)
			if err != nil {
				out = append(out, Finding{Leaf: i, Detail: err.Error()})
				continue
			}
			ix := make([]int64, len(want))
			for k := range ix {
				ix[k] = tlog.StoredHashIndex(0, i) + int64(k)
			}
			got, err := logs.LogHashes(ctx, storage.LogNames, ix)
			if err != nil {
				out = append(out, Finding{Leaf: i, Detail: err.Error()})
				continue
			}
			for k := range want {
				if got[k] != want[k] {
					out = append(out, Finding{Leaf: i, Detail: "stored hashes do not match the entry"})
					break
				}
			}
			var le storage.LogEntry
			if err := json.Unmarshal(e, &le); err != nil {
				out = append(out, Finding{Leaf: i, Detail: "entry is not JSON: " + err.Error()})
				continue
			}
			if le.Kind == storage.EntryTag {
				tagLeaves[i] = le
			}
		}
	}
	repos, err := md.Repositories(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	for _, repo := range repos {
		moves, err := md.History(ctx, repo, "")
		if err != nil {
			return nil, err
		}
		for _, mv := range moves {
			where := fmt.Sprintf("move of %s:%s at %s", mv.Repository, mv.Tag, mv.Time.Format("2006-01-02T15:04:05.999999999Z"))
			if mv.Leaf == nil {
				out = append(out, Finding{Leaf: -1, Detail: where + " names no leaf"})
				continue
			}
			le, ok := tagLeaves[*mv.Leaf]
			if !ok || !le.Matches(mv) {
				out = append(out, Finding{Leaf: *mv.Leaf, Detail: where + " is not its leaf"})
				continue
			}
			delete(tagLeaves, *mv.Leaf)
		}
	}
	for i, le := range tagLeaves {
		out = append(out, Finding{Leaf: i, Detail: fmt.Sprintf("leaf records a move of %s:%s the history does not have", le.Repository, le.Tag)})
	}
	return out, nil
}
