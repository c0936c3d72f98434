package promote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/bundle"
)

// Limits on the graph of referrers one copy follows: anyone who may push
// to the source may attach referrers to a version.
const (
	// MaxReferrerDepth is how far referrers of referrers are followed.
	MaxReferrerDepth = bundle.MaxReferrerDepth
	// MaxReferrers is the most referrers of one manifest: as many as the
	// agent lists, so that a flood of junk referrers is copied as it is
	// (a mirror is faithful) rather than stopping the promotion.
	MaxReferrers = bundle.MaxCandidates
	// MaxNodes is the most manifests (the version and its referrers, at
	// every depth) of one copy.
	MaxNodes = 2 * bundle.MaxCandidates
)

// CopyOptions configure Copy. The zero value copies the version and all
// its referrers without a policy, three transfers at a time.
type CopyOptions struct {
	// Agent, when set, is the promotion gate: the version is copied only
	// if the agent's metadata checks accept it at the source (see the
	// package documentation).
	Agent *agent.Agent
	// Concurrency is how many blobs and manifests transfer at once; zero
	// means oras-go's default (3).
	Concurrency int
	// OnCopied, when set, is told of each blob or manifest sent (from
	// several goroutines at once).
	OnCopied func(ocispec.Descriptor)
}

// CopyResult is what Copy did.
type CopyResult struct {
	// Desc is the version's manifest, as checked and copied.
	Desc ocispec.Descriptor `json:"desc"`
	// Tag is the tag set at the destination, or "" (copied by digest).
	Tag string `json:"tag,omitempty"`
	// Receipt records the gate's checks (with CopyOptions.Agent).
	Receipt *agent.Receipt `json:"receipt,omitempty"`
	// Referrers counts the referrer manifests found at the source, at
	// every depth.
	Referrers int `json:"referrers"`
	// Copied counts the blobs and manifests sent, Mounted those mounted
	// from the source repository, Skipped those the destination had
	// (whole sub-graphs count once: the manifest at their root).
	Copied  int `json:"copied"`
	Mounted int `json:"mounted"`
	Skipped int `json:"skipped"`
	// Bytes counts the bytes sent.
	Bytes int64 `json:"bytes"`
}

// Copy copies the version src's reference names, with every referrer, to
// dst; dst's reference names the destination tag (without one, the
// source's tag, if any; with a digest, it must be the source's). See the
// package documentation for what is checked. A refusal of the gate
// wraps verify.ErrVerification and nothing is written to dst; so does a
// blob or manifest of the source that does not match its digest (then
// the version is not tagged at dst, and what was copied before the
// mismatch stays there, as content no tag names).
func Copy(ctx context.Context, src, dst *client.Repository, o CopyOptions) (*CopyResult, error) {
	res := &CopyResult{}
	if o.Agent != nil {
		res.Receipt = &agent.Receipt{}
		t, err := client.LoadTarget(ctx, src)
		if err != nil {
			return res, err
		}
		if err := client.AddTransparency(ctx, src, t, o.Agent, res.Receipt); err != nil {
			return res, err
		}
		if _, err := o.Agent.CheckMetadata(t, res.Receipt); err != nil {
			return res, err
		}
		res.Receipt.Verified = true
		res.Desc = t.Desc
	} else {
		desc, err := src.Repo.Resolve(ctx, src.Repo.Reference.Reference)
		if err != nil {
			return res, fmt.Errorf("%s: %w", src.Repo.Reference, err)
		}
		res.Desc = desc
	}
	tag, err := destinationTag(src, dst, res)
	if err != nil {
		return res, err
	}
	res.Tag = tag

	g := &graph{repo: src.Repo}
	opts := oras.ExtendedCopyGraphOptions{Depth: MaxReferrerDepth, FindPredecessors: g.predecessors}
	opts.Concurrency = o.Concurrency
	var copied, mounted, skipped atomic.Int64
	var bytes atomic.Int64
	opts.PostCopy = func(_ context.Context, d ocispec.Descriptor) error {
		copied.Add(1)
		bytes.Add(d.Size)
		if o.OnCopied != nil {
			o.OnCopied(d)
		}
		return nil
	}
	opts.OnMounted = func(context.Context, ocispec.Descriptor) error { mounted.Add(1); return nil }
	opts.OnCopySkipped = func(context.Context, ocispec.Descriptor) error { skipped.Add(1); return nil }
	if src.Remote.Base == dst.Remote.Base && src.Repo.Reference.Repository != dst.Repo.Reference.Repository {
		from := src.Repo.Reference.Repository
		opts.MountFrom = func(context.Context, ocispec.Descriptor) ([]string, error) { return []string{from}, nil }
	}
	// On a registry without the referrers API, pushing a referrer rewrites
	// the referrers tag's index and then deletes the old one; registries
	// commonly refuse deletes (distribution does by default), and a copy
	// must not need them: the old index is left for the registry's GC.
	dst.Repo.SkipReferrersGC = true
	err = oras.ExtendedCopyGraph(ctx, g, dst.Repo, res.Desc, opts)
	res.Copied, res.Mounted, res.Skipped, res.Bytes = int(copied.Load()), int(mounted.Load()), int(skipped.Load()), bytes.Load()
	res.Referrers = g.referrers()
	if err != nil {
		err = verifyErr(err)
		return res, fmt.Errorf("copy %s@%s to %s: %w", src.Repo.Reference.Repository, res.Desc.Digest, dst.Repo.Reference.Registry+"/"+dst.Repo.Reference.Repository, err)
	}
	if tag != "" {
		if err := dst.Repo.Tag(ctx, res.Desc, tag); err != nil {
			return res, fmt.Errorf("tag %s: %w", tag, err)
		}
	}
	return res, nil
}

