package verify

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// MaxBundleSize is the largest Sigstore bundle, in bytes, that Signature
// parses. A key-signed bundle is about 1 KiB; keyless bundles with a
// certificate chain and log entries stay well under 64 KiB.
const MaxBundleSize = 4 << 20

// MaxBundles is the largest number of bundles Signature checks for one
// model, so that a registry cannot make a verifier spend without bound.
const MaxBundles = 100

// PredicateCosignSign is the in-toto predicate type of a cosign signature,
// the only one Signature accepts.
const PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"

// Key is a trusted public key and the name a result reports it by (its
// file, say).
type Key struct {
	Name   string
	Public crypto.PublicKey
}

// material returns the key as sigstore-go trusted material. The key is
// returned for any hint: the bundle's hint only names a key, and trust comes
// from the signature verifying.
func (k Key) material() (root.TrustedMaterial, error) {
	v, err := signature.LoadDefaultVerifier(k.Public)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.Name, err)
	}
	ek := root.NewExpiringKey(v, time.Time{}, time.Time{})
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil }), nil
}

// ParseBundle decodes and validates a Sigstore bundle (JSON), refusing one
// larger than MaxBundleSize. Errors wrap ErrVerification.
func ParseBundle(data []byte) (*bundle.Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle of %d bytes exceeds the %d-byte limit", ErrVerification, len(data), MaxBundleSize)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: malformed bundle: %w", ErrVerification, err)
	}
	if b.GetDsseEnvelope() == nil {
		return nil, fmt.Errorf("%w: bundle holds no DSSE envelope", ErrVerification)
	}
	return &b, nil
}

// Signature checks that at least one of bundles is a cosign signature
// (predicate PredicateCosignSign, in a DSSE envelope) of subject's digest,
// made by one of keys, and returns that key. Bundles signed with a key
// carry no timestamp, so key validity periods are not checked.
//
// No bundles gives ErrUnsigned; bundles of which none verifies give
// ErrUntrustedSignature, with each bundle's reason. More than MaxBundles
// bundles, or no keys, is an error that is not a verification failure.
func Signature(subject ocispec.Descriptor, bundles [][]byte, keys []Key) (Key, error) {
	if len(keys) == 0 {
		return Key{}, errors.New("verify signature: no trusted keys given")
	}
	if len(bundles) > MaxBundles {
		return Key{}, fmt.Errorf("verify signature: %d bundles exceed the limit of %d", len(bundles), MaxBundles)
	}
	if len(bundles) == 0 {
		return Key{}, fmt.Errorf("%s: %w", subject.Digest, ErrUnsigned)
	}
	if err := subject.Digest.Validate(); err != nil {
		return Key{}, fmt.Errorf("verify signature: subject: %w", err)
	}
	want, err := hex.DecodeString(subject.Digest.Encoded())
	if err != nil {
		return Key{}, fmt.Errorf("verify signature: subject: %w", err)
	}
	verifiers := make([]*sgverify.Verifier, len(keys))
	for i, k := range keys {
		m, err := k.material()
		if err != nil {
			return Key{}, fmt.Errorf("verify signature: %w", err)
		}
		if verifiers[i], err = sgverify.NewVerifier(m, sgverify.WithNoObserverTimestamps()); err != nil {
			return Key{}, fmt.Errorf("verify signature: %w", err)
		}
	}
	policy := sgverify.NewPolicy(sgverify.WithArtifactDigest(subject.Digest.Algorithm().String(), want), sgverify.WithKey())
	var reasons []error
	for bi, data := range bundles {
		b, err := ParseBundle(data)
		if err != nil {
			reasons = append(reasons, fmt.Errorf("bundle %d: %w", bi+1, err))
			continue
		}
		for i, v := range verifiers {
			res, err := v.Verify(b, policy)
			if err != nil {
				reasons = append(reasons, fmt.Errorf("bundle %d, key %s: %w", bi+1, keys[i].Name, err))
				continue
			}
			if pt := res.Statement.GetPredicateType(); pt != PredicateCosignSign {
				reasons = append(reasons, fmt.Errorf("bundle %d, key %s: predicate type %q, want %q", bi+1, keys[i].Name, pt, PredicateCosignSign))
				continue
			}
			return keys[i], nil
		}
	}
	return Key{}, fmt.Errorf("%s: %w: %w", subject.Digest, ErrUntrustedSignature, errors.Join(reasons...))
}
