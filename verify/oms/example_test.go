package oms_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// ExampleSerialize computes what an OMS signature of a directory covers:
// each file's SHA-256, in path order element by element, and the subject
// digest over them.
func ExampleSerialize() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "tiny")
	os.MkdirAll(filepath.Join(model, "a"), 0o755)
	os.WriteFile(filepath.Join(model, "a", "b"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(model, "a.b"), []byte("2"), 0o644)
	os.WriteFile(filepath.Join(model, oms.SignatureFile), []byte("{}"), 0o644)

	m, err := oms.Serialize(context.Background(), model, oms.Serialization{IgnorePaths: []string{oms.SignatureFile}}, verify.HashOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range m.Resources {
		fmt.Println(r.Name, r.Algorithm, hex.EncodeToString(r.Digest)[:12])
	}
	fmt.Println(m.Name, hex.EncodeToString(m.Digest())[:12])
	// Output:
	// a/b sha256 6b86b273ff34
	// a.b sha256 d4735e3a265e
	// tiny 4295f72eeb1e
}
