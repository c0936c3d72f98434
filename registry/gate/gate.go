package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
)

// mediaTypeBundle is the artifactType of a Sigstore bundle referrer.
const mediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"

// CacheTTL is how long a verdict is reused for the same repository, digest
// and referrers.
const CacheTTL = time.Minute

// maxCacheEntries bounds the verdict cache; it is emptied when full.
const maxCacheEntries = 10000

// Gate checks pulls against a policy.
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

// Check is a registry.Config.PullGate: nil allows the pull of m (asked for
// as reference) from repo; an error says why it is refused.
func (g *Gate) Check(ctx context.Context, repo, reference string, m *storage.Manifest) error {
	byDigest := strings.Contains(reference, ":")
	refs, err := g.meta.Referrers(ctx, repo, m.Digest)
	if err != nil {
		return fmt.Errorf("read signatures: %w", err)
	}
	var bundleRefs []ocispec.Descriptor
	for _, r := range refs {
		if r.ArtifactType == mediaTypeBundle {
			bundleRefs = append(bundleRefs, r)
		}
	}
	key := fmt.Sprintf("%s@%s %t", repo, m.Digest, byDigest)
	for _, r := range bundleRefs {
		key += " " + string(r.Digest)
	}
	now := g.now()
	g.mu.Lock()
	v, ok := g.cache[key]
	g.mu.Unlock()
	if ok && now.Before(v.expires) {
		return v.err
	}
	err = g.check(ctx, repo, m, byDigest, bundleRefs)
	if err != nil && !errors.Is(err, verify.ErrVerification) {
		return err // could not check: not cached
	}
	g.mu.Lock()
	if len(g.cache) >= maxCacheEntries {
		clear(g.cache)
	}
	g.cache[key] = verdict{err: err, expires: now.Add(CacheTTL)}
	g.mu.Unlock()
	return err
}

func (g *Gate) check(ctx context.Context, repo string, m *storage.Manifest, byDigest bool, refs []ocispec.Descriptor) error {
	rule, err := g.policy.Rule(g.host + "/" + repo)
	if err != nil {
		return err
	}
	if err := rule.CheckDigest(m.Digest, byDigest); err != nil {
		return err
	}
	bundles, err := g.bundles(ctx, repo, refs)
	if err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
	_, err = rule.Evaluate(desc, bundles, g.now())
	return err
}

// bundles reads the bundle layers of the referrer manifests, bounded as
// the agent bounds them.
func (g *Gate) bundles(ctx context.Context, repo string, refs []ocispec.Descriptor) ([][]byte, error) {
	var out [][]byte
	for _, r := range refs {
		if len(out) >= verify.MaxBundles {
			break
		}
		rm, err := g.meta.Manifest(ctx, repo, r.Digest)
		if err != nil {
			continue // deleted meanwhile
		}
		var man ocispec.Manifest
		if json.Unmarshal(rm.Content, &man) != nil {
			continue
		}
		for _, l := range man.Layers {
			if l.MediaType != mediaTypeBundle || l.Size > verify.MaxBundleSize || len(out) >= verify.MaxBundles {
				continue
			}
			b, err := g.readBlob(ctx, l.Digest)
			if err != nil {
				return nil, err
			}
			if b != nil {
				out = append(out, b)
			}
		}
	}
	return out, nil
}

func (g *Gate) readBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	rc, err := g.blobs.Open(ctx, d)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, verify.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", d, err)
	}
	return b, nil
}
