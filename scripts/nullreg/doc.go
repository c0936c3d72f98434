// Command nullreg is a fake registry that does as little work as possible,
// so that scripts/bench.sh can measure the client's own share of push and
// pull times on the same machine (a floor under any registry's times).
//
// Pushes: it answers GET /v2/ with 200, HEAD/GET of anything unknown with 404
// (so the client uploads everything), POST .../blobs/uploads/ with 202 and a
// Location, PATCH with 202 and PUT with 201, reading and discarding every
// request body. Nothing is stored or verified.
//
// Pulls: with -blob FILE it serves one artifact under every repository and
// tag (and its own digest): an OCI image manifest (empty config, one layer titled after FILE's base
// name) and FILE itself as that layer, with http.ServeContent (read/write,
// not sendfile).
//
// Standard library only.
package main
