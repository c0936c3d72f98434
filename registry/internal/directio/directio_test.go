package directio

import (
	"bytes"
	"crypto/rand"
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
