package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/scan"
)

// Receipt records what the agent checked (see the package documentation
// for its JSON contract).
type Receipt struct {
	Verified   bool          `json:"verified"`
	Reference  string        `json:"reference,omitempty"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Dir        string        `json:"dir,omitempty"`
	Policy     string        `json:"policy"`
	Rule       string        `json:"rule,omitempty"`
	Checks     []Check       `json:"checks"`
	Signature  *SignedInfo   `json:"signature,omitempty"`
	// Attestations are the verified attestations the policy required.
	Attestations []SignedInfo `json:"attestations,omitempty"`
	Files        []FileResult `json:"files,omitempty"`
	// Refusal is why the model was refused; empty when verified.
	Refusal string    `json:"refusal,omitempty"`
	Time    time.Time `json:"time"`
}

// Check is one step of the agent.
type Check struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// SignedInfo is a verified bundle.
type SignedInfo struct {
	PredicateType string `json:"predicateType"`
	Signer        string `json:"signer"`
	// KeyID is the signing key's fingerprint (verify.KeyID); empty for
	// keyless signatures.
	KeyID     string        `json:"keyId,omitempty"`
	Keyless   bool          `json:"keyless,omitempty"`
	Time      *time.Time    `json:"time,omitempty"`
	Referrer  digest.Digest `json:"referrer"`
	BuilderID string        `json:"builderId,omitempty"`
}

// FileResult is one file's digest check and scan.
type FileResult struct {
	Path   string        `json:"path"`
	Size   int64         `json:"size"`
	Digest digest.Digest `json:"digest,omitempty"`
	// Layer is the digest of the archive layer a member came from.
	Layer digest.Digest `json:"layer,omitempty"`
	// Hashed is true when the file was read and hashed here; false when it
	// was checked as it streamed (or, for a member, as its layer did).
	Hashed bool `json:"hashed"`
	// Weight is true when the file is treated as weights (model.IsWeight).
	Weight   bool           `json:"weight"`
	Format   string         `json:"format,omitempty"`
	Variant  string         `json:"variant,omitempty"`
	Wrappers []string       `json:"wrappers,omitempty"`
	Verdict  scan.Verdict   `json:"verdict,omitempty"`
	Safe     bool           `json:"safe"`
	Findings []scan.Finding `json:"findings,omitempty"`
}

func (r *Receipt) pass(check, detail string) {
	r.Checks = append(r.Checks, Check{Check: check, OK: true, Detail: detail})
}

// fail records a failed check and returns err; a refusal (an error
// wrapping verify.ErrVerification) is also the receipt's Refusal.
// Fail records that check failed with err (a refusal when err wraps
// verify.ErrVerification) and returns err: for checks made outside the
// agent, as a client's proof from a registry's transparency log.
func (r *Receipt) Fail(check string, err error) error { return r.fail(check, err) }

func (r *Receipt) fail(check string, err error) error {
	r.Checks = append(r.Checks, Check{Check: check, OK: false, Detail: err.Error()})
	if errors.Is(err, verify.ErrVerification) {
		r.Refusal = err.Error()
	}
	return err
}

// Write writes the receipt as indented JSON to path, by a temporary file
// and a rename, stamping its Time.
func (r *Receipt) Write(path string) error {
	r.Time = time.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write receipt: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write receipt: %w", err)
	}
	return nil
}
