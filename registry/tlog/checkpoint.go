package tlog

import "cairn.dev/cairn/verify/tlogproof"

// MaxCheckpointSize bounds a signed checkpoint a client accepts
// (tlogproof.MaxCheckpointSize).
const MaxCheckpointSize = tlogproof.MaxCheckpointSize

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin line,
// the tree size and the RFC 6962 root hash (tlogproof.Checkpoint).
type Checkpoint = tlogproof.Checkpoint

// ParseCheckpoint parses a checkpoint body (the text of a signed note).
// Extension lines after the root hash are allowed and ignored.
func ParseCheckpoint(text []byte) (Checkpoint, error) { return tlogproof.ParseCheckpoint(text) }
