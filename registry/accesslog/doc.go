// Package accesslog records who accessed what in the registry, into an
// append-only hash-chained log (storage.AccessLog, kept in bbolt by
// registry/meta), and serves the log to remote readers.
//
// # Recording
//
// A [Recorder] takes records from request handlers without waiting for the
// database: [Recorder.Record] is a send on a buffered channel, and one
// goroutine appends what arrived in batches (one transaction per
// [Options.BatchSize] records, or every [Options.FlushInterval], 50 ms by
// default). A manifest GET therefore costs a channel send, not a commit.
// When the buffer is full (the disk stalls), Record waits up to
// [Options.FullWait] and then drops the record: requests are never held
// for long by the audit log. Every drop is counted ([Recorder.Stats]) and
// noted in the log itself by one record with action "dropped" and the
// number lost, so a gap is visible to whoever reads the log.
// [Recorder.Close] flushes; call it after the HTTP server has shut down.
// A process killed without a shutdown (kill -9, power loss) loses what was
// recorded but not yet appended: at most one FlushInterval of requests.
//
// [Recorder.Middleware] records registry API requests after they were
// answered:
//
//	GET    /v2/<name>/manifests/<ref>   pull     (digest from Docker-Content-Digest)
//	PUT    /v2/<name>/manifests/<ref>   push     (?tag= parameters in Detail)
//	DELETE /v2/<name>/manifests/<ref>   delete
//	DELETE /v2/<name>/blobs/<digest>    delete
//	GET    /v2/_catalog                 catalog
//	any request answered 401 or 403     denied   (Status, method and path in Detail)
//	GET    /v2/<name>/blobs/<digest>    download (once per manifest GET: the first GET of
//	                                    one of its layers by the same principal and address
//	                                    within DownloadWindow; Digest is the manifest's)
//
// A download is what pull counts count: a manifest read alone (cairn tag,
// inspect, diff) is a pull record but not a download.
//
// with result ok below 400, failed otherwise (a pull of an unknown tag is a
// failed pull with status 404). Not recorded: blob GETs and HEADs (a pull
// is its manifest GET; recording every layer would multiply the log for no
// information), manifest HEADs, tag lists, referrers, uploads and their
// cancellation, the history, versions and lineage extensions, and the 401
// that answers an anonymous GET /v2/ (the challenge that starts every
// docker login, not a denial).
//
// The principal is registry.Principal of the request as it reaches the
// middleware, so authentication goes in front of it; a denial answered by
// that layer itself never reaches the middleware, so the layer records it
// (registry/auth does, through the same Recorder, or with
// [Recorder.RecordRequest]). The address is the TCP peer's; X-Forwarded-For
// is believed only from [Options.TrustedProxies].
//
// # The chain
//
// Every record carries Prev, the hash of the record before, and Hash:
//
//	Hash = hex(SHA-256(encoding))
//	encoding = "CAL1"                         magic, encoding version 1
//	         || Prev                          32 bytes (hex-decoded)
//	         || Seq, Unix seconds of Time, nanoseconds of Time, Status
//	                                          each 8 bytes, big endian (seconds two's complement)
//	         || Principal, Address, Action, Repository, Digest, Reference, Result, Detail
//	                                          each a 4-byte big-endian length, then the UTF-8 bytes
//
// Record 1's Prev is 64 zeros. An auditor recomputes it from the JSON of
// cairn log --json (or the admin endpoint) in a few lines, in Python:
//
//	import hashlib, struct, datetime
//	def chain_hash(r):
//	    t = datetime.datetime.fromisoformat(r["time"][:19] + "+00:00")
//	    frac = r["time"][19:].rstrip("Z")
//	    nanos = int((frac[1:] + "000000000")[:9]) if frac else 0
//	    b = b"CAL1" + bytes.fromhex(r["prev"]) + struct.pack(">QqQQ", r["seq"], int(t.timestamp()), nanos, r.get("status", 0))
//	    for k in ("principal", "address", "action", "repository", "digest", "reference", "result", "detail"):
//	        s = r.get(k, "").encode()
//	        b += struct.pack(">I", len(s)) + s
//	    return hashlib.sha256(b).hexdigest()
//
// and checks chain_hash(r) == r["hash"] and that each record's prev is the
// hash of the record before. storage.EncodeAccessRecord is the reference;
// its golden test pins version 1.
//
// The store also keeps the head (seq and hash of the newest record) and the
// anchor (the last record retention removed; the first record's Prev).
// storage.AccessLog.VerifyAccess (cairn log verify) therefore detects an
// edited record (its hash), a removed record anywhere (a gap in the seqs,
// and the head for the end), reordered records (the seq inside the
// encoding), a changed anchor (the first record's Prev, and the "prune"
// record retention appends naming the anchor it set), and a record missing
// from the indexes that filtered reads use.
//
// What it cannot detect: someone with the database file who rewrites the
// whole chain from the anchor on, head included, using the public encoding
// (there is no secret in it), or who replaces the log by an empty one. The
// defence is to keep the head elsewhere: cairn log verify prints it as
// SEQ:HASH, and cairn log verify --head SEQ:HASH checks that a head exported
// earlier is still in the chain (a rewrite changes every hash after the
// first edit).
//
// # Remote reading
//
// [Handler] serves the log as JSON (a [Page] selected by the query
// parameters of [ParseQuery]) and, on a path ending in /verify, the chain
// state. It does no authorization: cairn serve mounts it at
// /_cairn/admin/log behind the admin gate.
//
// # Retention
//
// [Retain] prunes records older than a duration once a day: the oldest
// records go, the last one removed becomes the anchor, and a record with
// action "prune" naming it is appended, so the chain still verifies. It
// never prunes a chain that does not verify.
package accesslog
