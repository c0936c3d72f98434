package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/model"
)

// Inspection is what a model in a registry declares: its manifest, config,
// files, referrers and lineage. It is the JSON of `cairn inspect --json`.
type Inspection struct {
	// Reference is the reference inspected.
	Reference    string            `json:"reference"`
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Config is the config blob's descriptor.
	Config ocispec.Descriptor `json:"config"`
	// Model holds the ModelPack config's descriptor and config sections as
	// the producer wrote them; absent for other config types.
	Model *ModelInfo `json:"model,omitempty"`
	Files []FileInfo `json:"files"`
	// TotalSize is the sum of the files' sizes.
	TotalSize int64 `json:"totalSize"`
	// Referrers are at most agent.MaxRecordedReferrers referrers, sorted
	// by kind, artifact type and digest; ReferrersTruncated says there
	// were more.
	Referrers          []Referrer `json:"referrers"`
	ReferrersTruncated bool       `json:"referrersTruncated,omitempty"`
	// Lineage holds the datasets and base models this model was made from,
	// read from its SLSA provenance (resolvedDependencies), and the models
	// whose provenance names it.
	Lineage *Lineage `json:"lineage"`
}

// ModelInfo is a ModelPack config's descriptor (name, version, family,
// authors, licenses...) and config (architecture, format, paramSize,
// precision, quantization...) sections, every field kept (numbers as
// json.Number).
type ModelInfo struct {
	Descriptor map[string]any `json:"descriptor,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
}

// FileInfo is one file (or archive layer) of a model, as its manifest
// declares it.
type FileInfo struct {
	// Path is "" for an archive layer, whose entries carry the paths; Name
	// then is the layer's name, if it has one.
	Path      string        `json:"path"`
	Name      string        `json:"name,omitempty"`
	Archive   bool          `json:"archive,omitempty"`
	Kind      model.Kind    `json:"kind"`
	Mode      string        `json:"mode"`
	Size      int64         `json:"size"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
}

// Label names a file in listings and diffs: its path, or for an archive
// layer "[archive] NAME", NAME defaulting to the short digest and quoted
// when it holds non-printing characters.
func (f FileInfo) Label() string {
	if !f.Archive {
		return f.Path
	}
	name := f.Name
	if name == "" {
		name = shortDigest(f.Digest)
	}
	return "[archive] " + printable(name)
}

// Referrer is one referrer of a model.
type Referrer struct {
	// Kind is "signature" or "attestation" for Sigstore bundles and other
	// signature types, "" otherwise.
	Kind          string        `json:"kind,omitempty"`
	ArtifactType  string        `json:"artifactType"`
	PredicateType string        `json:"predicateType,omitempty"`
	Digest        digest.Digest `json:"digest"`
	Size          int64         `json:"size"`
}

// InspectOptions configure Inspect. The zero value checks no signature.
type InspectOptions struct {
	// Trust, when set, is what the provenance behind each lineage edge is
	// verified against (LineageEdge.SignedBy); nil shows the edges as
	// claims whose signatures were not checked.
	Trust *verify.Trust
}

// Inspect resolves the repository's reference and gathers what the model
// declares. The manifest and config are checked against their digests;
// files are not fetched. A manifest or config that is not a model's is a
// *ModelError (a refusal: it wraps verify.ErrVerification), as is the
// registry's refusal to serve the manifest.
func Inspect(ctx context.Context, r *Repository, o InspectOptions) (*Inspection, error) {
	ref := r.Repo.Reference.String()
	if r.Repo.Reference.Reference == "" {
		return nil, fmt.Errorf("%s: name a tag or digest to inspect", ref)
	}
	desc, manifest, err := r.FetchManifest(ctx)
	if err != nil {
		return nil, err
	}
	artifactType, files, err := model.Files(manifest)
	if err != nil {
		return nil, &ModelError{Ref: ref, Err: err}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, &ModelError{Ref: ref, Err: fmt.Errorf("manifest: %w", err)}
	}
	res := &Inspection{
		Reference: ref, Digest: desc.Digest, MediaType: desc.MediaType, ArtifactType: artifactType,
		Annotations: m.Annotations, Config: m.Config, Files: make([]FileInfo, 0, len(files)),
	}
	if m.Config.MediaType == model.MediaTypeConfig || m.Config.MediaType == model.LegacyMediaTypeConfig {
		config, err := r.FetchSmall(ctx, m.Config, MaxConfigSize)
		if err != nil {
			return nil, fmt.Errorf("%s: config: %w", ref, err)
		}
		if res.Model, err = parseModelConfig(config); err != nil {
			return nil, &ModelError{Ref: ref, Err: fmt.Errorf("config %s: %w", m.Config.Digest, err)}
		}
	}
	for _, f := range files {
		res.Files = append(res.Files, fileInfo(f))
		res.TotalSize += f.Desc.Size
	}
	if res.Referrers, res.ReferrersTruncated, err = referrers(ctx, r, desc); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if res.Lineage, err = FetchLineage(ctx, r, desc, o.Trust); err != nil {
		return nil, fmt.Errorf("%s: lineage: %w", ref, err)
	}
	return res, nil
}

