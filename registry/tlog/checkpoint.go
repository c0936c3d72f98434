package tlog

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointSize bounds a signed checkpoint a client accepts: the three
// lines of the body, a few extension lines and a few dozen signatures
// (the log's and its witnesses').
const MaxCheckpointSize = 16 << 10

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
