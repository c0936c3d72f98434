// Package tlogproof holds the rules by which a transparency log's answers
// are checked, over bytes only: it is shared by the registry's log client
// (registry/tlog), its witness (registry/tlog/witness) and the offline
// verifier of a pulled directory (verify/agent), so each rule exists once.
//
//   - OpenCheckpoint checks a C2SP tlog-checkpoint signed note against the
//     log's verifier key and, when Witnesses asks for it, N valid C2SP
//     tlog-cosignature/v1 cosignatures of the listed witness keys;
//   - Extends checks a consistency proof (RFC 6962) from an older
//     checkpoint to a newer one, telling a rollback from a fork;
//   - CheckInclusion checks an inclusion proof of one leaf;
//   - Evidence is what a pull keeps in DIR/.cairn (the signed checkpoint
//     and the inclusion proof of the leaf that says what a tag or digest
//     means) and Evidence.Check checks it again offline;
//   - Entry is the leaf of the log of names, as far as a client reads it.
//
// The Merkle arithmetic is golang.org/x/mod/sumdb/tlog's and the signatures
// golang.org/x/mod/sumdb/note's, with cosignature/v1 verifiers from
// github.com/transparency-dev/formats/note: nothing here hashes a tree by
// hand. Nothing here does I/O or logs; every failed check wraps
// ErrVerification, which wraps verify.ErrVerification.
package tlogproof
