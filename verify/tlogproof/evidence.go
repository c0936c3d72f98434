package tlogproof

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// Limits of what Evidence reads.
const (
	// MaxInclusionSize bounds an inclusion proof file: the entry (at most
	// MaxEntrySize) and at most MaxProofHashes hashes, in JSON.
	MaxInclusionSize = 64 << 10
	// MaxEntrySize bounds one leaf, as C2SP entry bundles do (a 16-bit
	// length) and the registry's store does.
	MaxEntrySize = 16 << 10
	// MaxProofHashes bounds an inclusion or consistency proof: a tree of
	// at most 2^63 leaves needs at most 63 hashes (C2SP tlog-witness
	// bounds consistency proofs the same).
	MaxProofHashes = 63
)

// Evidence is what a pull keeps beside a model so that an offline check can
// prove again what the log said about it: the signed checkpoint as served
// (with its cosignatures) and the inclusion proof of the leaf that makes a
// Claim true.
type Evidence struct {
	// Checkpoint is the signed note.
	Checkpoint []byte
	// Index is the leaf's index in the checkpoint's tree.
	Index int64
	// Entry is the leaf's bytes.
	Entry []byte
	// Proof is the leaf's inclusion proof in the checkpoint's tree.
	Proof tlog.RecordProof
}

// inclusionFile is the JSON form of an inclusion proof.
type inclusionFile struct {
	Index int64    `json:"index"`
	Entry string   `json:"entry"` // the leaf's bytes, as a string: kept exactly
	Proof []string `json:"proof"` // base64 hashes
}

// MarshalInclusion returns the inclusion proof of e as JSON (the file
// DIR/.cairn/inclusion.json).
func (e *Evidence) MarshalInclusion() []byte {
	f := inclusionFile{Index: e.Index, Entry: string(e.Entry), Proof: []string{}}
	for _, h := range e.Proof {
		f.Proof = append(f.Proof, base64.StdEncoding.EncodeToString(h[:]))
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic("tlogproof: marshal inclusion proof: " + err.Error()) // strings and an integer
	}
	return append(b, '\n')
}

// ParseInclusion reads an inclusion proof written by MarshalInclusion into
// e's Index, Entry and Proof.
func (e *Evidence) ParseInclusion(b []byte) error {
	if len(b) > MaxInclusionSize {
		return fmt.Errorf("%w: inclusion proof of %d bytes, more than %d", ErrMalformed, len(b), MaxInclusionSize)
	}
	var f inclusionFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("%w: inclusion proof: %v", ErrMalformed, err)
	}
	if f.Index < 0 || len(f.Entry) > MaxEntrySize || len(f.Proof) > MaxProofHashes {
		return fmt.Errorf("%w: inclusion proof: leaf %d, an entry of %d bytes, %d hashes", ErrMalformed, f.Index, len(f.Entry), len(f.Proof))
	}
	proof := make(tlog.RecordProof, len(f.Proof))
	for i, s := range f.Proof {
		h, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(h) != tlog.HashSize {
			return fmt.Errorf("%w: inclusion proof: hash %d: %q", ErrMalformed, i, s)
		}
		copy(proof[i][:], h)
	}
	e.Index, e.Entry, e.Proof = f.Index, []byte(f.Entry), proof
	return nil
}

// Check checks e: the checkpoint is signed by logKey and cosigned as w
// demands, the entry is its leaf Index, and the entry makes c true. It
// returns the checkpoint and the entry.
func (e *Evidence) Check(logKey string, w Witnesses, c Claim) (Checkpoint, Entry, error) {
	cp, err := OpenCheckpoint(e.Checkpoint, logKey, w)
	if err != nil {
		return Checkpoint{}, Entry{}, err
	}
	if err := CheckInclusion(cp, e.Index, e.Entry, e.Proof); err != nil {
		return Checkpoint{}, Entry{}, err
	}
	ent, err := ParseEntry(e.Entry)
	if err != nil {
		return Checkpoint{}, Entry{}, err
	}
	if !ent.Says(c) {
		return Checkpoint{}, Entry{}, fmt.Errorf("%w: leaf %d of %s records %s, not %s", ErrClaim, e.Index, cp.Origin, e.Entry, c)
	}
	return cp, ent, nil
}
