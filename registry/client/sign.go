package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/types/known/structpb"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify/lineage"
)

// Signed is what Sign and Attest did.
type Signed struct {
	// Subject is the manifest the repository's reference resolved to.
	Subject ocispec.Descriptor
	// Referrer is the manifest holding the bundle, attached to Subject
	// through the referrers API.
	Referrer ocispec.Descriptor
}

// Sign resolves the repository's reference (a tag or digest) and signs
// the manifest with kp, as cosign v3 and `cairn sign` do: a Sigstore
// bundle over cosign's signature statement (attest.Sign), attached as a
// referrer (attest.Attach).
func Sign(ctx context.Context, r *Repository, kp sign.Keypair, opts sign.BundleOptions) (*Signed, error) {
	desc, err := r.resolve(ctx, "sign")
	if err != nil {
		return nil, err
	}
	bundle, err := attest.Sign(ctx, kp, desc, r.name(), opts)
	if err != nil {
		return nil, err
	}
	sig, err := attest.Attach(ctx, r.Repo, desc, attest.PredicateCosignSign, bundle)
	if err != nil {
		return nil, err
	}
	return &Signed{Subject: desc, Referrer: sig}, nil
}

// Attest resolves the repository's reference and attaches a signed
// in-toto attestation of predicateType over the manifest (attest.Attest,
// attest.Attach), as `cosign attest` and `cairn attest` do.
func Attest(ctx context.Context, r *Repository, kp sign.Keypair, predicateType string, predicate *structpb.Struct, opts sign.BundleOptions) (*Signed, error) {
	desc, err := r.resolve(ctx, "attest")
	if err != nil {
		return nil, err
	}
	bundle, err := attest.Attest(ctx, kp, desc, r.name(), predicateType, predicate, opts)
	if err != nil {
		return nil, err
	}
	att, err := attest.Attach(ctx, r.Repo, desc, predicateType, bundle)
	if err != nil {
		return nil, err
	}
	return &Signed{Subject: desc, Referrer: att}, nil
}

// Dependency resolves the repository's reference to a provenance
// dependency pinned by digest (HOST/REPO and the manifest's digest), with
// role (e.g. "dataset", "base-model"; may be empty). Its errors do not
// repeat the reference, which the caller names.
func Dependency(ctx context.Context, r *Repository, role string) (lineage.Dependency, error) {
	if r.Repo.Reference.Reference == "" {
		return lineage.Dependency{}, errors.New("name a tag or digest")
	}
	desc, err := r.Repo.Resolve(ctx, r.Repo.Reference.Reference)
	if err != nil {
		return lineage.Dependency{}, fmt.Errorf("resolve: %w", err)
	}
	return lineage.Dependency{Name: r.name(), Digest: desc.Digest, Role: role}, nil
}

// ParseDependency splits ROLE=REF, as `cairn attest --dependency` takes it:
// a prefix up to "=" without "/", ":" or "@" is the role.
func ParseDependency(arg string) (role, ref string) {
	if i := strings.IndexByte(arg, '='); i >= 0 && !strings.ContainsAny(arg[:i], "/:@") {
		return arg[:i], arg[i+1:]
	}
	return "", arg
}

// resolve resolves the repository's reference, which must name a tag or
// digest (for what: "sign", "attest").
func (r *Repository) resolve(ctx context.Context, what string) (ocispec.Descriptor, error) {
	ref := r.Repo.Reference
	if ref.Reference == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%s: name a tag or digest to %s", ref, what)
	}
	desc, err := r.Repo.Resolve(ctx, ref.Reference)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return desc, nil
}
