package tlogproof_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/tlogproof"
)

// tree is a log kept in memory with x/mod/sumdb/tlog's stored hashes.
type tree struct {
	hashes  []tlog.Hash
	entries [][]byte
}

func (t *tree) ReadHashes(ix []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ix))
	for i, x := range ix {
		out[i] = t.hashes[x]
	}
	return out, nil
}

func (t *tree) add(tb testing.TB, entries ...string) *tree {
	for _, e := range entries {
		hs, err := tlog.StoredHashes(int64(len(t.entries)), []byte(e), t)
		if err != nil {
			tb.Fatal(err)
		}
		t.hashes = append(t.hashes, hs...)
		t.entries = append(t.entries, []byte(e))
	}
	return t
}

func (t *tree) checkpoint(tb testing.TB, origin string) tlogproof.Checkpoint {
	n := int64(len(t.entries))
	h, err := tlog.TreeHash(n, t)
	if err != nil {
		tb.Fatal(err)
	}
	return tlogproof.Checkpoint{Origin: origin, Tree: tlog.Tree{N: n, Hash: h}}
}

type keys struct {
	logSigner note.Signer
	logKey    string
	witness   *fnote.Signer
	wkey      string
}

func newKeys(t testing.TB) keys {
	skey, vkey, err := note.GenerateKey(nil, "reg.test/cairn")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	wskey, wvkey, err := note.GenerateKey(nil, "witness.test")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := fnote.NewSignerForCosignatureV1(wskey)
	if err != nil {
		t.Fatal(err)
	}
	wk, err := fnote.VKeyToCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	return keys{logSigner: s, logKey: vkey, witness: ws, wkey: wk}
}

// noteSign signs cp with the log's key and the witness's.
func noteSign(cp tlogproof.Checkpoint, k keys) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(cp.Text())}, k.logSigner, k.witness)
}

func sign(t *testing.T, cp tlogproof.Checkpoint, signers ...note.Signer) []byte {
	msg, err := note.Sign(&note.Note{Text: string(cp.Text())}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestOpenCheckpoint(t *testing.T) {
	k := newKeys(t)
	other := newKeys(t)
	cp := new(tree).add(t, "a", "b", "c").checkpoint(t, "reg.test/cairn")
	cosigned := sign(t, cp, k.logSigner, k.witness)
	one := tlogproof.Witnesses{Keys: []string{k.wkey}, Threshold: 1}
	for _, tc := range []struct {
		name string
		msg  []byte
		key  string
		w    tlogproof.Witnesses
		want error
	}{
		{"signed", sign(t, cp, k.logSigner), k.logKey, tlogproof.Witnesses{}, nil},
		{"cosigned", cosigned, k.logKey, one, nil},
		{"another log key", cosigned, other.logKey, one, tlogproof.ErrSignature},
		{"no cosignature", sign(t, cp, k.logSigner), k.logKey, one, tlogproof.ErrWitness},
		{"another witness", sign(t, cp, k.logSigner, other.witness), k.logKey, one, tlogproof.ErrWitness},
		{"two of two", cosigned, k.logKey, tlogproof.Witnesses{Keys: []string{k.wkey, other.wkey}, Threshold: 2}, tlogproof.ErrWitness},
		{"one of two", cosigned, k.logKey, tlogproof.Witnesses{Keys: []string{k.wkey, other.wkey}, Threshold: 1}, nil},
		{"a forged cosignature", []byte(strings.Replace(string(cosigned), "\u2014 witness.test ", "\u2014 witness.test AAAA", 1)), k.logKey, one, tlogproof.ErrVerification},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tlogproof.OpenCheckpoint(tc.msg, tc.key, tc.w)
			if tc.want == nil {
				if err != nil || got != cp {
					t.Fatalf("%+v, %v; want %+v", got, err, cp)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	if _, err := tlogproof.OpenCheckpoint(cosigned, k.logKey, tlogproof.Witnesses{Keys: []string{k.wkey, k.wkey}, Threshold: 2}); err == nil {
		t.Fatal("a witness listed twice counted twice")
	}
}

func TestExtends(t *testing.T) {
	honest := new(tree).add(t, "a", "b", "c")
	old := honest.checkpoint(t, "o")
	honest.add(t, "d", "e")
	fork := new(tree).add(t, "a", "b", "x", "y", "z")
	for _, tc := range []struct {
		name string
		t    *tree
		want error
	}{
		{"extends", honest, nil},
		{"fork", fork, tlogproof.ErrFork},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proof, err := tlog.ProveTree(int64(len(tc.t.entries)), old.N, tc.t)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlogproof.Extends(old, tc.t.checkpoint(t, "o"), proof); !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	if err := tlogproof.Extends(honest.checkpoint(t, "o"), old, nil); !errors.Is(err, tlogproof.ErrRollback) {
		t.Fatalf("a smaller tree: %v", err)
	}
}

func TestEvidence_Check(t *testing.T) {
	k := newKeys(t)
	move := `{"kind":"tag","repository":"models/m","tag":"v1","new":"sha256:` + strings.Repeat("a", 64) + `","time":"2026-01-01T00:00:00Z"}`
	tr := new(tree).add(t, `{"kind":"manifest.push"}`, move, `{"kind":"tag"}`)
	cp := tr.checkpoint(t, "reg.test/cairn")
	proof, err := tlog.ProveRecord(cp.N, 1, tr)
	if err != nil {
		t.Fatal(err)
	}
	ev := &tlogproof.Evidence{Checkpoint: sign(t, cp, k.logSigner, k.witness), Index: 1, Entry: []byte(move), Proof: proof}
	var back tlogproof.Evidence
	back.Checkpoint = ev.Checkpoint
	if err := back.ParseInclusion(ev.MarshalInclusion()); err != nil {
		t.Fatal(err)
	}
	claim := tlogproof.Claim{Repository: "models/m", Tag: "v1", Digest: digest.Digest("sha256:" + strings.Repeat("a", 64))}
	w := tlogproof.Witnesses{Keys: []string{k.wkey}, Threshold: 1}
	if _, e, err := back.Check(k.logKey, w, claim); err != nil || e.Tag != "v1" {
		t.Fatalf("evidence read back: %+v, %v", e, err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*tlogproof.Evidence)
		claim tlogproof.Claim
		want  error
	}{
		{"another digest", func(*tlogproof.Evidence) {}, tlogproof.Claim{Repository: "models/m", Tag: "v1", Digest: digest.Digest("sha256:" + strings.Repeat("b", 64))}, tlogproof.ErrClaim},
		{"another leaf", func(e *tlogproof.Evidence) { e.Index = 2 }, claim, tlogproof.ErrNotInLog},
		{"an edited entry", func(e *tlogproof.Evidence) { e.Entry = []byte(strings.Replace(move, "v1", "v2", 1)) }, claim, tlogproof.ErrNotInLog},
		{"a bad proof", func(e *tlogproof.Evidence) { e.Proof = append(tlog.RecordProof{}, e.Proof...); e.Proof[0][0] ^= 1 }, claim, tlogproof.ErrNotInLog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := *ev
			tc.edit(&e)
			if _, _, err := e.Check(k.logKey, w, tc.claim); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
}
