package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

func newTagCmd() *cobra.Command {
	var ro remoteOptions
	cmd := &cobra.Command{
		Use:   "tag REF NEWTAG",
		Short: "Point another tag of the same repository at REF's manifest",
		Long: `Point NEWTAG at the manifest REF resolves to, in the same repository. The
registry records the move in the tag's history (see cairn history).`,
		Example: `  cairn tag 127.0.0.1:5000/models/llama:v1 prod
  cairn tag 127.0.0.1:5000/models/llama@sha256:4f1c... v1.1`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := ro.open(args[0])
			if err != nil {
				return err
			}
			desc, err := client.Tag(cmd.Context(), repo, args[1])
			if err != nil {
				return err
			}
			dst := repo.Repo.Reference
			dst.Reference = args[1]
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", desc.Digest)
			fmt.Fprintf(cmd.ErrOrStderr(), "tagged %s as %s\n", args[0], dst)
			return nil
		},
	}
	ro.addFlags(cmd)
	return cmd
}
