package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/verify/agent"
)

// Limits of Versions on a registry without cairn's versions extension.
const (
	// DefaultMaxTags is how many tags Versions reads at most, unless
	// VersionsOptions says otherwise; beyond it the list is truncated.
	DefaultMaxTags = 10000
	// versionsConcurrency is how many tags are resolved at once.
	versionsConcurrency = 8
)

// Sources of a VersionList.
const (
	// SourceVersions is cairn's versions extension: one request, every
	// manifest, with push times.
	SourceVersions = "versions"
	// SourceTags is the portable way: the tags list, each tag resolved,
	// the referrers API asked for signatures.
	SourceTags = "tags"
)

// Version is one manifest of a repository. It is the JSON of `cairn ls
// --json`.
type Version struct {
	Digest       digest.Digest `json:"digest"`
	Tags         []string      `json:"tags"`
	MediaType    string        `json:"mediaType,omitempty"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Size is the manifest plus its config and layers.
	Size int64 `json:"size"`
	// Created is when the manifest was pushed; unknown (nil) on registries
	// without the versions extension.
	Created  *time.Time    `json:"created,omitempty"`
	PushedBy string        `json:"pushedBy,omitempty"`
	Subject  digest.Digest `json:"subject,omitempty"`
	// Referrers counts the manifests that refer to this one, by artifact
	// type.
	Referrers map[string]int `json:"referrers,omitempty"`
	// Signed says a signature refers to it (see HasSignature).
	Signed bool `json:"signed"`
}

// VersionList is what Versions found.
type VersionList struct {
	// Repository is HOST/REPO.
	Repository string `json:"repository"`
	// Source is SourceVersions or SourceTags.
	Source string `json:"source"`
	// Truncated says the registry held more than VersionsOptions.MaxTags
	// tags and only the first were read.
	Truncated bool `json:"truncated,omitempty"`
	// Versions are newest first (SourceVersions) or in the order of their
	// first tag (SourceTags). Referrers (Subject set) are included.
	Versions []Version `json:"versions"`
}

// VersionsOptions configure Versions. The zero value reads at most
// DefaultMaxTags tags.
type VersionsOptions struct {
	// MaxTags bounds the tags read from a registry without the versions
	// extension; zero means DefaultMaxTags.
	MaxTags int
}

// Versions lists the manifests of the repository (its reference's tag or
// digest, if any, is ignored). Against cairn it is one request to the
// versions extension; against another registry it reads the tags list (at
// most MaxTags), resolves each tag, reads each manifest for its size and
// subject, and asks the referrers API for signatures; untagged manifests
// and push times are then unknown. Everything the registry answers is
// checked: digests are validated and manifests verified against them.
func Versions(ctx context.Context, r *Repository, o VersionsOptions) (*VersionList, error) {
	limit := o.MaxTags
	if limit <= 0 {
		limit = DefaultMaxTags
	}
	versions, ok, err := extensionVersions(ctx, r)
	if err != nil {
		return nil, err
	}
	if ok {
		return &VersionList{Repository: r.name(), Source: SourceVersions, Versions: versions}, nil
	}
	versions, truncated, err := versionsFromTags(ctx, r.Repo, limit)
	if err != nil {
		return nil, err
	}
	return &VersionList{Repository: r.name(), Source: SourceTags, Truncated: truncated, Versions: versions}, nil
}

// signatureArtifactTypes are the referrer artifact types that make a
// version signed: Sigstore bundles (cosign v3 and cairn sign), cosign's
// OCI 1.1 signatures and Notary Project signatures.
var signatureArtifactTypes = []string{
	attest.MediaTypeBundle,
	"application/vnd.dev.sigstore.bundle+json;version=0.3",
	"application/vnd.dev.cosign.artifact.sig.v1+json",
	"application/vnd.cncf.notary.signature",
}

// isSignatureType reports whether a referrer of this artifact type is a
// signature (any Sigstore bundle counts: the type alone cannot tell a
// signature from an attestation).
func isSignatureType(artifactType string) bool {
	return slices.Contains(signatureArtifactTypes, artifactType) ||
		strings.HasPrefix(artifactType, "application/vnd.dev.sigstore.bundle")
}

// HasSignature reports whether referrer counts by artifact type include a
// signature (a Sigstore bundle, a cosign or a Notary Project signature).
// It says a signature is attached, not that anyone trusted made it.
func HasSignature(referrers map[string]int) bool {
	for at, n := range referrers {
		if n > 0 && isSignatureType(at) {
			return true
		}
	}
	return false
}

// extensionVersions calls GET /v2/<name>/_cairn/versions. ok is false when
// the registry does not have the endpoint.
func extensionVersions(ctx context.Context, r *Repository) (versions []Version, ok bool, err error) {
	body, ok, err := r.extension(ctx, "versions", MaxVersionsResponse)
	if !ok || err != nil {
		return nil, ok, err
	}
	var vs []registry.Version
	if err := json.Unmarshal(body, &vs); err != nil {
		return nil, false, fmt.Errorf("decode versions: %w", err)
	}
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		if err := v.Digest.Validate(); err != nil {
			return nil, false, fmt.Errorf("versions: digest %q: %w", v.Digest, err)
		}
		if v.Subject != "" && v.Subject.Validate() != nil {
			return nil, false, fmt.Errorf("versions: subject %q of %s is not a digest", v.Subject, v.Digest)
		}
		lv := Version{
			Digest: v.Digest, Tags: v.Tags, MediaType: v.MediaType, ArtifactType: v.ArtifactType, Size: v.Size,
			PushedBy: v.PushedBy, Subject: v.Subject, Referrers: v.Referrers, Signed: HasSignature(v.Referrers),
		}
		if lv.Tags == nil {
			lv.Tags = []string{}
		}
		if !v.Pushed.IsZero() {
			lv.Created = &v.Pushed
		}
		out = append(out, lv)
	}
	return out, true, nil
}

var errEnough = errors.New("enough")

// referrersTagSchema matches the tags of the referrers tag schema (OCI
// distribution spec fallback) and cosign's legacy signature tags: they
// hold referrers, not versions.
var referrersTagSchema = regexp.MustCompile(`^sha(256|512)-[0-9a-f]{64,128}(\.(sig|att|sbom))?$`)

// versionsFromTags lists a repository the portable way: at most limit
// tags, each resolved, their manifests read for size and subject, and the
// referrers API asked for signatures. Versions come in the order of their
// first tag; created is unknown.
func versionsFromTags(ctx context.Context, repo *remote.Repository, limit int) ([]Version, bool, error) {
	var tags []string
	truncated := false
	err := repo.Tags(ctx, "", func(page []string) error {
		tags = append(tags, page...)
		if len(tags) > limit {
			tags, truncated = tags[:limit], true
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, false, fmt.Errorf("tags: %w", err)
	}

	descs := make([]ocispec.Descriptor, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(versionsConcurrency)
	for i, tag := range tags {
		g.Go(func() error {
			d, err := repo.Resolve(gctx, tag)
			if err != nil {
				return fmt.Errorf("resolve %s: %w", tag, err)
			}
			descs[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}

	var order []digest.Digest
	byDigest := map[digest.Digest]*Version{}
	manifests := map[digest.Digest]ocispec.Descriptor{}
	for i, d := range descs {
		v := byDigest[d.Digest]
		if v == nil {
			v = &Version{Digest: d.Digest, Tags: []string{}, MediaType: d.MediaType}
			byDigest[d.Digest] = v
			manifests[d.Digest] = d
			order = append(order, d.Digest)
		}
		v.Tags = append(v.Tags, tags[i])
	}

	var mu sync.Mutex
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(versionsConcurrency)
	for _, dg := range order {
		desc := manifests[dg]
		g.Go(func() error {
			size, artifactType, subject, err := manifestSummary(gctx, repo, desc)
			if err != nil {
				return err
			}
			refs, err := referrerCounts(gctx, repo, desc)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			v := byDigest[dg]
			v.Size, v.ArtifactType, v.Subject, v.Referrers, v.Signed = size, artifactType, subject, refs, HasSignature(refs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}

	out := make([]Version, 0, len(order))
	for _, dg := range order {
		v := *byDigest[dg]
		if v.Subject == "" && !slices.ContainsFunc(v.Tags, func(t string) bool { return !referrersTagSchema.MatchString(t) }) {
			// Only tags of the referrers tag schema: a referrer (index) whose
			// subject is in the tag name.
			v.Subject = digest.Digest(strings.Replace(strings.SplitN(v.Tags[0], ".", 2)[0], "-", ":", 1))
		}
		out = append(out, v)
	}
	return out, truncated, nil
}

// manifestSummary reads a manifest (bounded, verified against desc) and
// returns its size with config and layers, its artifact type and subject.
func manifestSummary(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) (int64, string, digest.Digest, error) {
	if desc.Size > MaxManifestSize {
		return 0, "", "", fmt.Errorf("manifest %s: %d bytes exceeds %d", desc.Digest, desc.Size, MaxManifestSize)
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return 0, "", "", fmt.Errorf("fetch manifest %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		return 0, "", "", fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	var m struct {
		ArtifactType string               `json:"artifactType"`
		Config       *ocispec.Descriptor  `json:"config"`
		Layers       []ocispec.Descriptor `json:"layers"`
		Subject      *ocispec.Descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, "", "", fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	size := desc.Size
	artifactType := m.ArtifactType
	if m.Config != nil {
		size += m.Config.Size
		if artifactType == "" {
			artifactType = m.Config.MediaType
		}
	}
	for _, l := range m.Layers {
		size += l.Size
	}
	var subject digest.Digest
	if m.Subject != nil {
		subject = m.Subject.Digest
	}
	return size, artifactType, subject, nil
}

// referrerCounts counts a manifest's referrers by artifact type, reading at
// most agent.MaxRecordedReferrers of them.
func referrerCounts(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) (map[string]int, error) {
	refs, _, err := listReferrers(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, nil
	}
	counts := map[string]int{}
	for _, r := range refs {
		counts[r.ArtifactType]++
	}
	return counts, nil
}

// listReferrers returns at most agent.MaxRecordedReferrers referrers of
// desc (any artifact type), and whether there were more.
func listReferrers(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) ([]ocispec.Descriptor, bool, error) {
	var refs []ocispec.Descriptor
	truncated := false
	err := repo.Referrers(ctx, desc, "", func(page []ocispec.Descriptor) error {
		refs = append(refs, page...)
		if len(refs) > agent.MaxRecordedReferrers {
			refs, truncated = refs[:agent.MaxRecordedReferrers], true
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, false, fmt.Errorf("referrers of %s: %w", desc.Digest, err)
	}
	return refs, truncated, nil
}