// fileInfo describes a file of model.Files.
func fileInfo(f model.File) FileInfo {
	return FileInfo{
		Path: f.Path, Name: archiveName(f), Archive: f.Archive, Kind: f.Kind, Mode: fmt.Sprintf("%#o", f.Mode.Perm()),
		Size: f.Desc.Size, Digest: f.Desc.Digest, MediaType: f.Desc.MediaType,
	}
}

// parseModelConfig reads the descriptor and config sections of a ModelPack
// config, keeping every field (cairn writes a few, other producers more).
func parseModelConfig(b []byte) (*ModelInfo, error) {
	var raw struct {
		Descriptor json.RawMessage `json:"descriptor"`
		Config     json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	mi := &ModelInfo{}
	for _, s := range []struct {
		raw json.RawMessage
		dst *map[string]any
	}{{raw.Descriptor, &mi.Descriptor}, {raw.Config, &mi.Config}} {
		if len(s.raw) == 0 || string(s.raw) == "null" {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(s.raw))
		dec.UseNumber()
		if err := dec.Decode(s.dst); err != nil {
			return nil, err
		}
	}
	return mi, nil
}

// archiveName names an archive layer by its path annotation or title, if
// any.
func archiveName(f model.File) string {
	if !f.Archive {
		return ""
	}
	for _, k := range []string{model.AnnotationFilepath, model.LegacyAnnotationFilepath, ocispec.AnnotationTitle} {
		if v := f.Desc.Annotations[k]; v != "" {
			return v
		}
	}
	return ""
}

// referrers lists the referrers of desc, at most agent.MaxRecordedReferrers.
func referrers(ctx context.Context, r *Repository, desc ocispec.Descriptor) ([]Referrer, bool, error) {
	refs, truncated, err := listReferrers(ctx, r.Repo, desc)
	if err != nil {
		return nil, false, err
	}
	out := make([]Referrer, 0, len(refs))
	for _, r := range refs {
		pt := r.Annotations[attest.AnnotationPredicateType]
		out = append(out, Referrer{Kind: referrerKind(r.ArtifactType, pt), ArtifactType: r.ArtifactType, PredicateType: pt, Digest: r.Digest, Size: r.Size})
	}
	slices.SortStableFunc(out, func(a, b Referrer) int {
		return strings.Compare(a.Kind+" "+a.ArtifactType+" "+string(a.Digest), b.Kind+" "+b.ArtifactType+" "+string(b.Digest))
	})
	return out, truncated, nil
}

// referrerKind says what a referrer is: a Sigstore bundle is an attestation
// when its predicate type is anything but cosign's signature predicate; an
// in-toto artifact is an attestation; the other signature types are
// signatures.
func referrerKind(artifactType, predicateType string) string {
	switch {
	case strings.HasPrefix(artifactType, "application/vnd.dev.sigstore.bundle"):
		if predicateType == "" || predicateType == attest.PredicateCosignSign {
			return "signature"
		}
		return "attestation"
	case isSignatureType(artifactType):
		return "signature"
	case artifactType == "application/vnd.in-toto+json", strings.HasPrefix(artifactType, "application/vnd.dev.cosign.attestation"):
		return "attestation"
	}
	return ""
}

// shortDigest abbreviates a digest to its algorithm and 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := string(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// printable quotes a string from the registry that holds control or other
// non-printing characters, so that it cannot drive a terminal.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
