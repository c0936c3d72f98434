package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/model"
)

type runOptions struct {
	transferOptions
	agentOptions
	ref     string
	dir     string
	include []string
	exclude []string
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
each checked against its digest as it arrives (archive layers are extracted
member by member), every file is scanned, and only then are they moved into
place. Without --ref, DIR is verified as it is, offline, from what cairn
pull recorded in DIR/.cairn (weights baked into an image): every file is
hashed, nothing unexpected may sit beside them or in DIR/.cairn, every file
is scanned. A rule with transparency: required also needs the registry's
transparency log to prove the reference (online) or the checkpoint and
inclusion proof pull kept in DIR/.cairn to check out (offline).

Who decides, for a directory: the operator. With a policy whose rules
differ by repository, --repository HOST/REPO names the repository whose
rule applies (the directory's own record is not trusted, so without it cairn
exits 2); --digest sha256:... names the manifest DIR must hold (and
satisfies a rule's pinDigest); --include names the subset a partial pull
wrote.

Every file is scanned and gets one of three verdicts: safe (a data-only
format proved safe, or plain JSON or text), unsafe, or not scanned (content
the scanner cannot judge). Unsafe refuses the model unless the rule's
allowUnsafe lists the format; not scanned refuses a weight (by its layer or
its name) unless the rule says allowUnscanned (--allow-unscanned with --key);
a rule's formats list admits only files proved to be of a listed format.

Then CMD replaces cairn in the same process (exec): the workload keeps the
PID, receives the signals sent to the container, and its exit status is the
container's.

On any refusal cairn exits 1 naming the file, digest or signature and what
was expected, runs nothing, and leaves no part of the model's files in DIR.
Exit 2: could not verify (usage, configuration, network). A JSON receipt of
the checks is written to DIR/.cairn/receipt.json (or --receipt).`,
		Example: `  cairn run --policy /etc/cairn/policy.yaml --ref reg.example/models/llama@sha256:4f1c... \
      --dir /models -- python serve.py --model /models
  cairn run --key /etc/cairn/release.pub --dir /models -- ./serve
  cairn run --policy /etc/cairn/policy.yaml --repository reg.example/models/llama \
      --digest sha256:4f1c... --dir /models -- python serve.py`,
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
	f.StringArrayVar(&o.include, "include", nil, "only files whose path matches GLOB (repeatable): with --ref, what to pull; without, the subset DIR holds")
	f.StringArrayVar(&o.exclude, "exclude", nil, "leave out files whose path matches GLOB (repeatable): with --ref, not pulled; without, not in DIR")
	cmd.MarkFlagRequired("dir")
	return cmd
}

func runRun(cmd *cobra.Command, o runOptions, argv []string) error {
	if !o.agentOptions.enabled() {
		return errNoSigners
	}
	if o.ref != "" && o.forRepo != "" {
		return errors.New("--repository is for a directory without --ref; with --ref the reference names the repository")
	}
	if o.ref != "" && o.digest != "" {
		return errors.New("--digest is for a directory without --ref; with --ref name the digest in the reference (REPO@sha256:...)")
	}
	o.include = model.Exclude(o.include, o.exclude)
	if err := model.CheckInclude(o.include); err != nil {
		return err
	}
	// Find the workload before anything is verified, so that a typo is a
	// usage error, not a model refusal.
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("workload %s: %w", argv[0], err)
	}
	ag, err := o.newAgent()
	if err != nil {
		return err
	}
	var rc *agent.Receipt
	if o.ref != "" {
		rc, err = pullChecked(cmd, o.transferOptions, ag, o.ref, o.dir, o.include, false)
	} else {
		var do agent.DirOptions
		if do, err = o.dirOptions(o.include); err != nil {
			return err
		}
		rc, err = ag.CheckDir(cmd.Context(), o.dir, do)
		err = client.ExplainOfflineDir(err, o.dir)
	}
	if err := finishReceipt(cmd, o.agentOptions, o.dir, rc, false, err); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "cairn run: %s@%s verified; starting %s\n", rc.Repository, rc.Digest, argv[0])
	return execWorkload(bin, argv)
}

// pullChecked pulls ref into dir with the agent's checks (client.Pull):
// signatures before any file, then a staged pull, scanned, moved into
// place only when every check passed. With dir empty the files are
// checked in a temporary directory and thrown away (cairn verify REF).
func pullChecked(cmd *cobra.Command, o transferOptions, ag *agent.Agent, ref, dir string, include []string, force bool) (*agent.Receipt, error) {
	repo, err := o.open(ref)
	if err != nil {
		return nil, err
	}
	cache, err := o.openCache()
	if err != nil {
		return nil, err
	}
	target := dir
	if dir == "" {
		if target, err = os.MkdirTemp("", "cairn-verify-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(target)
	}
	res, err := client.Pull(cmd.Context(), repo, target, client.PullOptions{
		Cache: cache, Include: include, Concurrency: o.concurrency, Agent: ag, Progress: newProgress(cmd, "pulling"), Force: force,
	})
	if res != nil && res.Receipt != nil && dir == "" {
		res.Receipt.Dir = ""
	}
	if res == nil {
		return nil, err
	}
	return res.Receipt, err
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
