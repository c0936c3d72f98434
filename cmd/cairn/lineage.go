package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/lineage"
)

// maxLineageResponse bounds the registry's lineage answer.
const maxLineageResponse = 16 << 20

// lineageInfo is what a model was built from and what was built from it.
type lineageInfo struct {
	// BuiltFrom are the OCI dependencies named by the model's own SLSA
	// provenance attestations.
	BuiltFrom []lineageEdge `json:"builtFrom"`
	// BuiltInto are the models whose provenance names this one. It needs
	// the registry's lineage index: on other registries it is null and
	// BuiltIntoUnknown is true.
	BuiltInto        []lineageEdge `json:"builtInto"`
	BuiltIntoUnknown bool          `json:"builtIntoUnknown,omitempty"`
}

// lineageEdge is one artifact at the other end of a provenance edge.
type lineageEdge struct {
	// Reference is NAME@DIGEST of the artifact.
	Reference string        `json:"reference"`
	Name      string        `json:"name"`
	Digest    digest.Digest `json:"digest"`
	Role      string        `json:"role,omitempty"`
	// Attestation is the referrer manifest holding the provenance.
	Attestation digest.Digest `json:"attestation"`
	// SignedBy names who signed the provenance, when inspect was given
	// keys or identities and the attestation verified with one; empty
	// means its signature was not checked (or, with Checked, failed).
	SignedBy string `json:"signedBy,omitempty"`
	Checked  bool   `json:"checked"`
}

// inspectLineage gathers the lineage of desc: built-from edges from its own
// provenance bundles (verified against trust when trust has signers), and
// built-into edges from the registry's lineage endpoint.
func inspectLineage(ctx context.Context, ro *remoteOptions, repo *remote.Repository, desc ocispec.Descriptor, trust *verify.Trust) (*lineageInfo, error) {
	li := &lineageInfo{BuiltFrom: []lineageEdge{}}
	bundles, err := attest.CollectBundles(ctx, repo, desc)
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
			li.BuiltFrom = append(li.BuiltFrom, lineageEdge{Reference: d.Reference(), Name: d.Name, Digest: d.Digest, Role: d.Role,
				Attestation: b.Referrer.Digest, SignedBy: signers[i], Checked: trust != nil})
		}
	}

	body, ok, err := getExtension(ctx, ro, repo, "lineage?digest="+url.QueryEscape(desc.Digest.String()), maxLineageResponse)
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
	li.BuiltInto = []lineageEdge{}
	for _, e := range l.BuiltInto {
		if e.Digest.Validate() != nil || e.Attestation.Validate() != nil {
			return nil, errors.New("lineage: the registry answered an invalid digest")
		}
		name := repo.Reference.Registry + "/" + e.Repository
		edge := lineageEdge{Reference: name + "@" + e.Digest.String(), Name: name, Digest: e.Digest, Role: e.Role, Attestation: e.Attestation, Checked: trust != nil}
		if trust != nil {
			edge.SignedBy = verifyEdge(ctx, ro, name, e, *trust)
		}
		li.BuiltInto = append(li.BuiltInto, edge)
	}
	return li, nil
}

// verifyEdge checks that the attestation behind a built-into edge is
// provenance of e.Digest, signed by a trusted signer, naming the model as
// a dependency; it returns the signer, or "" when any of that fails.
func verifyEdge(ctx context.Context, ro *remoteOptions, name string, e registry.LineageEdge, trust verify.Trust) string {
	repo, _, err := ro.repository(name + "@" + e.Digest.String())
	if err != nil {
		return ""
	}
	subject, err := repo.Resolve(ctx, e.Digest.String())
	if err != nil {
		return ""
	}
	bundles, err := attest.CollectBundles(ctx, repo, subject)
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

func printLineage(w io.Writer, li *lineageInfo) error {
	if li == nil {
		return nil
	}
	fmt.Fprintf(w, "\nLineage:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(dir string, e lineageEdge) {
		sig := "signature not checked (give --key)"
		switch {
		case e.SignedBy != "":
			sig = "signed by " + clean(e.SignedBy)
		case e.Checked:
			sig = "NOT signed by a trusted signer"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", dir, orDash(clean(e.Role)), clean(e.Reference), sig)
	}
	for _, e := range li.BuiltFrom {
		row("built from", e)
	}
	for _, e := range li.BuiltInto {
		row("built into", e)
	}
	if len(li.BuiltFrom) == 0 {
		fmt.Fprintln(tw, "  built from\t-\tno provenance names a dependency")
	}
	switch {
	case li.BuiltIntoUnknown:
		fmt.Fprintln(tw, "  built into\t?\tthe registry keeps no lineage index")
	case len(li.BuiltInto) == 0:
		fmt.Fprintln(tw, "  built into\t-\tnothing in this registry names it")
	}
	return tw.Flush()
}
