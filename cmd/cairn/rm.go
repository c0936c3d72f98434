package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

func newRmCmd() *cobra.Command {
	var (
		ro      remoteOptions
		version bool
	)
	cmd := &cobra.Command{
		Use:   "rm REF",
		Short: "Remove a tag, or with --version (or REF@sha256:...) a whole version",
		Long: `Remove a tag: the version it named stays, reachable by digest and by its other
tags. With --version, or a reference by digest, remove the version itself:
its manifest and every tag that names it.

The registry records it: each removed tag's move to nothing in the tag's
history (cairn history shows it, with who removed it), a version's deletion
in its transparency log. The blobs are freed by the next garbage collection
(cairn gc, or the server's own every --gc-interval). Deleting needs the
admin role on the repository when authentication is on.`,
		Example: `  cairn rm 127.0.0.1:5000/models/llama:old
  cairn rm 127.0.0.1:5000/models/llama:v1 --version
  cairn rm 127.0.0.1:5000/models/llama@sha256:4f1c...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := ro.open(args[0])
			if err != nil {
				return err
			}
			res, err := client.Remove(cmd.Context(), repo, version)
			if err != nil {
				return err
			}
			where := repo.Repo.Reference.Registry + "/" + repo.Repo.Reference.Repository
			if res.Tag != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed tag %s:%s (it named %s; the version stays)\n", where, res.Tag, res.Digest)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed version %s@%s and its tags\n", where, res.Digest)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
			return nil
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().BoolVar(&version, "version", false, "remove the version REF names (its manifest and every tag naming it), not just the tag")
	return cmd
}
