package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

type quarantineOptions struct {
	remoteOptions
	reason string
	undo   bool
	list   bool
	asJSON bool
}

func newQuarantineCmd() *cobra.Command {
	var o quarantineOptions
	cmd := &cobra.Command{
		Use:   "quarantine REF --reason TEXT | REF --undo | REPO --list",
		Short: "Refuse every pull of a version, with a reason (and lift it)",
		Long: `Quarantine the version REF resolves to: the registry answers its pulls with
403 DENIED and the reason, by tag or by digest, and cairn verify, cairn run
and cairn pull refuse it (exit 1). Other versions of the repository are not
affected. Blobs stay readable by digest (they may be shared with versions
that are not quarantined); the version itself cannot be pulled.

--undo lifts the quarantine; --list shows a repository's quarantined
versions. Changing a quarantine needs the admin role when the registry has
authentication on.`,
		Example: `  cairn quarantine 127.0.0.1:5000/models/llama:v1 --reason "CVE-2026-0001: pickle payload in tokenizer"
  cairn quarantine 127.0.0.1:5000/models/llama@sha256:4f1c... --undo
  cairn quarantine 127.0.0.1:5000/models/llama --list`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuarantine(cmd, o, args[0])
		},
	}
	o.remoteOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why the version is quarantined (shown to everyone who tries to pull it)")
	f.BoolVar(&o.undo, "undo", false, "lift the quarantine")
	f.BoolVar(&o.list, "list", false, "list the repository's quarantined versions")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	return cmd
}

func runQuarantine(cmd *cobra.Command, o quarantineOptions, refStr string) error {
	ctx := cmd.Context()
	modes := 0
	for _, b := range []bool{o.reason != "", o.undo, o.list} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("give exactly one of --reason TEXT, --undo and --list")
	}
	repo, err := o.open(refStr)
	if err != nil {
		return err
	}
	if o.list {
		qs, err := client.Quarantines(ctx, repo)
		if err != nil {
			return err
		}
		if o.asJSON {
			return json.NewEncoder(cmd.OutOrStdout()).Encode(qs)
		}
		if len(qs) == 0 {
			fmt.Fprintln(cmd.OutOrStdout(), "no quarantined versions")
			return nil
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DIGEST\tSINCE\tBY\tREASON")
		for _, q := range qs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", q.Digest, q.Time.UTC().Format("2006-01-02T15:04:05Z"), clean(q.By), clean(q.Reason))
		}
		return tw.Flush()
	}
	name := repo.Repo.Reference.Registry + "/" + repo.Repo.Reference.Repository + "@"
	if o.undo {
		d, err := client.Release(ctx, repo)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "released %s%s\n", name, d)
		return nil
	}
	d, err := client.Quarantine(ctx, repo, o.reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "quarantined %s%s: %s\n", name, d, o.reason)
	fmt.Fprintln(cmd.OutOrStdout(), d)
	return nil
}
