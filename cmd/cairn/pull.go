package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/scan"
)

type pullOptions struct {
	transferOptions
	agentOptions
	include []string
	exclude []string
	force   bool
	unsafe  bool // --allow-unsafe
}

func newPullCmd() *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull REF DIR",
		Short: "Pull a model into a directory, checking every file's digest as it streams",
		Long: `Resolve REF to a digest and fetch the model's files into DIR, several at a time.
Each file is hashed while it is written to a temporary file and is renamed
into place only when it matches its digest; a mismatch stops the pull with
exit code 1, naming the file and both digests.

Files go through a local content-addressed cache shared by pulls: a file
already held is not fetched again, and a pull that was interrupted resumes.
DIR/.cairn/ records the manifest, config and referrers (signatures,
attestations), so DIR can be verified offline later. When the policy's
rule says transparency: required, the registry's transparency log must
prove the reference first (the tag's latest move in the log names the
digest; signed, witnessed checkpoint consistent with the last one seen)
and DIR/.cairn/ also keeps the checkpoint and the inclusion proof.

The files stream into a staging directory inside DIR/.cairn (archive
layers are extracted there, member by member) and move into DIR only when
all of them arrived. Every file is scanned (see cairn scan): one the
scanner finds unsafe refuses the pull (exit 1, nothing left in DIR) unless
--allow-unsafe; files whose content it cannot judge are listed as not
scanned. With --policy or --key the policy decides instead.

A DIR that already holds files the model does not have, or other versions
of its files, is refused with nothing changed, unless --force; the same
files pulled again are fine.

Pull never creates a symlink or device, and refuses absolute paths, paths
that leave DIR, and duplicate paths. It reads ModelPack artifacts, the older
vnd.cnai.model names, KitOps ModelKits and plain oras artifacts.

With --policy, or --key (or the keyless flags), pull is the verification
agent of cairn run without the workload: signatures and attestations are
checked before any file is fetched, the files stream into a staging
directory and are scanned, and only a model that passes every check is
moved into DIR (exit 1 otherwise, with nothing of it left in DIR).`,
		Example: `  cairn pull 127.0.0.1:5000/models/llama:v1 ./llama-8b
  cairn pull 127.0.0.1:5000/models/llama:v1 ./llama --include '*.json' --include 'tokenizer*'
  cairn pull 127.0.0.1:5000/models/llama:v1 ./llama --exclude 'original/**' --exclude '*.gguf'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd, o, args[0], args[1])
		},
	}
	o.transferOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.include, "include", nil, "only files whose path matches GLOB (path.Match; 'dir/**' for a subtree; repeatable)")
	cmd.Flags().StringArrayVar(&o.exclude, "exclude", nil, "leave out files whose path matches GLOB (as --include; repeatable); a later cairn verify DIR needs the same --exclude")
	cmd.Flags().BoolVar(&o.unsafe, "allow-unsafe", false, "without --policy or --key: pull a model even when the scanner finds a file unsafe (never load such a file)")
	cmd.Flags().BoolVar(&o.force, "force", false, "pull into a directory that holds other files, or other versions of the model's files (replaced)")
	return cmd
}

func runPull(cmd *cobra.Command, o pullOptions, refStr, dir string) error {
	o.include = model.Exclude(o.include, o.exclude)
	if err := model.CheckInclude(o.include); err != nil {
		return err
	}
	if o.agentOptions.enabled() {
		if o.forRepo != "" || o.digest != "" {
			return errors.New("--repository and --digest are for a directory; the reference names the repository and the digest")
		}
		ag, err := o.newAgent()
		if err != nil {
			return err
		}
		rc, err := pullChecked(cmd, o.transferOptions, ag, refStr, dir, o.include, o.force)
		return finishReceipt(cmd, o.agentOptions, dir, rc, o.asJSON, err)
	}
	repo, err := o.open(refStr)
	if err != nil {
		return err
	}
	cache, err := o.openCache()
	if err != nil {
		return err
	}
	res, err := client.Pull(cmd.Context(), repo, dir, client.PullOptions{
		Cache: cache, Include: o.include, Concurrency: o.concurrency, Progress: newProgress(cmd, "pulling"),
		Force: o.force, AllowUnsafe: o.unsafe,
	})
	if err != nil {
		return agentErr(err)
	}
	d := res.Target.Desc.Digest
	if o.asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
			"reference": refStr, "digest": d, "files": res.Files, "fetched": res.Fetched, "cached": res.Cached, "dir": dir,
			"scans": res.Scans, "upToDate": res.UpToDate,
		})
	}
	if res.UpToDate {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s is up to date: %s holds it, unchanged since it was pulled\n", refStr, dir)
		fmt.Fprintln(cmd.OutOrStdout(), d)
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "pulled %s: %d files (%d layers fetched, %d from the cache), every digest checked, every file scanned\n", refStr, res.Files, res.Fetched, res.Cached)
	for _, s := range res.Scans {
		if s.Verdict == scan.VerdictUnsafe {
			fmt.Fprintf(cmd.ErrOrStderr(), "UNSAFE (pulled with --allow-unsafe; never load it): %s: %s\n", clean(s.Path), clean(s.Summary))
		}
	}
	if ns := res.NotScanned(); len(ns) > 0 {
		for i := range ns {
			ns[i] = clean(ns[i])
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "not scanned (content the scanner cannot judge): %s\n", strings.Join(ns, ", "))
	}
	fmt.Fprintln(cmd.OutOrStdout(), d)
	return nil
}
