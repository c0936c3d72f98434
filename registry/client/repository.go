package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
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
// registries over plain HTTP and others over HTTPS verified against the
// system's roots ($SSL_CERT_FILE and $SSL_CERT_DIR replace them, as for any
// Go program; $HTTPS_PROXY and $NO_PROXY are honoured), with the
// docker-style credential store, or, for the registry a command names, the
// credential in $CAIRN_REGISTRY_USERNAME and $CAIRN_REGISTRY_PASSWORD when
// both are set (HTTPClient).
//
// Which scheme (Plain): PlainHTTP means plain HTTP; otherwise HTTPS when
// HTTPS, CAFile or Insecure is set; otherwise plain HTTP for a loopback
// registry (localhost, 127.0.0.0/8, ::1, as docker does) and HTTPS for any
// other. So `serve --tls-cert` on loopback is reached with --ca-file, or
// with an https:// prefix on the reference (WithScheme).
type Options struct {
	// PlainHTTP uses plain HTTP for any registry.
	PlainHTTP bool
	// HTTPS uses HTTPS even for a loopback registry.
	HTTPS bool
	// CAFile is a PEM file of certificate authorities trusted beside the
	// system's (a registry with a private CA); it implies HTTPS.
	CAFile string
	// Insecure skips the verification of the registry's certificate (and
	// implies HTTPS): anyone on the path can read and change the traffic.
	// The digests of what is pulled are still checked.
	Insecure bool
	// Client sends the requests; nil means a client built by HTTPClient.
	Client remote.Client
}

// Environment variables holding a registry credential for push and pull,
// used when both are set, and only for the registry the command names
// (never sent to another host a command reaches, such as a dependency's
// registry): CI jobs and containers without a credential store.
// (CAIRN_PASSWORD is the signing key's password: a separate name.)
const (
	UsernameEnv = "CAIRN_REGISTRY_USERNAME"
	PasswordEnv = "CAIRN_REGISTRY_PASSWORD"
)

// WithScheme splits an http:// or https:// prefix off a reference or host
// (docker references have none; people paste URLs) and returns the rest
// and o set to that scheme.
func (o Options) WithScheme(s string) (string, Options) {
	switch {
	case strings.HasPrefix(s, "https://"):
		o.HTTPS, o.PlainHTTP = true, false
		s = strings.TrimPrefix(s, "https://")
	case strings.HasPrefix(s, "http://"):
		o.PlainHTTP, o.HTTPS = true, false
		s = strings.TrimPrefix(s, "http://")
	}
	return strings.TrimSuffix(s, "/"), o
}

// Plain reports whether the registry at host is reached over plain HTTP:
// the rule in Options's documentation.
func (o Options) Plain(host string) bool {
	switch {
	case o.PlainHTTP:
		return true
	case o.HTTPS || o.CAFile != "" || o.Insecure:
		return false
	}
	return IsLoopback(host)
}

// BaseURL is the scheme and host of the registry at host, e.g.
// "http://127.0.0.1:5000".
func (o Options) BaseURL(host string) string {
	if o.Plain(host) {
		return "http://" + host
	}
	return "https://" + host
}

// HTTPClient returns o.Client, or a new client for the registry at host
// that retries, caches tokens, trusts CAFile (or, with Insecure, anything)
// and authenticates with the environment's credential (EnvCredential) for
// host only, and with the docker-style credential store shared with oras
// and docker for any registry.
func (o Options) HTTPClient(host string) (remote.Client, error) {
	if o.Client != nil {
		return o.Client, nil
	}
	c := DefaultClient()
	if cred, ok := EnvCredential(); ok {
		store := c.Credential
		c.Credential = func(ctx context.Context, hostport string) (auth.Credential, error) {
			if hostport == host {
				return cred, nil
			}
			if store == nil {
				return auth.EmptyCredential, nil
			}
			return store(ctx, hostport)
		}
	}
	if o.CAFile == "" && !o.Insecure {
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = o.Insecure
	tr.TLSClientConfig = cfg
	c.Client = &http.Client{Transport: retry.NewTransport(tr)}
	return c, nil
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

// EnvCredential is the credential of $CAIRN_REGISTRY_USERNAME and
// $CAIRN_REGISTRY_PASSWORD; ok is false unless both are set.
func EnvCredential() (auth.Credential, bool) {
	u, uok := os.LookupEnv(UsernameEnv)
	p, pok := os.LookupEnv(PasswordEnv)
	if !uok || !pok || u == "" {
		return auth.EmptyCredential, false
	}
	return auth.Credential{Username: u, Password: p}, true
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
	reference, o = o.WithScheme(reference)
	ref, err := registry.ParseReference(reference)
	if err != nil {
		return nil, fmt.Errorf("reference %q: %w", reference, err)
	}
	c, err := o.HTTPClient(ref.Registry)
	if err != nil {
		return nil, err
	}
	plain := o.Plain(ref.Registry)
	return &Repository{
		Repo:   &remote.Repository{Client: c, Reference: ref, PlainHTTP: plain},
		Remote: &Remote{Client: c, Base: o.BaseURL(ref.Registry), Repository: ref.Repository},
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
	if errors.Is(err, errdef.ErrNotFound) {
		return desc, nil, r.notFound(ctx, fmt.Errorf("resolve %s: %w", ref, err))
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
