// Package cas is the embedded blob store: content-addressed files on the
// local disk, implementing storage.BlobStore.
//
// On-disk layout under the root directory:
//
//	<root>/
//	├── blobs/
//	│   ├── sha256/<hex>     committed blobs, read-only, named by digest
//	│   └── sha512/<hex>
//	└── ingest/
//	    ├── <id>             bytes of an upload in progress
//	    └── <id>.state       hash state and size after the last Close
//
// A blob is written to ingest/ while it is hashed, then fsynced and renamed
// into blobs/; the directory is fsynced after the rename. So a blob file
// exists only when it is complete and matches its name, even after a crash
// (kill -9 or power loss): what a crash leaves behind sits in ingest/, where
// the garbage collector removes it.
//
// Digests are validated (algorithm and hex length) before they are turned
// into paths, so no client input can name a file outside blobs/.
package cas
