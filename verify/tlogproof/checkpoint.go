package tlogproof

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	fnote "github.com/transparency-dev/formats/note"
)

// MaxCheckpointSize bounds a signed checkpoint: the three lines of the
// body, a few extension lines and a few dozen signatures (the log's and
// its witnesses').
const MaxCheckpointSize = 16 << 10

// MaxWitnesses bounds the witness keys one policy lists.
const MaxWitnesses = 32

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin line,
// the tree size and the RFC 6962 root hash.
type Checkpoint struct {
	Origin string
	tlog.Tree
}

// Text returns the checkpoint body as it is signed:
// "<origin>\n<size>\n<base64 root hash>\n".
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.N, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpoint parses a checkpoint body (the text of a signed note).
// Extension lines after the root hash are allowed and ignored.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	if len(text) > MaxCheckpointSize || !bytes.HasSuffix(text, []byte("\n")) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint", ErrMalformed)
	}
	lines := strings.SplitN(string(text), "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: want origin, size and hash lines", ErrMalformed)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint size %q", ErrMalformed, lines[1])
	}
	// Strict base64: one hash has one spelling.
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint root hash %q", ErrMalformed, lines[2])
	}
	c := Checkpoint{Origin: lines[0], Tree: tlog.Tree{N: n}}
	copy(c.Hash[:], h)
	return c, nil
}

// Witnesses is what a policy demands of a checkpoint's cosignatures: at
// least Threshold of Keys (C2SP signed-note verifier keys of witnesses,
// Ed25519, as "cairn witness" prints them) must have cosigned it with a
// valid C2SP tlog-cosignature/v1. The zero value demands nothing.
type Witnesses struct {
	Keys      []string
	Threshold int
}

// Verifiers returns the cosignature/v1 verifiers of w.Keys, checking w.
func (w Witnesses) Verifiers() ([]note.Verifier, error) {
	if w.Threshold < 0 || w.Threshold > len(w.Keys) || len(w.Keys) > MaxWitnesses {
		return nil, fmt.Errorf("witnesses: a threshold of %d of %d keys (at most %d)", w.Threshold, len(w.Keys), MaxWitnesses)
	}
	var vs []note.Verifier
	seen := map[string]bool{}
	for _, k := range w.Keys {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return nil, fmt.Errorf("witness key %q: %w", k, err)
		}
		// One witness counts once, however its key is spelled.
		id := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
		if seen[id] {
			return nil, fmt.Errorf("witness key %q: listed twice", k)
		}
		seen[id] = true
		vs = append(vs, v)
	}
	return vs, nil
}

// OpenCheckpoint checks a signed checkpoint against the log's verifier key
// ("<name>+<hash>+<base64>") and the witnesses' demand, and returns its
// body. The origin must be the key's name. Signatures of keys it does not
// know are ignored; a signature by a known key that does not verify is a
// refusal.
func OpenCheckpoint(msg []byte, logKey string, w Witnesses) (Checkpoint, error) {
	return OpenCheckpointOf(msg, logKey, "", w)
}

// OpenCheckpointOf is OpenCheckpoint for a log whose origin line is origin
// rather than the key's name (empty: the key's name), such as the access
// log's, whose checkpoints the same key signs.
func OpenCheckpointOf(msg []byte, logKey, origin string, w Witnesses) (Checkpoint, error) {
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: verifier key: %v", ErrMalformed, err)
	}
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of %d bytes", ErrMalformed, len(msg))
	}
	wv, err := w.Verifiers()
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(msg, note.VerifierList(lv))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	cp, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if origin == "" {
		origin = lv.Name()
	}
	if cp.Origin != origin {
		return Checkpoint{}, fmt.Errorf("%w: origin %q, want %q (the key is %q's)", ErrSignature, cp.Origin, origin, lv.Name())
	}
	if w.Threshold == 0 {
		return cp, nil
	}
	got := 0
	for _, v := range wv {
		// One witness at a time: the log's own signature and the other
		// witnesses' are unknown to it, and only its own counts.
		wn, err := note.Open(msg, note.VerifierList(v))
		var unverified *note.UnverifiedNoteError
		switch {
		case err == nil && len(wn.Sigs) > 0:
			got++
		case err != nil && !errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: witness %s: %v", ErrWitness, v.Name(), err)
		}
	}
	if got < w.Threshold {
		return Checkpoint{}, fmt.Errorf("%w: %d of the %d witnesses the policy lists cosigned the checkpoint of %s at size %d, it needs %d",
			ErrWitness, got, len(w.Keys), cp.Origin, cp.N, w.Threshold)
	}
	return cp, nil
}
