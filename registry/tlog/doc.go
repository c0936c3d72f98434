// Package tlog publishes and checks cairn's transparency logs: append-only
// RFC 6962 Merkle trees whose leaves record every change to what a name
// means (the log of names: tag created, moved or deleted, manifest pushed
// or deleted, quarantine set or lifted; storage.LogEntry as JSON).
//
// The server side ([Server]) reads a storage.TransparencyLogs store and
// serves the log as C2SP tlog-tiles under [PathPrefix]:
//
//	checkpoint                   C2SP tlog-checkpoint, a C2SP signed note (Ed25519)
//	tile/<L>/<N>[.p/<W>]         hash tiles, height 8
//	tile/entries/<N>[.p/<W>]     entry bundles: each entry a uint16 length and JSON
//	verifier                     the note verifier key, "<name>+<hash>+<base64>"
//
// Leaves are appended by the store in the same transaction as the change
// they record (meta.DB does), with the stored hashes of
// golang.org/x/mod/sumdb/tlog, so an acknowledged change is a leaf even
// after kill -9 and an append costs O(1) hash writes on average. Writers
// never sign: a checkpoint is signed when one is asked for and the tree
// has grown since the last (one Ed25519 signature per tree size, at most).
//
// The client side ([Client]) checks a checkpoint's signature against a key
// pinned on first use (or given), proves with tlog.ProveTree that it
// extends the last checkpoint this client stored (otherwise [ErrRollback]
// or [ErrFork]) and proves each entry it returns with tlog.ProveRecord
// ([Verified.Entry]). Every proof is x/mod/sumdb/tlog's over tiles checked
// by tlog.TileHashReader; this package writes none by hand.
//
// Witnesses (Config.Witnesses, C2SP tlog-witness, package witness): each
// new checkpoint is submitted with a consistency proof from the size the
// witness last cosigned, bounded by WitnessTimeout and retried by Run; the
// cosignature lines that verify with the witness's key are appended to the
// served checkpoint. Readers of a new tree wait for that round; writers
// never do. Verified.Prove gives the evidence a pull keeps (a tag's latest
// move, or a manifest's push); the rules every check applies are
// verify/tlogproof's.
//
// What the log cannot prove: that a registry which never shows a client
// the truth (a different tree for each client, a "split view") is honest,
// unless clients compare checkpoints through witnesses; nor anything once
// the log key leaks. Keep the key apart from the database (cairn serve
// --log-key), so that whoever can rewrite the database cannot also sign.
package tlog
