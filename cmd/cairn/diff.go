package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

// errModelsDiffer is what diff --exit-code returns when the models differ.
var errModelsDiffer = errors.New("the models differ")

func newDiffCmd() *cobra.Command {
	var (
		ro       remoteOptions
		asJSON   bool
		exitCode bool
	)
	cmd := &cobra.Command{
		Use:   "diff REF1 REF2",
		Short: "Show the files added, removed and changed between two model versions",
		Long: `Compare the files of two models (or two versions of one) by path: files only
in REF2 are added, files only in REF1 are removed, and files at the same path
with a different digest are changed; the manifests' annotations that differ
are listed too. Nothing but the two manifests is fetched, and each is checked
against its digest. The web UI's compare view makes the same comparison
(client.DiffManifests), with the config's fields as well.

An archive layer (a tar of several files) is compared as one file named
"[archive] NAME". diff exits 0 whatever it finds; with --exit-code it exits 1
when the models differ, like git diff --exit-code.`,
		Example: `  cairn diff 127.0.0.1:5000/models/llama:v1 127.0.0.1:5000/models/llama:v2
  cairn diff 127.0.0.1:5000/models/llama:prod 127.0.0.1:5000/models/llama:v2 --exit-code
  cairn diff reg.example.com/base/llama:3.1 127.0.0.1:5000/models/llama-ft:v1 --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := ro.open(args[0])
			if err != nil {
				return err
			}
			to, err := ro.open(args[1])
			if err != nil {
				return err
			}
			res, err := client.Diff(cmd.Context(), from, to)
			if err != nil {
				return agentErr(err)
			}
			res.From.Reference, res.To.Reference = args[0], args[1] // as the user wrote them
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if err := printDiff(cmd.OutOrStdout(), res); err != nil {
				return err
			}
			if exitCode && !res.Empty() {
				return &exitErr{code: exitRefused, err: errModelsDiffer}
			}
			return nil
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when the models differ")
	return cmd
}

func printDiff(w io.Writer, res *client.Difference) error {
	fmt.Fprintf(w, "--- %s (%s)\n+++ %s (%s)\n", clean(res.From.Reference), shortDigest(res.From.Digest), clean(res.To.Reference), shortDigest(res.To.Digest))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range res.Added {
		fmt.Fprintf(tw, "added\t%s\t%s\t%s\n", f.Path, humanSize(f.Size), shortDigest(f.Digest))
	}
	for _, f := range res.Removed {
		fmt.Fprintf(tw, "removed\t%s\t%s\t%s\n", f.Path, humanSize(f.Size), shortDigest(f.Digest))
	}
	for _, c := range res.Changed {
		fmt.Fprintf(tw, "changed\t%s\t%s -> %s\t%s -> %s\n", c.Path, humanSize(c.From.Size), humanSize(c.To.Size), shortDigest(c.From.Digest), shortDigest(c.To.Digest))
	}
	for _, a := range res.Annotations {
		fmt.Fprintf(tw, "annotation\t%s\t%s -> %s\n", clean(a.Key), clean(a.From), clean(a.To))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d added, %d removed, %d changed, %d unchanged\n", len(res.Added), len(res.Removed), len(res.Changed), res.Unchanged)
	return err
}
