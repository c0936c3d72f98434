package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
)

// CacheTTL is how long a verdict is reused for the same repository, digest
// and referrers.
const CacheTTL = time.Minute

// maxCacheEntries bounds the verdict cache; it is emptied when full.
const maxCacheEntries = 10000

// MetadataArtifactTypes are the artifact types of the referrers every
// reader may fetch under a policy, whatever the policy says of their
// subject: signatures and attestations, so that clients can find and check
// them, and sign and attest through the gate. Such a referrer passes only
// when every layer is a bundle no larger than verify.MaxBundleSize: a
// manifest with a subject is not a way round the policy.
var MetadataArtifactTypes = []string{attest.MediaTypeBundle}

// Gate checks pulls against a policy. It guards content, not names: a
// reader may resolve a tag (HEAD), list referrers and read the signature
// and attestation referrers of any version; what the policy refuses is the
// GET of a refused version's manifest, and of every blob that no allowed
// version (or signature referrer) of the repository references.
type Gate struct {
	policy *verify.Policy
	host   string
	meta   storage.Metadata
	blobs  storage.BlobStore
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]verdict
}

type verdict struct {
	err     error
	expires time.Time
}

// New returns a gate that applies policy to the repositories of this
// registry, which policy rules match as host/repository: host is the
// registry's name as clients reach it (host[:port]).
func New(policy *verify.Policy, host string, meta storage.Metadata, blobs storage.BlobStore) *Gate {
	return &Gate{policy: policy, host: strings.ToLower(host), meta: meta, blobs: blobs, now: time.Now, cache: map[string]verdict{}}
}

// Check is CheckManifest (the registry.Config.PullGate of earlier
// versions).
func (g *Gate) Check(ctx context.Context, repo, reference string, m *storage.Manifest) error {
	return g.CheckManifest(ctx, repo, reference, m)
}

// CheckManifest decides the GET of manifest m of repo, asked for as
// reference (a tag or a digest): nil allows it; an error wrapping
// verify.ErrVerification says why the policy refuses it; any other error
// means it could not be checked.
func (g *Gate) CheckManifest(ctx context.Context, repo, reference string, m *storage.Manifest) error {
	if metadataReferrer(m) {
		return nil
	}
	return g.version(ctx, repo, m, strings.Contains(reference, ":"))
}

// Verdict is the policy's verdict on a version, by digest: what the web UI
// shows and what a pull by digest gets. It returns the rule that applied
// (nil when none does) and nil or the refusal.
func (g *Gate) Verdict(ctx context.Context, repo string, m *storage.Manifest) (*verify.Rule, error) {
	rule, _ := g.policy.Rule(g.host + "/" + repo)
	return rule, g.version(ctx, repo, m, true)
}

// CheckBlob decides the GET of a blob of repo: allowed when a manifest of
// the repository that the policy allows (a version, by digest, or a
// signature or attestation referrer) references it. Allowed verdicts are
// cached for CacheTTL; refusals are not, so a version signed a moment ago
// frees its blobs at once.
func (g *Gate) CheckBlob(ctx context.Context, repo string, dgst digest.Digest) error {
	key := "blob " + repo + "@" + dgst.String()
	now := g.now()
	if g.cached(key, now) {
		return nil
	}
	ms, err := g.meta.RepositoryManifests(ctx, repo)
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	var refusal error
	for _, m := range ms {
		if !slices.Contains(m.Blobs, dgst) {
			continue
		}
		err := error(nil)
		if !metadataReferrer(m) {
			err = g.version(ctx, repo, m, true)
		}
		if err == nil {
			g.store(key, verdict{expires: now.Add(CacheTTL)})
			return nil
		}
		if !errors.Is(err, verify.ErrVerification) {
			return err
		}
		if refusal == nil {
			refusal = fmt.Errorf("%w (as %s@%s)", err, repo, m.Digest)
		}
	}
	if refusal == nil {
		return fmt.Errorf("%w: blob %s: no manifest of %s references it", verify.ErrPolicyDenied, dgst, repo)
	}
	return fmt.Errorf("blob %s: no version of %s that the policy allows references it: %w", dgst, repo, refusal)
}

func (g *Gate) cached(key string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.cache[key]
	return ok && now.Before(v.expires) && v.err == nil
}

func (g *Gate) store(key string, v verdict) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.cache) >= maxCacheEntries {
		clear(g.cache)
	}
	g.cache[key] = v
}

// metadataReferrer reports whether m is a signature or attestation
// referrer that any reader may fetch: a subject, an artifact type of
// MetadataArtifactTypes, and only bundle layers within verify's limit.
func metadataReferrer(m *storage.Manifest) bool {
	if m.Subject == "" || !slices.Contains(MetadataArtifactTypes, m.ArtifactType) {
		return false
	}
	var man ocispec.Manifest
	if json.Unmarshal(m.Content, &man) != nil || man.Subject == nil || len(man.Layers) == 0 {
		return false
	}
	for _, l := range man.Layers {
		if l.MediaType != attest.MediaTypeBundle || l.Size > verify.MaxBundleSize {
			return false
		}
	}
	return true
}

// version applies the repository's rule to a version: the digest checks,
// then verify.Rule.Evaluate over the bundles attest.CollectBundles reads
// from the registry's own store, exactly as the agent does over a remote.
func (g *Gate) version(ctx context.Context, repo string, m *storage.Manifest, byDigest bool) error {
	refs, err := g.meta.Referrers(ctx, repo, m.Digest)
	if err != nil {
		return fmt.Errorf("read signatures: %w", err)
	}
	// The key names the bundle referrers by a hash of their digests: a
	// flood of referrers must not make every key as large as the flood.
	h := digest.SHA256.Digester()
	for _, r := range refs {
		if r.ArtifactType == attest.MediaTypeBundle {
			h.Hash().Write([]byte(r.Digest + " "))
		}
	}
	key := fmt.Sprintf("%s@%s %t %s", repo, m.Digest, byDigest, h.Digest())
	now := g.now()
	g.mu.Lock()
	v, ok := g.cache[key]
	g.mu.Unlock()
	if ok && now.Before(v.expires) {
		return v.err
	}
	err = g.check(ctx, repo, m, byDigest)
	if err != nil && !errors.Is(err, verify.ErrVerification) {
		return err // could not check: not cached
	}
	g.store(key, verdict{err: err, expires: now.Add(CacheTTL)})
	return err
}

func (g *Gate) check(ctx context.Context, repo string, m *storage.Manifest, byDigest bool) error {
	rule, err := g.policy.Rule(g.host + "/" + repo)
	if err != nil {
		return err
	}
	if err := rule.CheckDigest(m.Digest, byDigest); err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
	col, err := attest.Collect(ctx, &storage.ContentSource{Meta: g.meta, Blobs: g.blobs, Repository: repo}, desc, attest.SelectionFor(rule.Trust()))
	if err != nil {
		return err
	}
	_, err = rule.Evaluate(desc, attest.BundleData(col.Bundles), g.now())
	return col.Explain(err, rule.Trust())
}
