package storage

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/verify/lineage"
)

// BlobStore holds content-addressed bytes. Implementations verify every
// digest before a blob becomes visible.
type BlobStore interface {
	// Stat returns the size of a committed blob, or ErrBlobUnknown.
	Stat(ctx context.Context, dgst digest.Digest) (int64, error)
	// Open returns a reader over a committed blob that supports Seek, so
	// that range requests can be served from it.
	Open(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error)
	// Put stores the bytes of r under dgst in one step, verifying the digest
	// and, when size >= 0, the size. Putting a blob that exists is a no-op
	// apart from consuming r.
	Put(ctx context.Context, dgst digest.Digest, size int64, r io.Reader) error
	// NewUpload starts a resumable upload.
	NewUpload(ctx context.Context) (Upload, error)
	// ResumeUpload reopens an upload that was closed, possibly by another
	// process, at the offset it had reached.
	ResumeUpload(ctx context.Context, id string) (Upload, error)
	// Delete removes a committed blob. Deleting a missing blob returns
	// ErrBlobUnknown.
	Delete(ctx context.Context, dgst digest.Digest) error
	// Walk calls fn for every committed blob, in no particular order.
	Walk(ctx context.Context, fn func(BlobInfo) error) error
	// WalkUploads calls fn for every upload that was started and neither
	// committed nor cancelled.
	WalkUploads(ctx context.Context, fn func(id string, modified time.Time) error) error
	// DeleteUpload discards an upload, whether it was closed cleanly or left
	// behind by a crash.
	DeleteUpload(ctx context.Context, id string) error
}

// BlobInfo describes a committed blob.
type BlobInfo struct {
	Digest   digest.Digest
	Size     int64
	Modified time.Time
}

// Upload is an upload in progress. Writes append. An upload is used by one
// goroutine at a time. After a failed write only Abort and Cancel are
// meaningful (Close then aborts and returns an error).
type Upload interface {
	io.Writer
	// ID names the upload for ResumeUpload.
	ID() string
	// Size is the number of bytes written so far.
	Size() int64
	// Commit checks that the bytes written hash to dgst and makes the blob
	// visible. On ErrDigestMismatch the upload's bytes are discarded.
	Commit(ctx context.Context, dgst digest.Digest) error
	// Close saves the state so that ResumeUpload can continue later.
	Close() error
	// Abort releases the upload without keeping what was written since it
	// was opened or resumed: a failed request leaves the upload as it was.
	Abort() error
	// Cancel discards the upload.
	Cancel(ctx context.Context) error
}

// Manifest is what the metadata store records about a manifest.
type Manifest struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	MediaType  string        `json:"mediaType"`
	// Size is the length of Content.
	Size int64 `json:"size"`
	// Content is the manifest exactly as pushed. Stores keep it apart from
	// the record, so it is not part of the record's JSON.
	Content []byte `json:"-"`
	// ArtifactType is the manifest's artifactType or, for an image manifest
	// without one, its config media type: what the referrers API reports.
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Subject is the digest of the manifest this one refers to, if any.
	Subject digest.Digest `json:"subject,omitempty"`
	// Blobs are the config and layer digests an image manifest references
	// (only those pushed to the registry: non-distributable layers are left
	// out).
	Blobs []digest.Digest `json:"blobs,omitempty"`
	// Children are the manifests an index references.
	Children []digest.Digest `json:"children,omitempty"`
	// DependsOn are the OCI artifacts a provenance attestation (a referrer
	// holding a Sigstore bundle with SLSA provenance) says its subject was
	// built from: read from the bundle when it is pushed, not verified.
	DependsOn []lineage.Dependency `json:"dependsOn,omitempty"`
	Pushed    time.Time            `json:"pushed"`
	PushedBy  string               `json:"pushedBy,omitempty"`
}

// Descriptor is the manifest's descriptor as the referrers API lists it.
func (m *Manifest) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    m.MediaType,
		Digest:       m.Digest,
		Size:         m.Size,
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
}

// TagMove is one entry of a tag's history: the tag moved from Old to New.
// Old is empty when the tag was created, New is empty when it was deleted.
type TagMove struct {
	Repository string        `json:"repository"`
	Tag        string        `json:"tag"`
	Old        digest.Digest `json:"old,omitempty"`
	New        digest.Digest `json:"new,omitempty"`
	Time       time.Time     `json:"time"`
	By         string        `json:"by,omitempty"`
	// Leaf is the move's index in the log of names (LogNames), when the
	// store keeps one (TransparencyLogs).
	Leaf *int64 `json:"leaf,omitempty"`
}

// UploadSession is the registry's record of an upload in progress.
type UploadSession struct {
	ID         string    `json:"id"`
	Repository string    `json:"repository"`
	Started    time.Time `json:"started"`
	By         string    `json:"by,omitempty"`
}

