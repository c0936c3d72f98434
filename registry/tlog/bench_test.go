package tlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/tlog"
)

// memLogs is a fixture for the client benchmark: a log of a million leaves
// built in memory with x/mod's StoredHashes (filling a bbolt file that
// large, a change at a time, would take the benchmark's whole budget). The
// size can be turned back to serve an older tree.
type memLogs struct {
	entries [][]byte
	hashes  []sumtlog.Hash
	size    atomic.Int64
}

func newMemLogs(n int) *memLogs {
	m := &memLogs{}
	r := sumtlog.HashReaderFunc(func(ix []int64) ([]sumtlog.Hash, error) {
		out := make([]sumtlog.Hash, len(ix))
		for i, x := range ix {
			out[i] = m.hashes[x]
		}
		return out, nil
	})
	for i := range n {
		e := fmt.Appendf(nil, `{"kind":"tag","repository":"models/m%d","tag":"v1","new":"sha256:%064d","time":"2026-01-01T00:00:00Z"}`, i%1000, i)
		hs, err := sumtlog.StoredHashes(int64(i), e, r)
		if err != nil {
			panic(err)
		}
		m.hashes = append(m.hashes, hs...)
		m.entries = append(m.entries, e)
	}
	m.size.Store(int64(n))
	return m
}

func (m *memLogs) LogSize(ctx context.Context, log string) (int64, error) { return m.size.Load(), nil }

func (m *memLogs) LogHashes(ctx context.Context, log string, ix []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(ix))
	for i, x := range ix {
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memLogs) LogEntries(ctx context.Context, log string, start, end int64) ([][]byte, error) {
	return m.entries[start:end], nil
}

var million = sync.OnceValue(func() *memLogs { return newMemLogs(1_000_000) })

// BenchmarkClient_ProveEntry is what a client pays per entry of a
// 1,000,000-leaf log, as a fresh cairn history --verify does: fetch and
// check the checkpoint, prove it extends the one seen before (1,000 leaves
// older), fetch and prove one random entry. Tiles come over loopback HTTP
// with no cache between operations: the checkpoint, then the consistency
// proof's tiles (fetched concurrently), then the entry's bundle and its
// inclusion proof's tiles (concurrently): three round trips, and the
// fsync that stores the newer checkpoint (BenchmarkClient_StoreCheckpoint).
func BenchmarkClient_ProveEntry(b *testing.B) {
	logs := million()
	key, _, err := tlog.LoadOrCreateKey(filepath.Join(b.TempDir(), "k"), "bench.example/log")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := tlog.New(tlog.Config{Store: logs, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	state := b.TempDir()
	c := &tlog.Client{URL: hs.URL + tlog.PathPrefix, HTTP: &http.Client{}, Key: key.VerifierKey(), State: state}
	logs.size.Store(999_000)
	if _, err := c.Update(b.Context()); err != nil {
		b.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(state, "checkpoint"))
	if err != nil {
		b.Fatal(err)
	}
	logs.size.Store(1_000_000)
	b.ResetTimer()
	for b.Loop() {
		if err := os.WriteFile(filepath.Join(state, "checkpoint"), old, 0o600); err != nil {
			b.Fatal(err)
		}
		v, err := c.Update(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Entry(rand.Int64N(v.N)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClient_ProveEntries is the cost per entry of a longer answer:
// one checkpoint and consistency proof, then 100 random entries proven
// against it (tiles fetched once per checkpoint).
func BenchmarkClient_ProveEntries(b *testing.B) {
	logs := million()
	key, _, err := tlog.LoadOrCreateKey(filepath.Join(b.TempDir(), "k"), "bench.example/log")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := tlog.New(tlog.Config{Store: logs, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := &tlog.Client{URL: hs.URL + tlog.PathPrefix, HTTP: &http.Client{}, Key: key.VerifierKey(), State: b.TempDir()}
	logs.size.Store(1_000_000)
	const perOp = 100
	b.ResetTimer()
	for b.Loop() {
		v, err := c.Update(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		for range perOp {
			if _, err := v.Entry(rand.Int64N(v.N)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp)/1e6, "ms/entry")
}
