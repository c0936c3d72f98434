package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

func newHistoryCmd() *cobra.Command {
	var (
		ro     remoteOptions
		asJSON bool
		tv     tlogVerifyOptions
	)
	cmd := &cobra.Command{
		Use:   "history REF",
		Short: "Print every move of a tag: old digest, new digest, time, who",
		Long: `Print every move of a tag, oldest first: when it was created, moved to another
digest or deleted, and by whom. Without a tag (REGISTRY/REPO) it prints the
moves of every tag of the repository.

With --verify, each printed move is checked against the registry's
transparency log: the checkpoint's signature (the key pinned on first use,
or --log-key), a consistency proof from the last checkpoint this client saw
of that registry (kept in the user configuration directory, cairn/tlog, or
$CAIRN_CONFIG_DIR/tlog), and an inclusion proof for every move. A registry
that serves an older tree (rollback), a tree that does not extend the one
seen before (fork) or a move that is not its leaf makes it exit 1. With
--policy, the rule for the repository gives the log key (logKey) and the
witnesses that must have cosigned the checkpoint (witnesses), so that a
client that has never seen the log is protected too.`,
		Example: `  cairn history 127.0.0.1:5000/models/llama:v1
  cairn history 127.0.0.1:5000/models/llama --json
  cairn history reg.example/models/llama:v1 --verify`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := ro.parseRef(args[0])
			if err != nil {
				return err
			}
			tag := ""
			if ref.Reference != "" {
				if ref.ValidateReferenceAsTag() != nil {
					return fmt.Errorf("%s: history needs a tag, not a digest", args[0])
				}
				tag = ref.Reference
			}
			hc, err := ro.client(ref.Registry)
			if err != nil {
				return err
			}
			r := &client.Remote{Client: hc, Base: ro.baseURL(ref.Registry), Repository: ref.Repository}
			moves, err := r.History(cmd.Context(), tag)
			if se := (*client.StatusError)(nil); errors.As(err, &se) {
				return fmt.Errorf("%s: %d %s: %s", args[0], se.Status, http.StatusText(se.Status), se.Body)
			} else if err != nil {
				return err
			}
			if tv.verify {
				// The checkpoint is fetched after the history, so it
				// covers every leaf the history names.
				v, err := tv.update(cmd.Context(), &ro, ref.Registry, ref.Repository)
				if err != nil {
					return err
				}
				if err := v.CheckMoves(moves); err != nil {
					return refused(err)
				}
				tv.report(cmd.ErrOrStderr(), v, len(moves))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(moves)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tTAG\tFROM\tTO\tBY")
			for _, m := range moves {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Time.Format("2006-01-02T15:04:05Z"), m.Tag, orDash(string(m.Old)), orDash(string(m.New)), m.By)
			}
			return tw.Flush()
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	tv.addFlags(cmd)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
