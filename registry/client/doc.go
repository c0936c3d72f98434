// Package client moves blobs between a local directory and a registry the
// way cairn push and pull need it, on top of the distribution API:
//
//   - Upload streams a file as a chunked upload, hashing while it sends, so
//     a push reads each file once; the upload's location, offset and hash
//     state are saved after every acknowledged chunk, so an interrupted push
//     resumes where the registry stopped.
//   - Fetch downloads a blob into a local content-addressed Cache, hashing
//     while it writes; a blob becomes visible in the cache only when its
//     digest matches, and an interrupted download resumes with a range
//     request from the bytes already on disk.
//
// Both work with any registry that implements the spec (cairn, distribution,
// ...); requests go through an oras-go auth client, so credentials from the
// docker-style store apply.
//
// Cache layout under its root:
//
//	blobs/sha256/<hex>     verified blobs, read-only
//	ingest/<hex>           a download in progress (bytes so far)
//	uploads/<key>.json     state of an upload in progress
//	stat.json              digests of local files by (device, inode, size, mtime, ctime)
package client
