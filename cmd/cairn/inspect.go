package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

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
			repo, err := ro.open(args[0])
			if err != nil {
				return err
			}
			res, err := client.Inspect(cmd.Context(), repo, client.InspectOptions{Trust: trust})
			if err != nil {
				return agentErr(err)
			}
			res.Reference = args[0] // as the user wrote it
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

// Order in which inspect prints the ModelPack fields it knows; others
// follow in lexical order.
var (
	descriptorOrder = []string{"name", "version", "title", "family", "vendor", "authors", "licenses", "revision", "createdAt", "description", "docURL", "sourceURL", "datasetsURL"}
	configOrder     = []string{"architecture", "format", "paramSize", "precision", "quantization", "capabilities"}
)

func printInspect(w io.Writer, res *client.Inspection) error {
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
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Label(), orDash(clean(string(f.Kind))), f.Mode, humanSize(f.Size), f.Digest)
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

func printLineage(w io.Writer, li *client.Lineage) error {
	if li == nil {
		return nil
	}
	fmt.Fprintf(w, "\nLineage:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(dir string, e client.LineageEdge) {
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
