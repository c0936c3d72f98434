package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/verify/agent"
)

// Limits of ls.
const (
	// maxVersionsResponse bounds the versions answer a cairn server may send.
	maxVersionsResponse = 64 << 20
	// maxListTags bounds the tags ls reads from a registry without the
	// versions extension; beyond it the listing says it is truncated.
	maxListTags = 10000
	// lsConcurrency is how many tags ls resolves at once on such a registry.
	lsConcurrency = 8
)

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
// signature (any Sigstore bundle counts: ls cannot tell a signature from an
// attestation by the type alone).
func isSignatureType(artifactType string) bool {
	return slices.Contains(signatureArtifactTypes, artifactType) ||
		strings.HasPrefix(artifactType, "application/vnd.dev.sigstore.bundle")
}

// lsVersion is one line of cairn ls.
type lsVersion struct {
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
	Signed    bool           `json:"signed"`
}

// lsResult is what ls prints with --json.
type lsResult struct {
	Repository string `json:"repository"`
	// Source is "versions" (cairn's extension) or "tags" (any registry:
	// tags list, resolve, referrers).
	Source    string      `json:"source"`
	Truncated bool        `json:"truncated,omitempty"`
	Versions  []lsVersion `json:"versions"`
}

func newLsCmd() *cobra.Command {
	var (
		ro     remoteOptions
		asJSON bool
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "ls REGISTRY/REPO",
		Short: "List the versions of a repository, newest first: tags, digest, size, signed",
		Long: fmt.Sprintf(`List the manifests of a repository, newest first, with their tags, digest,
size (manifest, config and files), push time (UTC) and whether a signature
refers to them. Signatures and attestations themselves (manifests with a
subject) are listed only with --all.

Against cairn this is one request (the versions extension). Against another
registry ls reads the tags list (at most %d tags), resolves each tag and
asks the referrers API for signatures; untagged manifests and push times are
then unknown, and versions are listed in tag order.`, maxListTags),
		Example: `  cairn ls 127.0.0.1:5000/models/llama
  cairn ls 127.0.0.1:5000/models/llama --all
  cairn ls registry.example.com/team/model --json | jq -r '.versions[0].digest'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			if ref.Reference != "" {
				return fmt.Errorf("%s: ls takes REGISTRY/REPO, without a tag or digest", args[0])
			}
			res, err := listVersions(cmd.Context(), &ro, args[0])
			if err != nil {
				return fmt.Errorf("ls %s: %w", args[0], err)
			}
			if !all {
				res.Versions = slices.DeleteFunc(res.Versions, func(v lsVersion) bool { return v.Subject != "" })
			}
			if res.Truncated {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s has more than %d tags; listing the first %d\n", args[0], maxListTags, maxListTags)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return printVersions(cmd.OutOrStdout(), res.Versions, all)
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "also list referrers (signatures, attestations)")
	return cmd
}

func printVersions(w io.Writer, versions []lsVersion, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "TAGS\tDIGEST\tSIZE\tCREATED\tSIGNED"
	if all {
		header += "\tSUBJECT"
	}
	fmt.Fprintln(tw, header)
	for _, v := range versions {
		created := "-"
		if v.Created != nil {
			created = v.Created.UTC().Format("2006-01-02 15:04")
		}
		signed := "no"
		if v.Signed {
			signed = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", orDash(clean(strings.Join(v.Tags, ","))), shortDigest(v.Digest), humanSize(v.Size), created, signed)
		if all {
			fmt.Fprintf(tw, "\t%s", orDash(shortDigest(v.Subject)))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// listVersions asks a cairn server's versions extension and falls back to
// the tags list when the registry does not have it.
func listVersions(ctx context.Context, ro *remoteOptions, repoStr string) (lsResult, error) {
	repo, _, err := ro.repository(repoStr)
	if err != nil {
		return lsResult{}, err
	}
	name := repo.Reference.Registry + "/" + repo.Reference.Repository
	versions, ok, err := fetchVersions(ctx, ro, repo)
	if err != nil {
		return lsResult{}, err
	}
	if ok {
		return lsResult{Repository: name, Source: "versions", Versions: versions}, nil
	}
	versions, truncated, err := versionsFromTags(ctx, repo, maxListTags)
	if err != nil {
		return lsResult{}, err
	}
	return lsResult{Repository: name, Source: "tags", Truncated: truncated, Versions: versions}, nil
}

// fetchVersions calls GET /v2/<name>/_cairn/versions. ok is false when the
// registry does not have the endpoint (404, 405 or 501).
func fetchVersions(ctx context.Context, ro *remoteOptions, repo *remote.Repository) (versions []lsVersion, ok bool, err error) {
	body, ok, err := getExtension(ctx, ro, repo, "versions", maxVersionsResponse)
	if !ok || err != nil {
		return nil, ok, err
	}
	var vs []registry.Version
	if err := json.Unmarshal(body, &vs); err != nil {
		return nil, false, fmt.Errorf("decode versions: %w", err)
	}
	out := make([]lsVersion, 0, len(vs))
	for _, v := range vs {
		if err := v.Digest.Validate(); err != nil {
			return nil, false, fmt.Errorf("versions: digest %q: %w", v.Digest, err)
		}
		if v.Subject != "" && v.Subject.Validate() != nil {
			return nil, false, fmt.Errorf("versions: subject %q of %s is not a digest", v.Subject, v.Digest)
		}
		lv := lsVersion{
			Digest: v.Digest, Tags: v.Tags, MediaType: v.MediaType, ArtifactType: v.ArtifactType, Size: v.Size,
			PushedBy: v.PushedBy, Subject: v.Subject, Referrers: v.Referrers, Signed: signedBy(v.Referrers),
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

// getExtension calls GET /v2/<name>/_cairn/<path> of a cairn registry and
// returns the body, at most limit bytes. ok is false when the registry does
// not have the endpoint (404, 405 or 501 without an OCI error naming the
// manifest).
func getExtension(ctx context.Context, ro *remoteOptions, repo *remote.Repository, path string, limit int) (body []byte, ok bool, err error) {
	u := ro.baseURL(repo.Reference.Registry) + "/v2/" + repo.Reference.Repository + "/_cairn/" + path
	what, _, _ := strings.Cut(path, "?")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := ro.client().Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return nil, false, nil
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, false, fmt.Errorf("%s: %s: %s", what, resp.Status, b)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	if len(body) > limit {
		return nil, false, fmt.Errorf("%s: answer exceeds %d bytes", what, limit)
	}
	return body, true, nil
}

// signedBy reports whether referrer counts include a signature.
func signedBy(referrers map[string]int) bool {
	for at, n := range referrers {
		if n > 0 && isSignatureType(at) {
			return true
		}
	}
	return false
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
func versionsFromTags(ctx context.Context, repo *remote.Repository, limit int) ([]lsVersion, bool, error) {
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
	g.SetLimit(lsConcurrency)
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
	byDigest := map[digest.Digest]*lsVersion{}
	manifests := map[digest.Digest]ocispec.Descriptor{}
	for i, d := range descs {
		v := byDigest[d.Digest]
		if v == nil {
			v = &lsVersion{Digest: d.Digest, Tags: []string{}, MediaType: d.MediaType}
			byDigest[d.Digest] = v
			manifests[d.Digest] = d
			order = append(order, d.Digest)
		}
		v.Tags = append(v.Tags, tags[i])
	}

	var mu sync.Mutex
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(lsConcurrency)
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
			v.Size, v.ArtifactType, v.Subject, v.Referrers, v.Signed = size, artifactType, subject, refs, signedBy(refs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}

	out := make([]lsVersion, 0, len(order))
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
	if desc.Size > maxManifestBytes {
		return 0, "", "", fmt.Errorf("manifest %s: %d bytes exceeds %d", desc.Digest, desc.Size, maxManifestBytes)
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

// listReferrers returns at most agent.MaxRecordedReferrers referrers of desc, and whether
// there were more.
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

// shortDigest abbreviates a digest to its algorithm and 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := string(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// humanSize formats a byte count in binary units: 512 B, 1.5 KiB, 1.2 GiB.
func humanSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}
