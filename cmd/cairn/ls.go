package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

func newLsCmd() *cobra.Command {
	var (
		ro     remoteOptions
		asJSON bool
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "ls REGISTRY/REPO",
		Short: "List the versions of a repository, newest first: tags, digest, size, signed",
		Long: fmt.Sprintf(`List the manifests of a repository, newest first, with their tags, digest,
size (manifest, config and files), push time (UTC) and whether a signature
refers to them. Signatures and attestations themselves (manifests with a
subject) are listed only with --all.

Against cairn this is one request (the versions extension). Against another
registry ls reads the tags list (at most %d tags), resolves each tag and
asks the referrers API for signatures; untagged manifests and push times are
then unknown, and versions are listed in tag order.`, client.DefaultMaxTags),
		Example: `  cairn ls 127.0.0.1:5000/models/llama
  cairn ls 127.0.0.1:5000/models/llama --all
  cairn ls registry.example.com/team/model --json | jq -r '.versions[0].digest'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := ro.open(args[0])
			if err != nil {
				return err
			}
			if repo.Repo.Reference.Reference != "" {
				return fmt.Errorf("%s: ls takes REGISTRY/REPO, without a tag or digest", args[0])
			}
			res, err := client.Versions(cmd.Context(), repo, client.VersionsOptions{})
			if err != nil {
				return fmt.Errorf("ls %s: %w", args[0], err)
			}
			if !all {
				res.Versions = slices.DeleteFunc(res.Versions, func(v client.Version) bool { return v.Subject != "" })
			}
			if res.Truncated {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s has more than %d tags; listing the first %d\n", args[0], client.DefaultMaxTags, client.DefaultMaxTags)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return printVersions(cmd.OutOrStdout(), res.Versions, all)
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "also list referrers (signatures, attestations)")
	return cmd
}

func printVersions(w io.Writer, versions []client.Version, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "TAGS\tDIGEST\tSIZE\tCREATED\tSIGNED"
	if all {
		header += "\tSUBJECT"
	}
	fmt.Fprintln(tw, header)
	for _, v := range versions {
		created := "-"
		if v.Created != nil {
			created = v.Created.UTC().Format("2006-01-02 15:04")
		}
		signed := "no"
		if v.Signed {
			signed = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", orDash(clean(strings.Join(v.Tags, ","))), shortDigest(v.Digest), humanSize(v.Size), created, signed)
		if all {
			fmt.Fprintf(tw, "\t%s", orDash(shortDigest(v.Subject)))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// shortDigest abbreviates a digest to its algorithm and 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := string(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

// humanSize formats a byte count in binary units: 512 B, 1.5 KiB, 1.2 GiB.
func humanSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}
