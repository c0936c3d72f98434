package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/verify/agent"
)

type copyOptions struct {
	remoteOptions
	agentOptions
	concurrency int
	asJSON      bool
}

func newCopyCmd() *cobra.Command {
	var o copyOptions
	cmd := &cobra.Command{
		Use:   "copy SRC DST [--policy F | --key PUB...]",
		Short: "Copy a model version with its signatures, attestations and every other referrer to another registry",
		Long: `Copy the version SRC names, with every referrer attached to it (signatures,
attestations, OMS bundles, anything else, and their own referrers), to DST.
Blobs stream from registry to registry (nothing is stored on this machine),
each checked against its digest as it streams; what DST already has is not
sent again, so an interrupted copy resumes when run again; within one
registry, blobs are mounted. Either side may be any OCI 1.1 registry; on one
without the referrers API, referrers go through the referrers tag schema.

DST names the destination repository and tag (HOST/REPO:TAG); without a tag,
SRC's tag is used.

With --policy (or --key and the keyless flags), copy is a promotion gate:
the verification agent checks SRC at the source first (the policy rule of
SRC's repository: digest pinning, transparency: required, signatures,
attestations, age, as cairn verify --signatures-only does), and nothing is
written to DST unless it passes; the digest checked is the one copied.
The files' formats are not scanned (that needs their bytes here): a pull or
cairn run at the destination scans them.

Exit status: 0 copied; 1 refused by the policy or a digest mismatch; 2
could not copy (usage, network).`,
		Example: `  cairn copy train.example/models/llama:v3 prod.example/models/llama:v3 --policy promote.yaml
  cairn copy 127.0.0.1:5000/models/llama@sha256:4f1c... 127.0.0.1:5001/mirror/llama:v3`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCopy(cmd, o, args[0], args[1])
		},
	}
	o.remoteOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	f := cmd.Flags()
	f.IntVar(&o.concurrency, "concurrency", 3, "blobs transferred at once")
	f.BoolVar(&o.asJSON, "json", false, "print the result (and the receipt of the checks) as JSON")
	return cmd
}

func runCopy(cmd *cobra.Command, o copyOptions, srcRef, dstRef string) error {
	if o.forRepo != "" || o.digest != "" {
		return errors.New("--repository and --digest are for a directory; SRC names the repository and the digest")
	}
	var opts promote.CopyOptions
	opts.Concurrency = o.concurrency
	if o.agentOptions.enabled() {
		ag, err := o.newAgent()
		if err != nil {
			return err
		}
		opts.Agent = ag
	}
	src, err := o.open(srcRef)
	if err != nil {
		return err
	}
	dst, err := o.open(dstRef)
	if err != nil {
		return err
	}
	res, err := promote.Copy(cmd.Context(), src, dst, opts)
	var (
		shown    any
		receipts []*agent.Receipt
	)
	if res != nil {
		shown = res
		if res.Receipt != nil {
			receipts = []*agent.Receipt{res.Receipt}
			if werr := saveReceipt(cmd, o.agentOptions, "", res.Receipt); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return finishPromote(cmd, o, shown, receipts, err, func() {
		to := dst.Repo.Reference
		if res.Tag != "" {
			to.Reference = res.Tag
		} else {
			to.Reference = res.Desc.Digest.String()
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "copied %s to %s: %d referrers; %d blobs and manifests sent (%d bytes), %d mounted, %d already there\n",
			res.Desc.Digest, to, res.Referrers, res.Copied, res.Bytes, res.Mounted, res.Skipped)
		fmt.Fprintln(cmd.OutOrStdout(), res.Desc.Digest)
	})
}
