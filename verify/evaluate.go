package verify

import (
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Step is one check of a rule's evaluation that passed, in order.
type Step struct {
	Check  string // "signature", "signature age", "attestation <type>"
	Detail string
}

// Evaluation is what Evaluate found: the checks that passed, the one that
// failed (when it failed), and the bundles that satisfied the rule.
type Evaluation struct {
	Steps []Step
	// Failed names the check that refused the model or could not be made.
	Failed string
	// Signature is the verified signature; Attestations the verified
	// attestation chosen for each of the rule's Attestations, in order.
	Signature    *Signed
	Attestations []Signed
}

// Evaluate applies the rule's signature checks to a model's bundles, in
// the order the verification agent and the registry's pull gate both use:
// a signature of subject's digest by one of the rule's signers; the newest
// such signature no older than MaxAge at now; each required attestation,
// from the required builder. The bundles are verified once. A refusal
// wraps ErrVerification; another error means the check could not be made.
// The reference and the files are checked by CheckDigest and CheckFormat.
func (r *Rule) Evaluate(subject ocispec.Descriptor, bundles [][]byte, now time.Time) (*Evaluation, error) {
	ev := &Evaluation{Failed: "signature"}
	v, err := VerifyAll(subject, bundles, r.Trust())
	if err != nil {
		return ev, fmt.Errorf("verify signature: %w", err)
	}
	sig, err := v.Signature()
	if err != nil {
		return ev, err
	}
	ev.Signature = &sig
	ev.Steps = append(ev.Steps, Step{"signature", "signed by " + sig.Signer})

	if r.MaxAge > 0 {
		ev.Failed = "signature age"
		newest := v.Newest(PredicateCosignSign)
		if err := r.CheckAge(newest, now); err != nil {
			return ev, err
		}
		ev.Steps = append(ev.Steps, Step{"signature age", "signed " + newest.UTC().Format(time.RFC3339)})
	}

	for _, req := range r.Attestations {
		ev.Failed = "attestation " + req.Type
		atts, err := v.Attestations(req.Type)
		if err != nil {
			return ev, err
		}
		var found *Signed
		var builders []string
		for i := range atts {
			b := atts[i].BuilderID()
			if req.BuilderID == "" || b == req.BuilderID {
				found = &atts[i]
				break
			}
			builders = append(builders, fmt.Sprintf("%q", b))
		}
		if found == nil {
			return ev, r.denied("%s: the policy requires builder id %q; the verified provenance names %s", req.Type, req.BuilderID, strings.Join(builders, ", "))
		}
		ev.Attestations = append(ev.Attestations, *found)
		detail := "signed by " + found.Signer
		if req.BuilderID != "" {
			detail += ", builder " + req.BuilderID
		}
		ev.Steps = append(ev.Steps, Step{ev.Failed, detail})
	}
	ev.Failed = ""
	return ev, nil
}
