package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

type runOptions struct {
	transferOptions
	agentOptions
	ref     string
	dir     string
	include []string
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [--policy F | --key PUB] [--ref REF] --dir DIR -- CMD [ARG...]",
		Short: "Verify a model, then exec the workload (a container entrypoint)",
		Long: `The verification agent for container startup: the workload starts only when the
model in DIR is exactly what was signed and approved.

With --ref, the model is pulled into DIR: the reference is resolved and its
signatures and attestations are checked against the policy before any file
is fetched; the files stream into a staging directory inside DIR/.cairn,
each checked against its digest as it arrives, are scanned for unsafe
formats, and only then are moved into place. Without --ref, DIR is verified
as it is, offline, from what cairn pull recorded in DIR/.cairn (weights baked
into an image): every file is hashed, nothing unexpected may sit beside them,
every file is scanned.

Then CMD replaces cairn in the same process (exec): the workload keeps the
PID, receives the signals sent to the container, and its exit status is the
container's.

On any refusal cairn exits 1 naming the file, digest or signature and what
was expected, runs nothing, and leaves no part of the model's files in DIR.
Exit 2: could not verify (usage, configuration, network). A JSON receipt of
the checks is written to DIR/.cairn/receipt.json (or --receipt).`,
		Example: `  cairn run --policy /etc/cairn/policy.yaml --ref reg.example/models/llama@sha256:4f1c... \
      --dir /models -- python serve.py --model /models
  cairn run --key /etc/cairn/release.pub --dir /models -- ./serve`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() < 0 || len(args) == 0 {
				return errors.New("give the workload after --: cairn run ... --dir DIR -- CMD [ARG...]")
			}
			if cmd.ArgsLenAtDash() > 0 {
				return fmt.Errorf("unexpected arguments before --: %q", args[:cmd.ArgsLenAtDash()])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, o, args)
		},
	}
	o.transferOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.ref, "ref", "", "pull this model into DIR (verifying as it streams); without it DIR is verified as it is")
	f.StringVar(&o.dir, "dir", "", "the model directory")
	f.StringArrayVar(&o.include, "include", nil, "with --ref: only files whose path matches GLOB (repeatable)")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func runRun(cmd *cobra.Command, o runOptions, argv []string) error {
	if !o.agentOptions.enabled() {
		return errNoSigners
	}
	if len(o.include) > 0 && o.ref == "" {
		return errors.New("--include needs --ref")
	}
	if o.ref != "" && o.forRepo != "" {
		return errors.New("--repository is for a directory without --ref; with --ref the reference names the repository")
	}
	// Find the workload before anything is verified, so that a typo is a
	// usage error, not a model refusal.
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("workload %s: %w", argv[0], err)
	}
	var rc *receipt
	if o.ref != "" {
		rc, err = pullForRun(cmd, o)
	} else {
		rc, err = verifyDir(cmd.Context(), o.agentOptions, o.dir)
	}
	if rc != nil && len(rc.Checks) > 0 {
		printReceipt(cmd, rc, false)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "cairn run: %s@%s verified; starting %s\n", rc.Repository, rc.Digest, argv[0])
	return execWorkload(bin, argv)
}

// pullForRun is run --ref: checks, then a staged pull into --dir.
func pullForRun(cmd *cobra.Command, o runOptions) (*receipt, error) {
	ag, err := newAgent(o.agentOptions)
	if err != nil {
		return nil, err
	}
	rc := &receipt{}
	err = func() error {
		t, repo, r, err := loadRemoteTarget(cmd.Context(), &o.remoteOptions, o.ref)
		if err != nil {
			return err
		}
		rule, err := ag.checkMetadata(t, rc)
		if err != nil {
			return err
		}
		return ag.pullChecked(cmd, o.transferOptions, rule, t, repo, r, o.dir, o.include, rc)
	}()
	rc.Verified = err == nil
	path := o.receipt
	if path == "" {
		path = filepath.Join(o.dir, ".cairn", "receipt.json")
	}
	if werr := writeReceipt(path, rc); werr != nil && err == nil {
		err = fmt.Errorf("write receipt: %w", werr)
	}
	return rc, err
}

// execWorkload replaces this process with the workload: same PID, so the
// signals sent to the container reach it and its exit status is the
// container's. It returns only on failure.
func execWorkload(bin string, argv []string) error {
	if err := syscall.Exec(bin, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	return nil
}
