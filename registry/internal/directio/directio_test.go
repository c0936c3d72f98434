package directio

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

func TestWriter_MixedWrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(f)
	want := make([]byte, 3*Align+123)
	rand.Read(want)
	buf := Buffer(2 * Align)
	copy(buf, want[:2*Align])
	// aligned block, then an unaligned tail, then an aligned block written
	// at an unaligned offset (falls back).
	if _, err := w.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(want[2*Align:2*Align+100], 2*Align); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(want[2*Align+100:], 2*Align+100); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, want) {
		t.Fatalf("file differs (len %d, want %d)", len(got), len(want))
	}
	if !Aligned(Buffer(Align), 0) || Aligned(Buffer(Align)[1:], 0) || Aligned(Buffer(Align), 1) {
		t.Fatal("Aligned is wrong")
	}
}

func TestCopy(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, 3*ChunkSize + 4097, 9 * ChunkSize} {
		data := make([]byte, size)
		rand.Read(data)
		p := filepath.Join(t.TempDir(), "f")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		// Start at an offset after 10 bytes already in the file.
		f.Write([]byte("0123456789"))
		h := sha256.New()
		var prog, lastCheck int64
		n, err := Copy(f, 10, h, bytes.NewReader(data), Options{
			Progress: func(k int64) { prog += k },
			Checkpoint: func(k int64) {
				// Everything up to a checkpoint is on the file.
				b, _ := os.ReadFile(p)
				if !bytes.Equal(b[10:10+k], data[:k]) {
					t.Errorf("checkpoint at %d: bytes not all written", k)
				}
				lastCheck = k
			},
			CheckpointEvery: 2 * ChunkSize,
		})
		f.Close()
		if size >= 2*ChunkSize && lastCheck == 0 {
			t.Errorf("size %d: no checkpoint", size)
		}
		if err != nil || n != int64(size) || prog != int64(size) {
			t.Fatalf("size %d: n=%d progress=%d err=%v", size, n, prog, err)
		}
		got, _ := os.ReadFile(p)
		if !bytes.Equal(got, append([]byte("0123456789"), data...)) {
			t.Fatalf("size %d: file differs", size)
		}
		if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("size %d: hash differs", size)
		}
	}
}
