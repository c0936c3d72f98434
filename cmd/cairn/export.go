package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/verify/agent"
)

func newExportCmd() *cobra.Command {
	var o copyOptions
	var out string
	cmd := &cobra.Command{
		Use:   "export REF... -o FILE [--policy F | --key PUB...]",
		Short: "Write model versions with their referrers to one OCI layout tar, for an air gap",
		Long: `Write the versions REF... name, with every referrer attached to them, to
FILE: one OCI image layout as a tar (index.json at its root), which
oras (--oci-layout) and skopeo (oci-archive:) read. Blobs stream from the
registry into the file, each checked against its digest. index.json
names each version by its tag (org.opencontainers.image.ref.name; a tag
already taken by an earlier REF is left out: use the digest) and its source
reference (dev.cairn.source); its referrers are listed beside it.

With --policy (or --key), every version is checked at the source first, as
cairn copy does, and nothing is written unless all pass. A rule that says
transparency: required also puts the registry's transparency log proof of
each version's tag into the file: the signed checkpoint and the inclusion
proof, as blobs named by the annotations dev.cairn.transparency.checkpoint
and dev.cairn.transparency.inclusion of the version's entry; cairn import
checks them offline.

FILE is written under a temporary name and renamed when complete.`,
		Example: `  cairn export train.example/models/llama:v3 train.example/models/llama:v4 -o llama.tar --policy promote.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd, o, args, out)
		},
	}
	o.remoteOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "the tar file to write (required)")
	f.IntVar(&o.concurrency, "concurrency", 3, "blobs fetched at once")
	f.BoolVar(&o.asJSON, "json", false, "print the result (and the receipts of the checks) as JSON")
	return cmd
}

func runExport(cmd *cobra.Command, o copyOptions, refs []string, out string) error {
	if out == "" {
		return errors.New("-o FILE is required")
	}
	if o.forRepo != "" || o.digest != "" {
		return errors.New("--repository and --digest are for a directory; REF names the repository and the digest")
	}
	opts := promote.ExportOptions{Concurrency: o.concurrency}
	if o.agentOptions.enabled() {
		ag, err := o.newAgent()
		if err != nil {
			return err
		}
		opts.Agent = ag
	}
	var srcs []*client.Repository
	for _, r := range refs {
		repo, err := o.open(r)
		if err != nil {
			return err
		}
		srcs = append(srcs, repo)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	res, err := promote.Export(cmd.Context(), tmp, srcs, opts)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	return finishPromote(cmd, o, res, receiptsOf(res), err, func() {
		fmt.Fprintf(cmd.ErrOrStderr(), "exported %d versions, %d referrers, %d blobs (%d bytes) to %s\n", len(res.Versions), res.Referrers, res.Blobs, res.Bytes, out)
	})
}

func receiptsOf(res any) []*agent.Receipt {
	switch r := res.(type) {
	case *promote.ExportResult:
		if r != nil {
			return r.Receipts
		}
	case *promote.ImportResult:
		if r != nil {
			return r.Receipts
		}
	}
	return nil
}

// finishPromote prints the receipts of the checks and the result (as JSON
// with --json), and maps refusals to exit status 1.
func finishPromote(cmd *cobra.Command, o copyOptions, res any, receipts []*agent.Receipt, err error, done func()) error {
	if !o.asJSON {
		for _, rc := range receipts {
			printReceipt(cmd, rc, false)
		}
	} else if res != nil {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(res); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		return agentErr(err)
	}
	if !o.asJSON {
		done()
	}
	return nil
}

func newImportCmd() *cobra.Command {
	var o copyOptions
	cmd := &cobra.Command{
		Use:   "import FILE REG/NAMESPACE [--policy F | --key PUB...]",
		Short: "Push the versions of a file cairn export wrote, checked first, into a registry",
		Long: `Push the versions of FILE (an OCI layout tar that cairn export wrote), with
their referrers, under REG/NAMESPACE: a version exported from HOST/REPO:TAG
becomes REG/NAMESPACE/REPO:TAG.

Everything is checked before anything is pushed, and a file that fails a
check pushes nothing: the tar is read under limits (entry count, sizes;
only the layout's own names, no links, nothing outside it), every blob is
hashed against its name, every manifest must be complete; with --policy
(or --key), every version must pass the policy rule of its source
repository (signatures, attestations, digest pinning, age) over the
signatures in the file, and, under transparency: required, the checkpoint
and inclusion proof the file carries, checked offline against the rule's
logKey or the key pinned for the source registry.

Exit status: 0 imported; 1 refused (a digest, signature, proof or the
file's form); 2 could not import (usage, network).`,
		Example: `  cairn import llama.tar prod.example/mirror --policy policy.yaml`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd, o, args[0], args[1])
		},
	}
	o.remoteOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	f := cmd.Flags()
	f.IntVar(&o.concurrency, "concurrency", 3, "blobs pushed at once")
	f.BoolVar(&o.asJSON, "json", false, "print the result (and the receipts of the checks) as JSON")
	return cmd
}

func runImport(cmd *cobra.Command, o copyOptions, file, dst string) error {
	if o.forRepo != "" || o.digest != "" {
		return errors.New("--repository and --digest are for a directory; the file names the repositories and digests")
	}
	opts := promote.ImportOptions{Concurrency: o.concurrency, Client: o.options()}
	if o.agentOptions.enabled() {
		ag, err := o.newAgent()
		if err != nil {
			return err
		}
		opts.Agent = ag
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var res *promote.ImportResult
	l, err := promote.ReadLayout(f, st.Size())
	if err == nil {
		res, err = promote.Import(cmd.Context(), l, dst, opts)
	}
	var shown any
	if res != nil {
		shown = res
	}
	return finishPromote(cmd, o, shown, receiptsOf(res), err, func() {
		for _, v := range res.Versions {
			fmt.Fprintln(cmd.OutOrStdout(), v)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "imported %d versions: %d blobs and manifests pushed (%d bytes), %d already there\n", len(res.Versions), res.Copied, res.Bytes, res.Skipped)
	})
}
