// Package witness is a small C2SP tlog-witness: a log submits each new
// checkpoint with a consistency proof from the last checkpoint the witness
// cosigned for that log, and the witness answers a C2SP
// tlog-cosignature/v1 signature line, or refuses.
//
// The protocol (POST <prefix>/add-checkpoint):
//
//	request body   "old <size>\n", one base64 hash a line (the consistency
//	               proof from <size> to the checkpoint's), an empty line,
//	               the signed checkpoint
//	200            the witness's cosignature line(s): "— <name> <base64>\n"
//	400            a malformed request, or an old size above the new
//	403            the checkpoint is not signed by a key the witness knows
//	               for its origin
//	404            the witness knows no log of that origin
//	409            the old size is not the size the witness last cosigned
//	               (Content-Type text/x.tlog.size, body "<size>\n": the log
//	               retries from there), or that size with another root
//	422            the consistency proof does not prove that the checkpoint
//	               extends the one the witness last cosigned
//
// A witness never cosigns two checkpoints of one log that are not
// consistent: a log that was rolled back and grown again (a fork) gets a
// 409 and then a 422, and no cosignature. The last cosigned checkpoint of
// each origin is a file under the witness's directory, replaced by a
// temporary file, fsync and rename before the cosignature is sent.
//
// Submit is the log's side of the protocol (the registry calls it for
// each witness of cairn serve --witness). The proof rules are
// verify/tlogproof's; cosignatures are made and checked with
// github.com/transparency-dev/formats/note.
package witness
