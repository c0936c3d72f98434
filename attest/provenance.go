package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	provv1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/lineage"
)

// PredicateSLSAProvenance is the predicate type of SLSA provenance v1.
const PredicateSLSAProvenance = verify.PredicateSLSAProvenance

// PredicateAliases are the short names cosign gives predicate types
// (cosign attest --type).
var PredicateAliases = map[string]string{
	"slsaprovenance1": PredicateSLSAProvenance,
	"slsaprovenance":  lineage.PredicateSLSAProvenanceV02,
	"spdxjson":        "https://spdx.dev/Document",
	"cyclonedx":       "https://cyclonedx.org/bom",
	"vuln":            "https://cosign.sigstore.dev/attestation/vuln/v1",
	"custom":          "https://cosign.sigstore.dev/attestation/v1",
}

// PredicateType returns the predicate type a name stands for: one of
// PredicateAliases, or a URI as it is; anything else is an error.
func PredicateType(name string) (string, error) {
	t := name
	if full, ok := PredicateAliases[name]; ok {
		t = full
	}
	if !strings.Contains(t, ":") {
		return "", fmt.Errorf("%q: not a URI nor a known short name", name)
	}
	return t, nil
}

// DefaultBuildType is the buildType Provenance writes when none is given.
const DefaultBuildType = "https://cairn.dev/build/model/v1"

// MaxPredicateSize is the largest predicate file ParsePredicate reads.
// Statements are signed whole into one bundle, which must stay under
// verify.MaxBundleSize after base64.
const MaxPredicateSize = 1 << 20

// BuildInfo describes how a model was made, for Provenance.
type BuildInfo struct {
	// BuilderID names the build platform (runDetails.builder.id). Required.
	BuilderID string
	// BuildType says how to read ExternalParameters; DefaultBuildType when
	// empty.
	BuildType string
	// ExternalParameters are the inputs a user chose (hyperparameters,
	// the training recipe). SLSA requires at least one; Provenance records
	// {"builder": BuilderID} when there are none.
	ExternalParameters map[string]any
	// Dependencies are the OCI artifacts the build consumed: datasets and
	// the base model. They become resolvedDependencies with uri
	// oci://NAME@DIGEST, which is what lineage is read from.
	Dependencies []lineage.Dependency
	// InvocationID, StartedOn and FinishedOn go to runDetails.metadata
	// when set.
	InvocationID          string
	StartedOn, FinishedOn time.Time
}

// Provenance returns an SLSA provenance v1 predicate for b.
func Provenance(b BuildInfo) (*structpb.Struct, error) {
	if b.BuilderID == "" {
		return nil, errors.New("provenance: a builder id is required")
	}
	if b.BuildType == "" {
		b.BuildType = DefaultBuildType
	}
	params := b.ExternalParameters
	if len(params) == 0 {
		params = map[string]any{"builder": b.BuilderID}
	}
	deps := make([]any, 0, len(b.Dependencies))
	for _, d := range b.Dependencies {
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("provenance: dependency %s: %w", d.Name, err)
		}
		rd := map[string]any{
			"uri":    "oci://" + d.Name + "@" + d.Digest.String(),
			"digest": map[string]any{d.Digest.Algorithm().String(): d.Digest.Encoded()},
		}
		if d.Role != "" {
			rd["name"] = d.Role
		}
		deps = append(deps, rd)
	}
	run := map[string]any{"builder": map[string]any{"id": b.BuilderID}}
	meta := map[string]any{}
	if b.InvocationID != "" {
		meta["invocationId"] = b.InvocationID
	}
	if !b.StartedOn.IsZero() {
		meta["startedOn"] = b.StartedOn.UTC().Format(time.RFC3339)
	}
	if !b.FinishedOn.IsZero() {
		meta["finishedOn"] = b.FinishedOn.UTC().Format(time.RFC3339)
	}
	if len(meta) > 0 {
		run["metadata"] = meta
	}
	pred := map[string]any{
		"buildDefinition": map[string]any{
			"buildType":            b.BuildType,
			"externalParameters":   params,
			"resolvedDependencies": deps,
		},
		"runDetails": run,
	}
	raw, err := json.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return ParsePredicate(raw, PredicateSLSAProvenance)
}

// ParsePredicate reads a predicate (a JSON object) of predicateType,
// refusing one larger than MaxPredicateSize. SLSA provenance v1 must also
// be valid provenance: a buildType, external parameters and a builder id,
// and well-formed resource descriptors.
func ParsePredicate(data []byte, predicateType string) (*structpb.Struct, error) {
	if len(data) > MaxPredicateSize {
		return nil, fmt.Errorf("predicate of %d bytes exceeds the %d-byte limit", len(data), MaxPredicateSize)
	}
	if !json.Valid(data) || !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return nil, errors.New("predicate is not a JSON object")
	}
	if predicateType == PredicateSLSAProvenance {
		var p provv1.Provenance
		if err := (protojson.UnmarshalOptions{}).Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("not SLSA provenance v1: %w", err)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("not valid SLSA provenance v1: %w", err)
		}
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	return &s, nil
}

// Attest signs an attestation about subject (a model manifest in
// repository name): an in-toto statement with predicateType and predicate,
// in a bundle, as SignStatement.
func Attest(ctx context.Context, kp sign.Keypair, subject ocispec.Descriptor, name, predicateType string, predicate *structpb.Struct, opts sign.BundleOptions) ([]byte, error) {
	if predicateType == "" {
		return nil, errors.New("attest: a predicate type is required")
	}
	st, err := Statement(subject, name, predicateType, predicate)
	if err != nil {
		return nil, err
	}
	return SignStatement(ctx, kp, st, opts)
}
