package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2"
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
			repo, _, err := ro.repository(args[0])
			if err != nil {
				return err
			}
			src := repo.Reference.Reference
			if src == "" {
				return fmt.Errorf("%s: name a tag or digest to tag", args[0])
			}
			dst := repo.Reference
			dst.Reference = args[1]
			if err := dst.ValidateReferenceAsTag(); err != nil {
				return fmt.Errorf("new tag %q: %w", args[1], err)
			}
			desc, err := oras.Tag(cmd.Context(), repo, src, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", desc.Digest)
			fmt.Fprintf(cmd.ErrOrStderr(), "tagged %s as %s\n", args[0], dst)
			return nil
		},
	}
	ro.addFlags(cmd)
	return cmd
}
