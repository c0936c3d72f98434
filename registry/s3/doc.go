// Package s3 is the distributed blob store: storage.BlobStore (and
// storage.BlobURLer) in a bucket of any S3-compatible object store, which
// several cairn serve nodes share (cairn serve --storage s3://BUCKET?...).
//
// Keys under the URL's prefix:
//
//	blobs/
//	├── sha256/<hex>            committed blobs, named by digest
//	└── sha512/<hex>
//	uploads/<id>/
//	├── state                   JSON: size, running SHA-256 state, parts sent, chunks
//	└── chunk-<random>          bytes after the last part, one object per Close
//	ingest/<id>                 the multipart upload an upload's parts go to
//
// The guarantee is the embedded store's: a blob is visible only when it is
// complete and its digest checked. A blob the size of a part or smaller is
// hashed in memory and written with one PUT to its key. Put of a larger
// blob streams to a multipart upload at its final key, completed only
// after the digest and size match (an unfinished multipart upload is never
// visible). An upload (POST, PATCH..., PUT) sends whole parts to
// ingest/<id> while it hashes; Commit checks the digest, completes the
// multipart upload and copies ingest/<id> to the blob's key on the server,
// then removes the upload's objects. So no partial or unverified blob is
// ever under blobs/, whenever a node dies.
//
// Uploads resume on any node: Close saves the state (hash state included,
// so nothing is hashed twice) and the bytes after the last part, and
// ResumeUpload reads them back. The state is written with If-Match on the
// ETag it was read with, so of two nodes closing one upload at once one
// fails (ErrUploadChanged) and the saved state stays consistent. Bytes
// written after the last Close (a failed request, a node killed) are
// dropped: the upload resumes where it was saved, as the OCI protocol
// expects. The state read back is checked before it is used (sizes, part
// numbers, chunk names, the hash state's length; see FuzzDecodeState).
//
// Memory: an upload in progress holds up to two part buffers (one being
// sent); the part size is 16 MiB unless the URL says otherwise.
//
// Caveats: payloads are sent unsigned (UNSIGNED-PAYLOAD) to spare a second
// SHA-256 of every byte; use an https:// endpoint where the network is not
// trusted. Committing a blob that exists renews its modification time with
// a copy onto itself; DeleteGrace uses that time to keep blobs another node
// has just committed from the collector. Unfinished multipart uploads no
// state names (a Put cut off by a crash) are listed by WalkUploads as
// "mp-..." ids so the collector removes them.
package s3
