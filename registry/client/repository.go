package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"

	"cairn.dev/cairn/verify"
)

// Limits on what a registry sends a client.
const (
	// MaxManifestSize bounds a manifest, as the registry does.
	MaxManifestSize = 4 << 20
	// MaxConfigSize bounds a model config.
	MaxConfigSize = 4 << 20
)

// Options say how to reach a registry. The zero value reaches loopback
// registries over plain HTTP and others over HTTPS, with the docker-style
// credential store.
type Options struct {
	// PlainHTTP uses plain HTTP for any registry; loopback registries
	// (localhost, 127.0.0.0/8, ::1) always use it, as docker does.
	PlainHTTP bool
	// Client sends the requests; nil means DefaultClient().
	Client remote.Client
}

// OutagePolicy is how DefaultClient retries: oras-go's predicate (5xx,
// 408, 429, dial timeouts, cut connections) but not 507 (the registry's
// storage is full: retrying will not help), with an exponential backoff
// from 250 ms up to 5 s between tries, 8 retries: about 23 s, so that a
// registry whose database or blob store restarts is waited for.
var OutagePolicy retry.Policy = &retry.GenericPolicy{
	Retryable: func(resp *http.Response, err error) (bool, error) {
		if err == nil && (resp.StatusCode == http.StatusInsufficientStorage || resp.StatusCode == http.StatusNotImplemented) {
			return false, nil
		}
		return retry.DefaultPredicate(resp, err)
	},
	Backoff:  retry.DefaultBackoff,
	MinWait:  200 * time.Millisecond,
	MaxWait:  5 * time.Second,
	MaxRetry: 8,
}

// DefaultClient returns an HTTP client that retries, caches tokens and
// authenticates with the docker-style credential store shared with oras
// and docker.
func DefaultClient() *auth.Client {
	c := &auth.Client{Client: &http.Client{Transport: &retry.Transport{Policy: func() retry.Policy { return OutagePolicy }}}, Cache: auth.NewCache()}
	if store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{}); err == nil {
		c.Credential = credentials.Credential(store)
	}
	c.SetUserAgent("cairn")
	return c
}

// IsLoopback reports whether host (with or without port) is this machine.
func IsLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Repository is one repository of a registry, reached both through oras-go
// (manifests, tags, referrers) and through raw distribution requests
// (resumable blob transfers), sharing one authenticating client.
type Repository struct {
	// Repo is the oras-go repository; Repo.Reference is the reference the
	// repository was opened with.
	Repo *remote.Repository
	// Remote sends the raw blob requests.
	Remote *Remote
}

// Open returns the repository of a docker-style reference
// (host[:port]/repo[:tag|@digest]).
func Open(reference string, o Options) (*Repository, error) {
	ref, err := registry.ParseReference(reference)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", reference, err)
	}
	c := o.Client
	if c == nil {
		c = DefaultClient()
	}
	plain := o.PlainHTTP || IsLoopback(ref.Registry)
	scheme := "https://"
	if plain {
		scheme = "http://"
	}
	return &Repository{
		Repo:   &remote.Repository{Client: c, Reference: ref, PlainHTTP: plain},
		Remote: &Remote{Client: c, Base: scheme + ref.Registry, Repository: ref.Repository},
	}, nil
}

// Denied reports whether err is the registry's 403: a quarantined version,
// or one its pull policy refuses.
func Denied(err error) bool {
	var er *errcode.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusForbidden
}

// FetchManifest resolves the repository's reference (a tag or digest) and
// fetches the manifest, checked against its digest and MaxManifestSize. A
// registry's refusal (403) is returned wrapping verify.ErrVerification,
// with the registry's reason.
func (r *Repository) FetchManifest(ctx context.Context) (ocispec.Descriptor, []byte, error) {
	ref := r.Repo.Reference
	if ref.Reference == "" {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: name a tag or digest", ref)
	}
	desc, err := r.Repo.Resolve(ctx, ref.Reference)
	if Denied(err) {
		// A HEAD carries no reason; the GET's error body does.
		if _, rc, gerr := r.Repo.FetchReference(ctx, ref.Reference); gerr != nil {
			err = gerr
		} else {
			rc.Close()
		}
	}
	if Denied(err) {
		return desc, nil, fmt.Errorf("%w: resolve %s: %w", verify.ErrVerification, ref, err)
	}
	if err != nil {
		return desc, nil, fmt.Errorf("resolve %s: %w", ref, err)
	}
	if desc.Size > MaxManifestSize {
		return desc, nil, fmt.Errorf("%w: %s: manifest of %d bytes exceeds %d", verify.ErrVerification, ref, desc.Size, MaxManifestSize)
	}
	b, err := r.FetchSmall(ctx, desc, MaxManifestSize)
	if Denied(err) {
		return desc, nil, fmt.Errorf("%w: fetch manifest %s: %w", verify.ErrVerification, desc.Digest, err)
	}
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, io.ErrUnexpectedEOF) {
		return desc, nil, fmt.Errorf("%w: manifest %s: %w", verify.ErrVerification, desc.Digest, err)
	}
	if err != nil {
		return desc, nil, fmt.Errorf("fetch manifest %s: %w", desc.Digest, err)
	}
	return desc, b, nil
}

// FetchSmall reads small content (a blob, or a manifest: oras-go routes by
// media type), checked against its descriptor and refused above limit.
func (r *Repository) FetchSmall(ctx context.Context, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d", desc.Digest, desc.Size, limit)
	}
	rc, err := r.Repo.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return content.ReadAll(rc, desc)
}

// ByDigest reports whether the repository's reference names a digest.
func (r *Repository) ByDigest() bool {
	return r.Repo.Reference.ValidateReferenceAsDigest() == nil
}

// Digest is the digest the reference names, or "".
func (r *Repository) Digest() digest.Digest {
	if !r.ByDigest() {
		return ""
	}
	return digest.Digest(r.Repo.Reference.Reference)
}
