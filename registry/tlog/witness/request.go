package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"cairn.dev/cairn/verify/tlogproof"
)

// MaxRequestSize bounds an add-checkpoint request body: the old size line,
// at most tlogproof.MaxProofHashes proof lines, and a checkpoint of at most
// tlogproof.MaxCheckpointSize.
const MaxRequestSize = 32 + tlogproof.MaxProofHashes*45 + 1 + tlogproof.MaxCheckpointSize

// MaxResponseSize bounds a witness's answer a log reads.
const MaxResponseSize = 4 << 10

// Request is an add-checkpoint request.
type Request struct {
	// OldSize is the size of the last checkpoint the log believes the
	// witness cosigned (0 for none).
	OldSize int64
	// Proof is the consistency proof from OldSize to the checkpoint's size.
	Proof tlog.TreeProof
	// Checkpoint is the signed checkpoint.
	Checkpoint []byte
}

// Marshal returns the request body.
func (r Request) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseRequest parses an add-checkpoint request body. Sizes are canonical
// decimals and hashes canonical base64 of 32 bytes: one request has one
// spelling.
func ParseRequest(b []byte) (Request, error) {
	if len(b) > MaxRequestSize {
		return Request{}, fmt.Errorf("%w: %d bytes, more than %d", ErrBadRequest, len(b), MaxRequestSize)
	}
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok || len(cp) == 0 {
		return Request{}, fmt.Errorf("%w: want an old size line, proof lines, an empty line and a checkpoint", ErrBadRequest)
	}
	lines := strings.Split(string(head), "\n")
	size, ok := strings.CutPrefix(lines[0], "old ")
	n, err := strconv.ParseInt(size, 10, 64)
	if !ok || err != nil || n < 0 || size != strconv.FormatInt(n, 10) {
		return Request{}, fmt.Errorf("%w: old size line %q", ErrBadRequest, lines[0])
	}
	if len(lines)-1 > tlogproof.MaxProofHashes {
		return Request{}, fmt.Errorf("%w: %d proof lines, more than %d", ErrBadRequest, len(lines)-1, tlogproof.MaxProofHashes)
	}
	r := Request{OldSize: n, Checkpoint: cp}
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return Request{}, fmt.Errorf("%w: proof line %q", ErrBadRequest, l)
		}
		r.Proof = append(r.Proof, tlog.Hash(h))
	}
	return r, nil
}

// ParseCosignatures splits a witness's answer into its signature lines
// ("— <name> <base64>\n" each, C2SP signed-note), refusing anything else.
// The lines are returned with their newlines, ready to append to a note.
func ParseCosignatures(b []byte) ([][]byte, error) {
	if len(b) > MaxResponseSize || len(b) == 0 || !bytes.HasSuffix(b, []byte("\n")) {
		return nil, fmt.Errorf("%w: a cosignature answer of %d bytes", ErrBadRequest, len(b))
	}
	var out [][]byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		rest, ok := bytes.CutPrefix(l, []byte("\u2014 "))
		name, sig, ok2 := bytes.Cut(bytes.TrimSuffix(rest, []byte("\n")), []byte(" "))
		if !ok || !ok2 || len(name) == 0 || bytes.ContainsAny(name, " +\n") {
			return nil, fmt.Errorf("%w: not a signature line: %q", ErrBadRequest, l)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(string(sig))
		if err != nil || len(raw) < 5 {
			return nil, fmt.Errorf("%w: signature line %q", ErrBadRequest, l)
		}
		out = append(out, l)
	}
	return out, nil
}
