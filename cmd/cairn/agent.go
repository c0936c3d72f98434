package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

// agentOptions are the flags of the commands that apply the verification
// agent's checks (package verify/agent): verify, run, pull --policy.
type agentOptions struct {
	trustOptions
	policy         string // --policy FILE
	forRepo        string // --repository: the HOST/REPO whose rule applies to a directory
	digest         string // --digest: the manifest digest a directory must hold
	receipt        string // --receipt FILE
	allowUnscanned bool   // --allow-unscanned (signers on the command line only)
}

func (o *agentOptions) addFlags(cmd *cobra.Command) {
	o.trustOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.policy, "policy", "", "policy file (YAML): who must have signed, required attestations, allowed formats")
	f.StringVar(&o.forRepo, "repository", "", "directory: the HOST/REPO whose policy rule applies (required with a policy whose rules differ by repository)")
	f.StringVar(&o.digest, "digest", "", "directory: the manifest digest (sha256:...) the directory must hold; what a rule's pinDigest asks for")
	f.StringVar(&o.receipt, "receipt", "", "write the JSON receipt of the checks here (default DIR/.cairn/receipt.json for a directory; a new $TMPDIR/cairn-receipt-*.json when DIR is read-only)")
	f.BoolVar(&o.allowUnscanned, "allow-unscanned", false, "with --key or keyless flags: accept weight files whose content the scanner cannot judge (a policy says allowUnscanned instead)")
}

// enabled reports whether any signer or policy was given.
func (o agentOptions) enabled() bool { return o.policy != "" || o.trustOptions.given() }

// newAgent builds the agent from --policy, or from the trust flags (a
// one-rule policy for any repository).
func (o agentOptions) newAgent() (*agent.Agent, error) {
	if o.policy != "" {
		if o.trustOptions.given() {
			return nil, errors.New("give --policy or --key and the keyless flags, not both: the policy names its signers")
		}
		if o.allowUnscanned {
			return nil, errors.New("--allow-unscanned is for signers given on the command line; a policy rule says allowUnscanned: true")
		}
		p, err := verify.LoadPolicy(o.policy)
		if err != nil {
			return nil, err
		}
		// A rule that requires the transparency log and names no logKey
		// checks checkpoints with the key pinned for the registry.
		return &agent.Agent{Policy: p, LogKey: client.PinnedLogKey}, nil
	}
	t, err := o.trust()
	if err != nil {
		return nil, err
	}
	p := verify.SignersRule(t, o.trustedRoot)
	p.Rules[0].AllowUnscanned = o.allowUnscanned
	return &agent.Agent{Policy: p}, nil
}

// dirOptions are what the operator named for a directory check.
func (o agentOptions) dirOptions(include []string) (agent.DirOptions, error) {
	d := agent.DirOptions{Repository: o.forRepo, Include: include}
	if o.digest != "" {
		dg, err := digest.Parse(o.digest)
		if err != nil {
			return d, fmt.Errorf("--digest %q: %w", o.digest, err)
		}
		d.Digest = dg
	}
	return d, nil
}

// agentErr maps the agent's refusals to exit status 1.
func agentErr(err error) error {
	if err != nil && errors.Is(err, verify.ErrVerification) {
		return refused(err)
	}
	return err
}

// saveReceipt writes rc to --receipt, or to DIR/.cairn/receipt.json when
// dir is set. A read-only model directory (a volume mounted read-only, as
// the serving container of the README's Kubernetes example has it) is no
// reason to refuse a verified model: the default receipt then goes to a
// new file in the temporary directory ($TMPDIR, named on stderr), and when
// that cannot be written either it is skipped with a note. An explicit
// --receipt that cannot be written is an error.
func saveReceipt(cmd *cobra.Command, o agentOptions, dir string, rc *agent.Receipt) error {
	path := o.receipt
	if path == "" {
		if dir == "" {
			return nil
		}
		path = filepath.Join(dir, agent.MetaDir, agent.ReceiptFile)
	}
	err := rc.Write(path)
	if err == nil || o.receipt != "" || !(errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission)) {
		return err
	}
	// A new file of our own (CreateTemp: O_EXCL, a random name), never a
	// fixed name in a shared directory.
	f, terr := os.CreateTemp("", "cairn-receipt-*.json")
	if terr == nil {
		fallback := f.Name()
		f.Close()
		if terr = rc.Write(fallback); terr == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: %s is read-only; receipt written to %s (give --receipt FILE to choose)\n", dir, fallback)
			return nil
		}
		os.Remove(fallback)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "note: receipt not written (%v; %v); give --receipt FILE to keep it\n", err, terr)
	return nil
}

// finishReceipt records the outcome err of the agent's checks in rc,
// saves it (saveReceipt) and prints it (printReceipt), and returns err, or
// the first error of saving and printing, mapped to exit codes by agentErr.
func finishReceipt(cmd *cobra.Command, o agentOptions, dir string, rc *agent.Receipt, asJSON bool, err error) error {
	if rc != nil {
		rc.Verified = err == nil
		if werr := saveReceipt(cmd, o, dir, rc); werr != nil && err == nil {
			err = werr
		}
		if perr := printReceipt(cmd, rc, asJSON); perr != nil && err == nil {
			err = perr
		}
	}
	return agentErr(err)
}

// printReceipt tells the user the outcome: every check on stderr, and with
// asJSON the receipt on stdout.
func printReceipt(cmd *cobra.Command, rc *agent.Receipt, asJSON bool) error {
	if rc == nil || len(rc.Checks) == 0 {
		return nil
	}
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rc)
	}
	w := cmd.ErrOrStderr()
	for _, c := range rc.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, c.Check, clean(c.Detail))
	}
	if rc.Verified {
		by := ""
		if rc.Signature != nil {
			by = " signed by " + clean(rc.Signature.Signer)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "verified: %s@%s%s\n", rc.Repository, rc.Digest, by)
	}
	return nil
}