// Metadata records everything but the blob bytes. Each method is one atomic
// change or one consistent read.
type Metadata interface {
	// PutManifest records m and points each of tags at it, appending a
	// TagMove for every tag whose target changes. Every digest in m.Blobs
	// must be linked to m.Repository and every digest in m.Children must be
	// a manifest of m.Repository, or nothing is written and the error wraps
	// ErrBlobUnknown or ErrManifestUnknown.
	PutManifest(ctx context.Context, m *Manifest, tags []string) ([]TagMove, error)
	// Manifest returns a manifest by digest.
	Manifest(ctx context.Context, repo string, dgst digest.Digest) (*Manifest, error)
	// Resolve returns the digest a tag points at.
	Resolve(ctx context.Context, repo, tag string) (digest.Digest, error)
	// DeleteManifest removes a manifest, the tags that point at it (each
	// recorded as a TagMove to nothing) and its referrers entry.
	DeleteManifest(ctx context.Context, repo string, dgst digest.Digest, by string) error
	// DeleteTag removes a tag and records the move.
	DeleteTag(ctx context.Context, repo, tag, by string) error
	// Tags lists a repository's tags in lexical order after last, at most n
	// (n <= 0: all). An unknown repository returns ErrNameUnknown.
	Tags(ctx context.Context, repo, last string, n int) ([]string, error)
	// Repositories lists repository names in lexical order after last, at
	// most n (n <= 0: all).
	Repositories(ctx context.Context, last string, n int) ([]string, error)
	// Referrers lists the manifests of repo whose subject is dgst.
	Referrers(ctx context.Context, repo string, subject digest.Digest) ([]ocispec.Descriptor, error)
	// History returns the moves of a tag, oldest first. An empty tag returns
	// the history of every tag of the repository.
	History(ctx context.Context, repo, tag string) ([]TagMove, error)

	// LinkBlob makes a committed blob readable through repo.
	LinkBlob(ctx context.Context, repo string, dgst digest.Digest, size int64) error
	// BlobLink returns the size of a blob linked to repo, or ErrBlobUnknown.
	BlobLink(ctx context.Context, repo string, dgst digest.Digest) (int64, error)
	// AnyBlobLink returns the size of the blob if any repository links it.
	AnyBlobLink(ctx context.Context, dgst digest.Digest) (int64, error)
	// UnlinkBlob removes a blob from repo.
	UnlinkBlob(ctx context.Context, repo string, dgst digest.Digest) error

	// PutUpload records an upload session.
	PutUpload(ctx context.Context, s UploadSession) error
	// Upload returns an upload session, or ErrUploadUnknown.
	Upload(ctx context.Context, id string) (UploadSession, error)
	// DeleteUpload removes an upload session.
	DeleteUpload(ctx context.Context, id string) error
	// Uploads calls fn for every upload session.
	Uploads(ctx context.Context, fn func(UploadSession) error) error

	// LiveBlobs returns every blob digest a manifest references, plus every
	// blob linked at or after cutoff. Links older than cutoff to blobs that
	// no manifest references are removed in the same transaction, so that a
	// blob not in the returned set is garbage.
	LiveBlobs(ctx context.Context, cutoff time.Time) (map[digest.Digest]bool, error)
	// BlobLive reports whether a manifest references dgst or a repository
	// links it; used for the last check before a blob is deleted.
	BlobLive(ctx context.Context, dgst digest.Digest) (bool, error)
	// Manifests calls fn for every manifest of every repository.
	Manifests(ctx context.Context, fn func(*Manifest) error) error
	// RepositoryManifests returns the manifests of one repository, with
	// content, in no particular order. An unknown repository returns
	// ErrNameUnknown.
	RepositoryManifests(ctx context.Context, repo string) ([]*Manifest, error)
	// TagsByDigest returns the repository's tags grouped by the digest they
	// point at.
	TagsByDigest(ctx context.Context, repo string) (map[digest.Digest][]string, error)
}

// LivePreviewer is implemented by metadata stores whose LiveBlobs can run
// without committing: PreviewLiveBlobs runs the very same transaction as
// LiveBlobs (stale links removed, the set computed) and rolls it back, so
// that a garbage collector's dry run reports exactly what a real run would
// remove and changes nothing.
type LivePreviewer interface {
	PreviewLiveBlobs(ctx context.Context, cutoff time.Time) (map[digest.Digest]bool, error)
}

// ReferrerPager is a Metadata that lists referrers a page at a time, so
// that one page of the referrers API costs what is on it, not the whole
// list. The registry uses it when the store has it (an interface upgrade).
type ReferrerPager interface {
	// ReferrersPage lists at most n referrers of subject in repo, in digest
	// order, with digests after last (all when last is empty), of
	// artifactType when it is not empty, and whether more follow.
	ReferrersPage(ctx context.Context, repo string, subject digest.Digest, artifactType, last string, n int) ([]ocispec.Descriptor, bool, error)
}
