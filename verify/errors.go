package verify

import (
	"errors"
	"fmt"
)

// ErrVerification is the root of every failed check: test for it with
// errors.Is to tell "refused" from "could not check".
var ErrVerification = errors.New("verification failed")

// ErrUnsigned is returned, wrapped, when a model has no signature bundle
// at all.
var ErrUnsigned = fmt.Errorf("%w: no signature", ErrVerification)

// ErrUntrustedSignature is returned, wrapped, when a model has signature
// bundles but none verifies, for its manifest digest, with any trusted key.
var ErrUntrustedSignature = fmt.Errorf("%w: no signature verifies with a trusted key", ErrVerification)

// ErrMissingAttestation is returned, wrapped, when no bundle is a verified
// attestation of the predicate type asked for.
var ErrMissingAttestation = fmt.Errorf("%w: no verified attestation", ErrVerification)

// ErrPolicyDenied is returned, wrapped, when a policy refuses a model: no
// rule matches its repository, the rule that matches rejects it, or the
// model fails one of the rule's demands. The message names what was
// expected.
var ErrPolicyDenied = fmt.Errorf("%w: policy denied", ErrVerification)
