package tlog

import (
	"path/filepath"
	"testing"

	"cairn.dev/cairn/registry/internal/atomicfile"
)

// BenchmarkClient_StoreCheckpoint is the part of a client's update that
// is not proof checking: storing the newer checkpoint durably (a
// temporary file, fsync, rename), which is what makes a later rollback
// detectable after a crash. Its cost is the disk's fsync latency.
func BenchmarkClient_StoreCheckpoint(b *testing.B) {
	file := filepath.Join(b.TempDir(), "checkpoint")
	note := []byte("bench.example/log\n1000000\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— bench.example/log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	for b.Loop() {
		if err := atomicfile.Write(file, note); err != nil {
			b.Fatal(err)
		}
	}
}
