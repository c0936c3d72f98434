package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/meta"
)

func newGCCmd() *cobra.Command {
	var (
		data   string
		grace  time.Duration
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove unreferenced blobs and stale uploads from --data",
		Long: `Remove blobs that no manifest references and uploads that expired or were
abandoned. Blobs younger than --grace are kept, so pushes in progress are safe.

The server must not be running on DIR: gc takes the metadata database's lock
and refuses to start while cairn serve holds it. A running server collects
garbage itself, online and safely beside concurrent pushes, every
--gc-interval (see cairn serve --help).`,
		Example: `  cairn gc --data ./cairn-data
  cairn gc --data ./cairn-data --grace 0s --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			blobs, db, err := openStores(data, time.Second)
			if errors.Is(err, meta.ErrLocked) {
				return fmt.Errorf("%w; the running server collects garbage itself every --gc-interval", err)
			}
			if err != nil {
				return err
			}
			defer db.Close()
			reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db})
			if err != nil {
				return err
			}
			if grace == 0 {
				grace = time.Nanosecond // "0s" means no grace at all
			}
			rep, err := reg.GC(cmd.Context(), registry.GCOptions{Grace: grace, DryRun: dryRun})
			if err != nil {
				return err
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, d := range rep.Removed {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", verb, d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d blobs (%d bytes) and %d uploads\n", verb, rep.BlobsRemoved, rep.BytesFreed, rep.UploadsRemoved)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "./cairn-data", "the server's data directory")
	cmd.Flags().DurationVar(&grace, "grace", registry.DefaultGCGrace, "keep unreferenced blobs younger than this")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be removed, remove nothing")
	return cmd
}
