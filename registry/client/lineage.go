package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/lineage"
)

// Lineage is what a model was built from and what was built from it.
type Lineage struct {
	// BuiltFrom are the OCI dependencies named by the model's own SLSA
	// provenance attestations.
	BuiltFrom []LineageEdge `json:"builtFrom"`
	// BuiltInto are the models whose provenance names this one. It needs
	// the registry's lineage index: on other registries it is null and
	// BuiltIntoUnknown is true.
	BuiltInto        []LineageEdge `json:"builtInto"`
	BuiltIntoUnknown bool          `json:"builtIntoUnknown,omitempty"`
}

// LineageEdge is one artifact at the other end of a provenance edge.
type LineageEdge struct {
	// Reference is NAME@DIGEST of the artifact.
	Reference string        `json:"reference"`
	Name      string        `json:"name"`
	Digest    digest.Digest `json:"digest"`
	Role      string        `json:"role,omitempty"`
	// Attestation is the referrer manifest holding the provenance.
	Attestation digest.Digest `json:"attestation"`
	// SignedBy names who signed the provenance, when a Trust was given and
	// the attestation verified with it; empty means its signature was not
	// checked (or, with Checked, failed).
	SignedBy string `json:"signedBy,omitempty"`
	Checked  bool   `json:"checked"`
}

// FetchLineage gathers the lineage of desc in the repository: built-from
// edges from its own provenance bundles (attest.CollectBundles), and
// built-into edges from the registry's lineage endpoint (cairn only). With
// trust, each edge says whether a trusted signer signed its provenance: a
// built-into edge only when that provenance is of the other model and
// names this one.
func FetchLineage(ctx context.Context, r *Repository, desc ocispec.Descriptor, trust *verify.Trust) (*Lineage, error) {
	li := &Lineage{BuiltFrom: []LineageEdge{}}
	bundles, err := attest.CollectBundles(ctx, r.Repo, desc)
	if err != nil {
		return nil, err
	}
	signers := map[int]string{}
	if trust != nil && len(bundles) > 0 {
		ok, _, err := verify.Bundles(desc, attest.BundleData(bundles), *trust)
		if err != nil {
			return nil, err
		}
		for _, s := range ok {
			signers[s.Index] = s.Signer
		}
	}
	for i, b := range bundles {
		deps, err := lineage.FromBundle(b.Data)
		if err != nil {
			continue // not provenance
		}
		for _, d := range deps {
			li.BuiltFrom = append(li.BuiltFrom, LineageEdge{Reference: d.Reference(), Name: d.Name, Digest: d.Digest, Role: d.Role,
				Attestation: b.Referrer.Digest, SignedBy: signers[i], Checked: trust != nil})
		}
	}

	body, ok, err := r.extension(ctx, "lineage?digest="+url.QueryEscape(desc.Digest.String()), MaxLineageResponse)
	if err != nil {
		return nil, err
	}
	if !ok {
		li.BuiltIntoUnknown = true
		return li, nil
	}
	var l registry.Lineage
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("decode lineage: %w", err)
	}
	li.BuiltInto = []LineageEdge{}
	for _, e := range l.BuiltInto {
		if e.Digest.Validate() != nil || e.Attestation.Validate() != nil {
			return nil, errors.New("lineage: the registry answered an invalid digest")
		}
		name := r.Repo.Reference.Registry + "/" + e.Repository
		edge := LineageEdge{Reference: name + "@" + e.Digest.String(), Name: name, Digest: e.Digest, Role: e.Role, Attestation: e.Attestation, Checked: trust != nil}
		if trust != nil {
			edge.SignedBy = verifyEdge(ctx, r, e, *trust)
		}
		li.BuiltInto = append(li.BuiltInto, edge)
	}
	return li, nil
}

// verifyEdge checks that the attestation behind a built-into edge is
// provenance of e.Digest, signed by a trusted signer, naming the model as
// a dependency; it returns the signer, or "" when any of that fails.
func verifyEdge(ctx context.Context, r *Repository, e registry.LineageEdge, trust verify.Trust) string {
	ref := r.Repo.Reference
	ref.Repository, ref.Reference = e.Repository, e.Digest.String()
	if ref.Validate() != nil {
		return ""
	}
	repo := r.sibling(e.Repository, e.Digest.String())
	subject, err := repo.Repo.Resolve(ctx, e.Digest.String())
	if err != nil {
		return ""
	}
	bundles, err := attest.CollectBundles(ctx, repo.Repo, subject)
	if err != nil {
		return ""
	}
	for _, b := range bundles {
		if b.Referrer.Digest != e.Attestation {
			continue
		}
		ok, _, err := verify.Bundles(subject, [][]byte{b.Data}, trust)
		if err != nil || len(ok) == 0 {
			return ""
		}
		return ok[0].Signer
	}
	return ""
}