// destinationTag is the tag the copy sets at dst.
func destinationTag(src, dst *client.Repository, res *CopyResult) (string, error) {
	if dst.ByDigest() {
		if dst.Digest() != res.Desc.Digest {
			return "", fmt.Errorf("%w: %s names %s, the source is %s", ErrDestination, dst.Repo.Reference, dst.Digest(), res.Desc.Digest)
		}
		return "", nil
	}
	if dst.Repo.Reference.Reference != "" {
		return dst.Repo.Reference.Reference, nil
	}
	if !src.ByDigest() {
		return src.Repo.Reference.Reference, nil
	}
	return "", nil
}

// graph is the source as ExtendedCopyGraph reads it: every read is
// checked against its descriptor as it streams, and the referrers listed
// are bounded.
type graph struct {
	repo  *remote.Repository
	nodes atomic.Int64
	mu    sync.Mutex
	seen  map[digest.Digest]ocispec.Descriptor // the referrers listed
	order []digest.Digest
}

func (g *graph) referrers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

// listed returns the referrers listed, in the order they were found.
func (g *graph) listed() []ocispec.Descriptor {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]ocispec.Descriptor, len(g.order))
	for i, d := range g.order {
		out[i] = g.seen[d]
	}
	return out
}

func (g *graph) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := g.repo.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return newVerifyingReader(rc, desc)
}

func (g *graph) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	return g.repo.Exists(ctx, desc)
}

func (g *graph) Predecessors(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return g.predecessors(ctx, g, desc)
}

// errTooMany stops a referrers listing.
var errTooMany = errors.New("too many")

// predecessors lists desc's referrers, at most MaxReferrers, and counts
// the manifests of the graph against MaxNodes.
func (g *graph) predecessors(ctx context.Context, _ content.ReadOnlyGraphStorage, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if n := g.nodes.Add(1); n > MaxNodes {
		return nil, fmt.Errorf("%w: more than %d manifests in the graph of referrers", ErrTooManyReferrers, MaxNodes)
	}
	var out []ocispec.Descriptor
	err := g.repo.Referrers(ctx, desc, "", func(page []ocispec.Descriptor) error {
		out = append(out, page...)
		if len(out) > MaxReferrers {
			return errTooMany
		}
		return nil
	})
	if errors.Is(err, errTooMany) {
		return nil, fmt.Errorf("%w: %s has more than %d", ErrTooManyReferrers, desc.Digest, MaxReferrers)
	}
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", desc.Digest, err)
	}
	g.mu.Lock()
	if g.seen == nil {
		g.seen = map[digest.Digest]ocispec.Descriptor{}
	}
	for _, d := range out {
		if _, ok := g.seen[d.Digest]; !ok {
			g.seen[d.Digest] = d
			g.order = append(g.order, d.Digest)
		}
	}
	g.mu.Unlock()
	return out, nil
}

// verifyingReader checks what it reads against its descriptor: more
// bytes than the size fail at once, and at the end a short read or
// another digest is the error instead of io.EOF, so the upload it feeds
// fails instead of completing. The hashing runs in its own goroutine, on
// copies of the bytes read, so that it overlaps the network transfer
// instead of adding to it.
type verifyingReader struct {
	r    io.Reader
	c    io.Closer
	desc ocispec.Descriptor
	n    int64
	err  error

	ch   chan []byte
	sum  chan digest.Digest
	once sync.Once
}

// hashBuffers is how many chunks read may wait for the hasher.
const hashBuffers = 16

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func newVerifyingReader(rc io.ReadCloser, desc ocispec.Descriptor) (*verifyingReader, error) {
	if err := desc.Digest.Validate(); err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", desc.Digest, err)
	}
	v := &verifyingReader{r: rc, c: rc, desc: desc, ch: make(chan []byte, hashBuffers), sum: make(chan digest.Digest, 1)}
	go func() {
		h := desc.Digest.Algorithm().Hash()
		for b := range v.ch {
			h.Write(b)
			b = b[:0]
			chunkPool.Put(&b)
		}
		v.sum <- digest.NewDigest(desc.Digest.Algorithm(), h)
	}()
	return v, nil
}

func (v *verifyingReader) finish() { v.once.Do(func() { close(v.ch) }) }

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	if v.n > v.desc.Size {
		v.finish()
		v.err = fmt.Errorf("%s: more than %d bytes: %w", v.desc.Digest, v.desc.Size, content.ErrTrailingData)
		return 0, v.err
	}
	if n > 0 {
		bp := chunkPool.Get().(*[]byte)
		v.ch <- append((*bp)[:0], p[:n]...)
	}
	if err == io.EOF {
		v.finish()
		got := <-v.sum
		switch {
		case v.n < v.desc.Size:
			err = fmt.Errorf("%s: %d of %d bytes: %w", v.desc.Digest, v.n, v.desc.Size, io.ErrUnexpectedEOF)
		case got != v.desc.Digest:
			err = fmt.Errorf("%s: the content is %s: %w", v.desc.Digest, got, content.ErrMismatchedDigest)
		}
		v.err = err
	} else if err != nil {
		v.finish()
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) Close() error {
	v.finish()
	return v.c.Close()
}

// verifyErr makes a digest mismatch of the source a failed check: the
// source served other bytes than its manifests name.
func verifyErr(err error) error {
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, content.ErrTrailingData) {
		return fmt.Errorf("%w: %w", verify.ErrVerification, err)
	}
	return err
}
