package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/verify"
)

func newSyncCmd() *cobra.Command {
	var o copyOptions
	cmd := &cobra.Command{
		Use:   "sync SRC-PATTERN DST [--policy F | --key PUB...]",
		Short: "Mirror the repositories a pattern matches, every version and tag with its referrers, to another registry",
		Long: `Mirror to DST every repository of SRC-PATTERN's registry (its catalog) that
the pattern matches, with the policy's match rules: * within a path segment,
** across segments, ? one character. Each repository goes to DST's prefix
followed by its name without the pattern's literal leading segments
(reg-a.example/team-a/** to reg-b.example/mirror sends team-a/llama to
mirror/llama).

Every version a tag names, and every earlier version a cairn source's tag
history names, is copied as cairn copy does (with every referrer; what DST
has is not sent again), so a second run sends nothing and an interrupted
run completes when run again. A DST tag naming another version than the
source's is moved (DST's history records the move, as made by the caller).

With --policy (or --key), each version passes the promotion gate first; a
refused version is reported and the sync goes on.

Progress goes to stderr, one line per version; --json prints the counts.
Exit status: 0 mirrored; 1 some version refused by the policy or a digest
mismatch; 2 could not sync (usage, network).`,
		Example: `  cairn sync "reg-a.example/team-a/**" reg-b.example/mirror/ --json
  cairn sync "train.example/models/*" prod.example/models --policy promote.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSync(cmd, o, args[0], args[1])
		},
	}
	o.remoteOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	f := cmd.Flags()
	f.IntVar(&o.concurrency, "concurrency", 3, "blobs transferred at once")
	f.BoolVar(&o.asJSON, "json", false, "print the counts as JSON")
	return cmd
}

func runSync(cmd *cobra.Command, o copyOptions, src, dst string) error {
	if o.forRepo != "" || o.digest != "" {
		return errors.New("--repository and --digest are for a directory; sync names repositories by its pattern")
	}
	opts := promote.SyncOptions{
		Source:      src,
		Destination: dst,
		Open:        func(ref string) (*client.Repository, error) { return o.open(ref) },
		Concurrency: o.concurrency,
		Progress:    cmd.ErrOrStderr(),
	}
	if o.agentOptions.enabled() {
		ag, err := o.newAgent()
		if err != nil {
			return err
		}
		opts.Agent = ag
	}
	res, err := promote.Sync(cmd.Context(), opts)
	var shown any
	if res != nil {
		shown = res
	}
	if err := finishPromote(cmd, o, shown, nil, err, func() {
		fmt.Fprintf(cmd.ErrOrStderr(), "synced %d repositories: %d versions (%d copies sent something), %d tags (%d set, %d moved); %d blobs and manifests sent (%d bytes)\n",
			res.Repositories, res.Versions, res.VersionsCopied, res.Tags, res.TagsSet, res.TagsMoved, res.Blobs, res.Bytes)
	}); err != nil {
		return err
	}
	if len(res.Refused) > 0 {
		return refused(fmt.Errorf("%w: %d versions refused: %s", verify.ErrVerification, len(res.Refused), strings.Join(res.Refused, "; ")))
	}
	return nil
}
