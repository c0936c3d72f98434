package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

func newGCCmd() *cobra.Command {
	var (
		data     string
		grace    time.Duration
		dryRun   bool
		backends backendFlags
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove unreferenced blobs and stale uploads from --data",
		Long: `Remove blobs that no manifest references and uploads that expired or were
abandoned. Unreferenced blobs, and uploads whose bytes have not moved, younger
than --grace are kept. 0s means as little as is safe, as in cairn serve
--gc-grace: over --data alone (the server stopped, nothing in progress) no
grace at all; over --storage and --metadata, beside running nodes, the
minimum of 2m, which keeps uploads and pushes in progress safe. An upload
session with nothing behind it (its bytes lost) or idle longer than the
grace is removed.

The server must not be running on DIR: gc takes the metadata database's lock
and refuses to start while cairn serve holds it. A running server collects
garbage itself, online and safely beside concurrent pushes, every
--gc-interval (see cairn serve --help).

With --storage and --metadata (the stores several nodes share), gc runs
beside the nodes: it takes the collector's lease in the database and refuses
to start while a node holds it.`,
		Example: `  cairn gc --data ./cairn-data
  cairn gc --data ./cairn-data --grace 0s --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			blobs, db, err := openBackends(cmd.Context(), data, backends, time.Second)
			if errors.Is(err, meta.ErrLocked) {
				return fmt.Errorf("%w; the running server collects garbage itself every --gc-interval", err)
			}
			if err != nil {
				return err
			}
			defer db.Close()
			reserve, err := openReserve(data, backends)
			if err != nil {
				return err
			}
			reg, err := registry.New(registry.Config{Blobs: blobs, Meta: db, Reserve: reserve})
			if err != nil {
				return err
			}
			// Over --data alone, the lock says the server is stopped: nothing
			// is in progress. Over shared stores, nodes may be pushing.
			exclusive := backends.storage == "" && backends.metadata == ""
			grace = registry.EffectiveGrace(grace, exclusive)
			protectRecent(blobs, grace)
			rep, err := reg.CollectOnce(cmd.Context(), "cairn gc", registry.GCOptions{Grace: grace, Exclusive: exclusive, DryRun: dryRun})
			if errors.Is(err, storage.ErrLeaseHeld) {
				return fmt.Errorf("%w; the node holding it collects garbage itself every --gc-interval", err)
			}
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
	cmd.Flags().DurationVar(&grace, "grace", registry.DefaultGCGrace, "keep unreferenced blobs and idle uploads younger than this (0s: none over --data alone; at least 2m beside running nodes)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be removed, remove nothing")
	cmd.Flags().StringVar(&backends.storage, "storage", "", storageFlagHelp)
	cmd.Flags().StringVar(&backends.metadata, "metadata", "", metadataFlagHelp)
	return cmd
}
