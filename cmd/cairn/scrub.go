package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/registry/storage"
)

func newScrubCmd() *cobra.Command {
	var (
		data     string
		backends backendFlags
	)
	cmd := &cobra.Command{
		Use:   "scrub",
		Short: "Re-hash every blob and manifest under --data and report corruption",
		Long: `Re-hash every blob and every manifest and check that each blob a manifest
references is present. Prints one line per problem and exits 1 when there is
any, 0 when the store is clean.

Scrub only reads. While a server runs on DIR the metadata database is locked:
scrub then checks the blobs alone and says so. With --storage and --metadata
(the stores several nodes share) it checks them while the nodes run.`,
		Example: `  cairn scrub --data ./cairn-data`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if backends.storage != "" && backends.metadata != "" {
				return scrubBackends(cmd, data, backends)
			}
			if backends.distributed() {
				return errors.New("scrub: give both --storage and --metadata, or neither")
			}
			if _, err := os.Stat(data); err != nil {
				return fmt.Errorf("data directory: %w", err)
			}
			blobs, err := cas.Open(data)
			if err != nil {
				return err
			}
			var md storage.Metadata
			db, err := meta.Open(filepath.Join(data, "meta.db"), &meta.Options{LockTimeout: time.Second})
			switch {
			case errors.Is(err, meta.ErrLocked):
				fmt.Fprintln(cmd.ErrOrStderr(), "note: the server holds the metadata; checking blobs only")
			case err != nil:
				return err
			default:
				defer db.Close()
				md = db
			}
			rep, err := registry.Scrub(cmd.Context(), blobs, md)
			if err != nil {
				return err
			}
			return scrubReport(cmd, rep)
		},
	}
	cmd.Flags().StringVar(&data, "data", "./cairn-data", "the server's data directory")
	cmd.Flags().StringVar(&backends.storage, "storage", "", storageFlagHelp)
	cmd.Flags().StringVar(&backends.metadata, "metadata", "", metadataFlagHelp)
	return cmd
}

// scrubBackends scrubs the stores several nodes share.
func scrubBackends(cmd *cobra.Command, data string, b backendFlags) error {
	blobs, md, err := openBackends(cmd.Context(), data, b, time.Second)
	if err != nil {
		return err
	}
	defer md.Close()
	rep, err := registry.Scrub(cmd.Context(), blobs, md)
	if err != nil {
		return err
	}
	return scrubReport(cmd, rep)
}

// scrubReport prints the problems and the tally; any problem is a refusal.
func scrubReport(cmd *cobra.Command, rep registry.ScrubReport) error {
	out := cmd.OutOrStdout()
	for _, p := range rep.Problems {
		fmt.Fprintln(out, p)
	}
	fmt.Fprintf(out, "scrubbed %d blobs (%d bytes) and %d manifests: %d problems\n", rep.Blobs, rep.Bytes, rep.Manifests, len(rep.Problems))
	if len(rep.Problems) > 0 {
		return refused(fmt.Errorf("%d problems found", len(rep.Problems)))
	}
	return nil
}
