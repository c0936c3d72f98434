package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/model"
)

// inspectResult is what inspect prints with --json.
type inspectResult struct {
	Reference    string            `json:"reference"`
	Digest       digest.Digest     `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Config is the config blob's descriptor.
	Config ocispec.Descriptor `json:"config"`
	// Model holds the ModelPack config's descriptor and config sections as
	// the producer wrote them; absent for other config types.
	Model *modelInfo `json:"model,omitempty"`
	Files []fileInfo `json:"files"`
	// TotalSize is the sum of the files' sizes.
	TotalSize          int64          `json:"totalSize"`
	Referrers          []referrerInfo `json:"referrers"`
	ReferrersTruncated bool           `json:"referrersTruncated,omitempty"`
	// Lineage holds the datasets and base models this model was made from,
	// read from its SLSA provenance (resolvedDependencies), and the models
	// whose provenance names it.
	Lineage *lineageInfo `json:"lineage"`
}

// modelInfo is a ModelPack config's descriptor (name, version, family,
// authors, licenses...) and config (architecture, format, paramSize,
// precision, quantization...) sections.
type modelInfo struct {
	Descriptor map[string]any `json:"descriptor,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
}

// fileInfo is one file of the model.
type fileInfo struct {
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

// referrerInfo is one referrer of the model.
type referrerInfo struct {
	// Kind is "signature" or "attestation" for Sigstore bundles and other
	// signature types, "" otherwise.
	Kind          string        `json:"kind,omitempty"`
	ArtifactType  string        `json:"artifactType"`
	PredicateType string        `json:"predicateType,omitempty"`
	Digest        digest.Digest `json:"digest"`
	Size          int64         `json:"size"`
}

func newInspectCmd() *cobra.Command {
	var (
		ro     remoteOptions
		to     trustOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show a model's files, config and signatures",
		Long: `Resolve REF and show what it holds: digest, artifact type, the ModelPack config
(name, version, architecture, format, paramSize, precision...), every file
with its kind, size and digest, the referrers (signatures, attestations and
other artifacts whose subject is this manifest), and the lineage: what the
model's SLSA provenance says it was built from (datasets, base model), and
which models' provenance in the same registry names it as a dependency.
With --key (or the keyless flags, as for cairn verify) each lineage edge
says whether its provenance is signed by a trusted signer; without them the
edges are shown as claims whose signatures were not checked.

The manifest and config are checked against their digests. Files are not
fetched: inspect lists what the manifest declares (cairn pull and cairn
verify check the bytes).`,
		Example: `  cairn inspect 127.0.0.1:5000/models/llama:v1
  cairn inspect 127.0.0.1:5000/models/llama@sha256:4f1c... --json | jq '.files[].path'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var trust *verify.Trust
			if to.given() {
				t, err := to.trust()
				if err != nil {
					return err
				}
				trust = &t
			}
			res, err := inspect(cmd.Context(), &ro, args[0], trust)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return printInspect(cmd.OutOrStdout(), res)
		},
	}
	ro.addFlags(cmd)
	to.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// inspect resolves refStr and gathers what inspect shows.
func inspect(ctx context.Context, ro *remoteOptions, refStr string, trust *verify.Trust) (*inspectResult, error) {
	repo, _, err := ro.repository(refStr)
	if err != nil {
		return nil, err
	}
	if repo.Reference.Reference == "" {
		return nil, fmt.Errorf("%s: name a tag or digest to inspect", refStr)
	}
	desc, manifest, err := fetchManifest(ctx, repo, refStr)
	if err != nil {
		return nil, err
	}
	artifactType, files, err := model.Files(manifest)
	if err != nil {
		return nil, refused(fmt.Errorf("%s: %w", refStr, err))
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, refused(fmt.Errorf("%s: manifest: %w", refStr, err))
	}
	res := &inspectResult{
		Reference: refStr, Digest: desc.Digest, MediaType: desc.MediaType, ArtifactType: artifactType,
		Annotations: m.Annotations, Config: m.Config, Files: make([]fileInfo, 0, len(files)),
	}
	if m.Config.MediaType == model.MediaTypeConfig || m.Config.MediaType == model.LegacyMediaTypeConfig {
		config, err := fetchBlob(ctx, repo, m.Config, maxConfigBytes)
		if err != nil {
			return nil, fmt.Errorf("%s: config: %w", refStr, err)
		}
		if res.Model, err = parseModelConfig(config); err != nil {
			return nil, refused(fmt.Errorf("%s: config %s: %w", refStr, m.Config.Digest, err))
		}
	}
	for _, f := range files {
		res.Files = append(res.Files, fileInfo{
			Path: f.Path, Name: archiveName(f), Archive: f.Archive, Kind: f.Kind, Mode: fmt.Sprintf("%#o", f.Mode.Perm()),
			Size: f.Desc.Size, Digest: f.Desc.Digest, MediaType: f.Desc.MediaType,
		})
		res.TotalSize += f.Desc.Size
	}
	if res.Referrers, res.ReferrersTruncated, err = inspectReferrers(ctx, repo, desc); err != nil {
		return nil, fmt.Errorf("%s: %w", refStr, err)
	}
	if res.Lineage, err = inspectLineage(ctx, ro, repo, desc, trust); err != nil {
		return nil, fmt.Errorf("%s: lineage: %w", refStr, err)
	}
	return res, nil
}

// parseModelConfig reads the descriptor and config sections of a ModelPack
// config, keeping every field (cairn writes a few, other producers more).
func parseModelConfig(b []byte) (*modelInfo, error) {
	var raw struct {
		Descriptor json.RawMessage `json:"descriptor"`
		Config     json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	mi := &modelInfo{}
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

// inspectReferrers lists the referrers of desc, at most agent.MaxRecordedReferrers.
func inspectReferrers(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) ([]referrerInfo, bool, error) {
	refs, truncated, err := listReferrers(ctx, repo, desc)
	if err != nil {
		return nil, false, err
	}
	out := make([]referrerInfo, 0, len(refs))
	for _, r := range refs {
		pt := r.Annotations[attest.AnnotationPredicateType]
		out = append(out, referrerInfo{Kind: referrerKind(r.ArtifactType, pt), ArtifactType: r.ArtifactType, PredicateType: pt, Digest: r.Digest, Size: r.Size})
	}
	slices.SortStableFunc(out, func(a, b referrerInfo) int {
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

// Order in which inspect prints the ModelPack fields it knows; others
// follow in lexical order.
var (
	descriptorOrder = []string{"name", "version", "title", "family", "vendor", "authors", "licenses", "revision", "createdAt", "description", "docURL", "sourceURL", "datasetsURL"}
	configOrder     = []string{"architecture", "format", "paramSize", "precision", "quantization", "capabilities"}
)

func printInspect(w io.Writer, res *inspectResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Reference:\t%s\n", clean(res.Reference))
	fmt.Fprintf(tw, "Digest:\t%s\n", res.Digest)
	fmt.Fprintf(tw, "Media type:\t%s\n", clean(res.MediaType))
	fmt.Fprintf(tw, "Artifact type:\t%s\n", clean(res.ArtifactType))
	fmt.Fprintf(tw, "Config:\t%s %s (%s)\n", clean(res.Config.MediaType), res.Config.Digest, humanSize(res.Config.Size))
	for _, k := range sortedKeys(res.Annotations, nil) {
		fmt.Fprintf(tw, "Annotation:\t%s=%s\n", clean(k), clean(res.Annotations[k]))
	}
	if res.Model != nil {
		for _, k := range sortedKeys(res.Model.Descriptor, descriptorOrder) {
			fmt.Fprintf(tw, "  %s:\t%s\n", clean(k), formatValue(res.Model.Descriptor[k]))
		}
		for _, k := range sortedKeys(res.Model.Config, configOrder) {
			fmt.Fprintf(tw, "  %s:\t%s\n", clean(k), formatValue(res.Model.Config[k]))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nFiles (%d, %s):\n", len(res.Files), humanSize(res.TotalSize))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PATH\tKIND\tMODE\tSIZE\tDIGEST")
	for _, f := range res.Files {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", fileLabel(f), orDash(clean(string(f.Kind))), f.Mode, humanSize(f.Size), f.Digest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	more := ""
	if res.ReferrersTruncated {
		more = fmt.Sprintf(", only the first %d read", agent.MaxRecordedReferrers)
	}
	fmt.Fprintf(w, "\nReferrers (%d%s):\n", len(res.Referrers), more)
	if len(res.Referrers) == 0 {
		fmt.Fprintln(w, "  none: the model is not signed")
		return printLineage(w, res.Lineage)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range res.Referrers {
		what := orDash(r.Kind)
		if r.Kind == "attestation" && r.PredicateType != "" {
			what += " " + clean(r.PredicateType)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", what, clean(r.ArtifactType), r.Digest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printLineage(w, res.Lineage)
}

// fileLabel is how a file is named in tables: its path, or for an archive
// layer "[archive] NAME" (NAME defaulting to the short digest).
func fileLabel(f fileInfo) string {
	if !f.Archive {
		return f.Path
	}
	name := f.Name
	if name == "" {
		name = shortDigest(f.Digest)
	}
	return "[archive] " + clean(name)
}

// sortedKeys returns m's keys: those in first in that order, then the rest
// in lexical order.
func sortedKeys[V any](m map[string]V, first []string) []string {
	var keys []string
	for _, k := range first {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range m {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// formatValue prints a config value: strings as they are, lists of
// strings joined with commas, anything else as JSON.
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return clean(v)
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				b, _ := json.Marshal(v)
				return clean(string(b))
			}
			parts = append(parts, clean(s))
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(v)
	return clean(string(b))
}

// clean quotes strings from the registry that hold control or other
// non-printing characters, so that they cannot drive the terminal.
func clean(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
