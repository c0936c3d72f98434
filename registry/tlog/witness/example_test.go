package witness_test

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/registry/tlog/witness"
	"cairn.dev/cairn/verify/tlogproof"
)

// A witness cosigns a log's first checkpoint, and a client that requires
// it accepts the checkpoint with the cosignature appended.
func Example() {
	dir, _ := os.MkdirTemp("", "witness-example-")
	defer os.RemoveAll(dir)

	// The log: one entry, a signed checkpoint.
	skey, logKey, _ := note.GenerateKey(nil, "reg.example/cairn")
	signer, _ := note.NewSigner(skey)
	root := tlog.RecordHash([]byte(`{"kind":"tag"}`))
	cp := tlogproof.Checkpoint{Origin: "reg.example/cairn", Tree: tlog.Tree{N: 1, Hash: root}}
	signed, _ := note.Sign(&note.Note{Text: string(cp.Text())}, signer)

	// The witness, told the log's key.
	key, _, err := witness.LoadOrCreateKey(filepath.Join(dir, "witness.key"), "witness.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := witness.New(witness.Config{Dir: filepath.Join(dir, "state"), Key: key, Logs: []string{logKey}})
	if err != nil {
		fmt.Println(err)
		return
	}
	line, err := w.AddCheckpoint(witness.Request{OldSize: 0, Checkpoint: signed})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := tlogproof.OpenCheckpoint(append(signed, line...), logKey,
		tlogproof.Witnesses{Keys: []string{key.VerifierKey()}, Threshold: 1})
	fmt.Println(got.Origin, got.N, err)

	// The same size with another root is a conflict.
	forged := tlogproof.Checkpoint{Origin: "reg.example/cairn", Tree: tlog.Tree{N: 1}}
	fsigned, _ := note.Sign(&note.Note{Text: string(forged.Text())}, signer)
	_, err = w.AddCheckpoint(witness.Request{OldSize: 1, Checkpoint: fsigned})
	fmt.Println(err)
	// Output:
	// reg.example/cairn 1 <nil>
	// witness: conflict: the checkpoint of size 1 has another root than the one cosigned
}
