package promote

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/tlogproof"
)

// ImportOptions configure Import. The zero value checks the digests only.
type ImportOptions struct {
	// Agent, when set, checks every version of the layout (see Import)
	// before anything is pushed.
	Agent *agent.Agent
	// Client reaches the destination registry.
	Client client.Options
	// Concurrency is how many blobs are pushed at once; zero means 3.
	Concurrency int
}

// ImportResult is what Import did.
type ImportResult struct {
	// Versions are the references pushed, HOST/NAMESPACE/REPO:TAG.
	Versions []string `json:"versions"`
	// Receipts record the checks of each version (with an Agent).
	Receipts []*agent.Receipt `json:"receipts,omitempty"`
	// Copied counts the blobs and manifests pushed, Skipped those the
	// destination had, Bytes the bytes pushed.
	Copied  int   `json:"copied"`
	Skipped int   `json:"skipped"`
	Bytes   int64 `json:"bytes"`
}

// Import pushes the versions of l (ReadLayout: every digest already
// checked), with their referrers, under dst, a registry and namespace
// (HOST/NAMESPACE): a version exported from HOST/REPO:TAG becomes
// dst/REPO:TAG.
//
// With ImportOptions.Agent, every version is checked first, and nothing
// is pushed unless all pass: the agent's metadata checks
// (agent.Agent.CheckMetadata: the policy rule of the version's source
// repository, as AnnotationSource names it, its digest pinning,
// signatures, attestations and age over the bundles of the layout, as
// attest.CollectBundles finds them), and, under a rule that says
// transparency: required, the checkpoint and inclusion proof the export
// carried, checked offline against the rule's or the pinned log key. A
// refusal wraps verify.ErrVerification.
func Import(ctx context.Context, l *Layout, dst string, o ImportOptions) (*ImportResult, error) {
	res := &ImportResult{}
	type version struct {
		desc ocispec.Descriptor
		src  registry.Reference
		to   *client.Repository
	}
	var versions []version
	for _, e := range l.Index.Manifests {
		source, ok := e.Annotations[AnnotationSource]
		if !ok {
			continue // a referrer
		}
		ref, err := registry.ParseReference(source)
		if err != nil {
			return res, fmt.Errorf("%w: %s %q: %w", ErrLayout, AnnotationSource, source, err)
		}
		if ref.ValidateReferenceAsDigest() == nil && ref.Reference != e.Digest.String() {
			return res, fmt.Errorf("%w: %s names %s, the entry is %s", ErrLayout, source, ref.Reference, e.Digest)
		}
		to := strings.TrimSuffix(dst, "/") + "/" + ref.Repository
		if ref.ValidateReferenceAsDigest() == nil {
			to += "@" + ref.Reference
		} else {
			to += ":" + ref.Reference
		}
		r, err := client.Open(to, o.Client)
		if err != nil {
			return res, err
		}
		versions = append(versions, version{desc: e, src: ref, to: r})
	}
	if len(versions) == 0 {
		return res, fmt.Errorf("%w: no version (no entry of index.json has %s)", ErrLayout, AnnotationSource)
	}
	if o.Agent != nil {
		for _, v := range versions {
			rc := &agent.Receipt{}
			res.Receipts = append(res.Receipts, rc)
			t, err := layoutTarget(ctx, l, v.desc, v.src)
			if err != nil {
				return res, rc.Fail("reference", err)
			}
			if _, err := o.Agent.CheckMetadata(t, rc); err != nil {
				return res, err
			}
			rc.Verified = true
		}
	}
	var copied, skipped, bytes atomic.Int64
	defer func() { res.Copied, res.Skipped, res.Bytes = int(copied.Load()), int(skipped.Load()), bytes.Load() }()
	for _, v := range versions {
		opts := oras.ExtendedCopyGraphOptions{Depth: MaxReferrerDepth}
		opts.Concurrency = o.Concurrency
		opts.PostCopy = func(_ context.Context, d ocispec.Descriptor) error {
			copied.Add(1)
			bytes.Add(d.Size)
			return nil
		}
		opts.OnCopySkipped = func(context.Context, ocispec.Descriptor) error { skipped.Add(1); return nil }
		v.to.Repo.SkipReferrersGC = true // as in Copy: no delete needed
		if err := oras.ExtendedCopyGraph(ctx, l, v.to.Repo, v.desc, opts); err != nil {
			return res, fmt.Errorf("import %s: %w", v.to.Repo.Reference, err)
		}
		if !v.to.ByDigest() {
			if err := v.to.Repo.Tag(ctx, v.desc, v.to.Repo.Reference.Reference); err != nil {
				return res, fmt.Errorf("tag %s: %w", v.to.Repo.Reference, err)
			}
		}
		res.Versions = append(res.Versions, v.to.Repo.Reference.String())
	}
	return res, nil
}

// layoutTarget is the version desc of l as the agent checks it, under the
// name of its source.
func layoutTarget(ctx context.Context, l *Layout, desc ocispec.Descriptor, src registry.Reference) (*agent.Target, error) {
	manifest, err := l.readAll(desc)
	if err != nil {
		return nil, err
	}
	_, files, err := model.Files(manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", verify.ErrVerification, src, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: manifest: %w", verify.ErrVerification, src, err)
	}
	if m.Config.Size > client.MaxConfigSize {
		return nil, fmt.Errorf("%w: %s: config of %d bytes", verify.ErrVerification, src, m.Config.Size)
	}
	config, err := l.readAll(m.Config)
	if err != nil {
		return nil, err
	}
	bundles, err := attest.CollectBundles(ctx, l, desc)
	if err != nil {
		return nil, err
	}
	t := &agent.Target{
		Reference: src.String(), Registry: src.Registry, Repository: src.Repository,
		Desc: desc, Manifest: manifest, Config: config, Files: files, Bundles: bundles,
	}
	t.Desc.Annotations = nil
	if src.ValidateReferenceAsDigest() == nil {
		t.ByDigest = true
	} else {
		t.Tag = src.Reference
	}
	cp, inc := desc.Annotations[AnnotationCheckpoint], desc.Annotations[AnnotationInclusion]
	if cp != "" && inc != "" {
		ev := &tlogproof.Evidence{}
		if ev.Checkpoint, err = l.blob(cp, tlogproof.MaxInclusionSize); err != nil {
			return nil, err
		}
		b, err := l.blob(inc, tlogproof.MaxInclusionSize)
		if err != nil {
			return nil, err
		}
		if err := ev.ParseInclusion(b); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", verify.ErrVerification, src, err)
		}
		t.Transparency = ev
	}
	return t, nil
}

// blob reads the blob of the layout named by digest s, at most limit
// bytes.
func (l *Layout) blob(s string, limit int64) ([]byte, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrLayout, s, err)
	}
	sec, ok := l.blobs[d]
	if !ok || sec.size > limit {
		return nil, fmt.Errorf("%w: blob %s absent or over %d bytes", ErrLayout, d, limit)
	}
	return l.readAll(ocispec.Descriptor{Digest: d, Size: sec.size})
}
