// Package redirect answers blob GETs of the OCI API with 307 Temporary
// Redirect to a short-lived URL of the blob store (a presigned S3 GET), so
// that the bytes flow straight from the object store to the client and not
// through the registry node (cairn serve --redirect-blobs).
//
// It sits in front of the registry handler, behind authentication: a
// request reaches it only once the client may read the repository. It
// redirects only a GET of /v2/<name>/blobs/<digest> whose blob is linked
// to <name> (the registry's own check); everything else, HEAD included,
// and any blob it cannot redirect, goes to the registry unchanged. The URL
// carries its own signature and expiry (TTL, default 10 minutes): it can
// be used by whoever holds it until then, as a blob GET could by anyone
// allowed to pull. Clients that follow redirects on blob GETs (oras, crane,
// docker, containerd, cairn) need nothing else; they must not send their
// registry credentials to the store's host, which Go's HTTP client and the
// others do not when the host differs.
package redirect
