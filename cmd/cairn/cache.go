package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newCacheCmd() *cobra.Command {
	var o transferOptions
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List or prune the local blob cache of pulls",
		Long: `Pulls keep every verified blob in a local cache ($CAIRN_CACHE, --cache, or
"cairn" in the user cache directory), so repeated and interrupted pulls are
cheap. The cache is never trusted: a blob is hashed again before it is used.
Pulled directories do not depend on it (their files are links or copies).`,
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the cached blobs, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.openCache()
			if err != nil {
				return err
			}
			blobs, partial, err := c.List()
			if err != nil {
				return err
			}
			if o.asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Dir     string `json:"dir"`
					Blobs   any    `json:"blobs"`
					Partial int    `json:"partial"`
				}{c.Root(), blobs, partial})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CACHED\tSIZE\tDIGEST")
			var total int64
			for _, b := range blobs {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", b.Cached.UTC().Format(time.RFC3339), b.Size, b.Digest)
				total += b.Size
			}
			tw.Flush()
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d blobs, %d bytes; %d partial downloads or push records\n", c.Root(), len(blobs), total, partial)
			return nil
		},
	}
	var keepDays int
	prune := &cobra.Command{
		Use:   "prune [--keep-days N]",
		Short: "Remove cached blobs (those cached more than N days ago with --keep-days)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keepDays < 0 {
				return fmt.Errorf("--keep-days %d: give 0 or more", keepDays)
			}
			c, err := o.openCache()
			if err != nil {
				return err
			}
			removed, err := c.Prune(time.Now().Add(-time.Duration(keepDays) * 24 * time.Hour))
			var total int64
			for _, b := range removed {
				total += b.Size
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d blobs (%d bytes) from %s\n", len(removed), total, c.Root())
			return err
		},
	}
	prune.Flags().IntVar(&keepDays, "keep-days", 0, "keep blobs cached within the last N days (0: remove every blob)")
	for _, c := range []*cobra.Command{ls, prune} {
		c.Flags().StringVar(&o.cacheDir, "cache", "", "local blob cache (default: $CAIRN_CACHE or the user cache directory)")
	}
	ls.Flags().BoolVar(&o.asJSON, "json", false, "print the list as JSON")
	cmd.AddCommand(ls, prune)
	return cmd
}
