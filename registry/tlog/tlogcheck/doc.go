// Package tlogcheck is an outside verifier of a cairn transparency log,
// written only with the standard library and golang.org/x/mod/sumdb/note
// and golang.org/x/mod/sumdb/tlog: it shares no code with cairn (a test
// enforces its imports), so that a bug in cairn's own log code cannot hide
// itself from it.
//
// Check fetches a log's checkpoint, verifies its signature, downloads every
// entry bundle, rebuilds the RFC 6962 root hash from the entries and
// compares it, and every served hash tile, with what the entries give.
// It reads the whole log: a tool for tests and auditors, not for clients.
package tlogcheck
