package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite_ReplacesAndLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "state")
	for _, want := range []string{"first", "second"} {
		if err := Write(file, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, "sub"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("directory holds %d entries (%v), want only the file", len(ents), err)
	}
}
