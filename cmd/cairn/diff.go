package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/verify/model"
)

// errModelsDiffer is what diff --exit-code returns when the models differ.
var errModelsDiffer = errors.New("the models differ")

// diffResult is what diff prints with --json.
type diffResult struct {
	From      diffSide     `json:"from"`
	To        diffSide     `json:"to"`
	Added     []diffFile   `json:"added"`
	Removed   []diffFile   `json:"removed"`
	Changed   []diffChange `json:"changed"`
	Unchanged int          `json:"unchanged"`
}

// diffSide names one of the two models.
type diffSide struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
}

// diffFile is a file present on one side only.
type diffFile struct {
	Path   string        `json:"path"`
	Kind   model.Kind    `json:"kind"`
	Size   int64         `json:"size"`
	Digest digest.Digest `json:"digest"`
}

// diffChange is a path present on both sides with different content.
type diffChange struct {
	Path string   `json:"path"`
	From diffFile `json:"from"`
	To   diffFile `json:"to"`
}

// empty reports whether the two models hold the same files.
func (d *diffResult) empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0
}

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
with a different digest are changed. Nothing but the two manifests is
fetched, and each is checked against its digest.

An archive layer (a tar of several files) is compared as one file named
"[archive] NAME". diff exits 0 whatever it finds; with --exit-code it exits 1
when the models differ, like git diff --exit-code.`,
		Example: `  cairn diff 127.0.0.1:5000/models/llama:v1 127.0.0.1:5000/models/llama:v2
  cairn diff 127.0.0.1:5000/models/llama:prod 127.0.0.1:5000/models/llama:v2 --exit-code
  cairn diff reg.example.com/base/llama:3.1 127.0.0.1:5000/models/llama-ft:v1 --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := diffModels(cmd.Context(), &ro, args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if err := printDiff(cmd.OutOrStdout(), res); err != nil {
				return err
			}
			if exitCode && !res.empty() {
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

// modelFiles resolves a reference and returns its digest and files by
// path (archive layers by "[archive] NAME").
func modelFiles(ctx context.Context, ro *remoteOptions, refStr string) (diffSide, map[string]diffFile, error) {
	repo, _, err := ro.repository(refStr)
	if err != nil {
		return diffSide{}, nil, err
	}
	if repo.Reference.Reference == "" {
		return diffSide{}, nil, fmt.Errorf("%s: name a tag or digest", refStr)
	}
	desc, manifest, err := fetchManifest(ctx, repo, refStr)
	if err != nil {
		return diffSide{}, nil, err
	}
	_, files, err := model.Files(manifest)
	if err != nil {
		return diffSide{}, nil, refused(fmt.Errorf("%s: %w", refStr, err))
	}
	byPath := make(map[string]diffFile, len(files))
	for _, f := range files {
		p := fileLabel(fileInfo{Path: f.Path, Name: archiveName(f), Archive: f.Archive, Digest: f.Desc.Digest})
		if _, dup := byPath[p]; dup {
			// Two archive layers of the same name: tell them apart by digest.
			p += " " + string(f.Desc.Digest)
		}
		byPath[p] = diffFile{Path: p, Kind: f.Kind, Size: f.Desc.Size, Digest: f.Desc.Digest}
	}
	return diffSide{Reference: refStr, Digest: desc.Digest}, byPath, nil
}

// diffModels compares the files of two references by path.
func diffModels(ctx context.Context, ro *remoteOptions, ref1, ref2 string) (*diffResult, error) {
	from, a, err := modelFiles(ctx, ro, ref1)
	if err != nil {
		return nil, err
	}
	to, b, err := modelFiles(ctx, ro, ref2)
	if err != nil {
		return nil, err
	}
	res := &diffResult{From: from, To: to, Added: []diffFile{}, Removed: []diffFile{}, Changed: []diffChange{}}
	for p, fa := range a {
		fb, ok := b[p]
		switch {
		case !ok:
			res.Removed = append(res.Removed, fa)
		case fa.Digest != fb.Digest:
			res.Changed = append(res.Changed, diffChange{Path: p, From: fa, To: fb})
		default:
			res.Unchanged++
		}
	}
	for p, fb := range b {
		if _, ok := a[p]; !ok {
			res.Added = append(res.Added, fb)
		}
	}
	byPath := func(x, y diffFile) int { return strings.Compare(x.Path, y.Path) }
	slices.SortFunc(res.Added, byPath)
	slices.SortFunc(res.Removed, byPath)
	slices.SortFunc(res.Changed, func(x, y diffChange) int { return strings.Compare(x.Path, y.Path) })
	return res, nil
}

func printDiff(w io.Writer, res *diffResult) error {
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
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d added, %d removed, %d changed, %d unchanged\n", len(res.Added), len(res.Removed), len(res.Changed), res.Unchanged)
	return err
}
