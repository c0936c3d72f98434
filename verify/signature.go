package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	intotov1 "github.com/in-toto/attestation/go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	cbundle "cairn.dev/cairn/verify/bundle"
)

// MaxBundleSize is the largest Sigstore bundle, in bytes, that is parsed.
// A key-signed bundle is about 1 KiB; keyless bundles with a certificate
// chain and log entries stay well under 64 KiB; provenance with many
// dependencies can reach a few hundred KiB.
const MaxBundleSize = cbundle.MaxSize

// MaxBundles is the largest number of bundles checked for one model, so
// that a registry cannot make a verifier spend without bound.
const MaxBundles = cbundle.MaxCount

// PredicateCosignSign is the in-toto predicate type of a cosign signature.
const PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"

// PredicateSLSAProvenance is the predicate type of SLSA provenance v1.
const PredicateSLSAProvenance = "https://slsa.dev/provenance/v1"

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

// Identity is a keyless signer: the OIDC issuer and the subject (the
// certificate's SAN: an e-mail address or a workflow URI) of its Fulcio
// certificate, each given exactly or as a regular expression. Exactly one
// of Issuer and IssuerRegexp, and one of Subject and SubjectRegexp, is set.
type Identity struct {
	Issuer, IssuerRegexp   string
	Subject, SubjectRegexp string
}

func (id Identity) String() string {
	s, i := id.Subject, id.Issuer
	if s == "" {
		s = "~" + id.SubjectRegexp
	}
	if i == "" {
		i = "~" + id.IssuerRegexp
	}
	return s + " (" + i + ")"
}

// Matches reports whether a certificate's subject and issuer match id, as
// sigstore-go's certificate identity does (regular expressions unanchored).
// It decides nothing about trust: it is for ordering what is read.
func (id Identity) Matches(subject, issuer string) bool {
	match := func(exact, re, s string) bool {
		if re == "" {
			return exact == s
		}
		ok, err := regexp.MatchString(re, s)
		return err == nil && ok
	}
	return match(id.Subject, id.SubjectRegexp, subject) && match(id.Issuer, id.IssuerRegexp, issuer)
}

// Trust is what bundles are verified against: public keys, and keyless
// identities with the trusted root (Fulcio CAs, Rekor logs, timestamp
// authorities) that vouches for their certificates.
type Trust struct {
	Keys []Key
	// Identities are the trusted keyless signers; Root must be set when
	// there are any.
	Identities []Identity
	Root       root.TrustedMaterial
}

// KeyID is a public key's fingerprint: the hex SHA-256 of its PKIX DER
// encoding, what `cosign` and `openssl pkey -pubin -outform DER | sha256sum`
// print, and what the web UI and receipts show to tell signers apart
// without naming files. An unencodable key gives "".
func KeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Signed is one bundle that verified.
type Signed struct {
	// Signer is the key's name, or the certificate's identity as
	// "subject (issuer)".
	Signer string
	// Keyless is true when Signer is a certificate identity.
	Keyless bool
	// KeyID is the key's fingerprint (see KeyID) for a key signature;
	// empty for a keyless one, which Signer names by its identity.
	KeyID string
	// Statement is the verified in-toto statement.
	Statement *intotov1.Statement
	// Time is the earliest verified timestamp (transparency log or
	// timestamp authority); zero for key-signed bundles, which have none.
	Time time.Time
	// Index is the bundle's position in the slice given.
	Index int
}

// PredicateType is the statement's predicate type.
func (s Signed) PredicateType() string { return s.Statement.GetPredicateType() }

// BuilderID is predicate.runDetails.builder.id of SLSA provenance v1, or
// "" for other statements.
func (s Signed) BuilderID() string {
	return s.Statement.GetPredicate().GetFields()["runDetails"].GetStructValue().GetFields()["builder"].GetStructValue().GetFields()["id"].GetStringValue()
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

// verifier is one way a bundle may verify: a key, or the keyless identities.
type verifier struct {
	name    string // the key's name; empty for keyless
	keyID   string // KeyID of the key; empty for keyless
	v       *sgverify.Verifier
	keyless bool
}

func (t Trust) verifiers() ([]verifier, error) {
	if len(t.Keys) == 0 && len(t.Identities) == 0 {
		return nil, errors.New("no trusted keys or identities given")
	}
	var out []verifier
	for _, k := range t.Keys {
		m, err := k.material()
		if err != nil {
			return nil, err
		}
		v, err := sgverify.NewVerifier(m, sgverify.WithNoObserverTimestamps())
		if err != nil {
			return nil, err
		}
		out = append(out, verifier{name: k.Name, keyID: KeyID(k.Public), v: v})
	}
	if len(t.Identities) > 0 {
		v, err := t.KeylessVerifier()
		if err != nil {
			return nil, err
		}
		out = append(out, verifier{v: v, keyless: true})
	}
	return out, nil
}

// KeylessVerifier returns the sigstore-go verifier of keyless signatures
// against t.Root: a keyless signature counts only with a verified time
// inside the certificate's short life (a log entry or a signed timestamp,
// taken from the bundle, offline); log entries and SCTs are demanded when
// the root lists transparency logs and CT logs.
func (t Trust) KeylessVerifier() (*sgverify.Verifier, error) {
	if t.Root == nil {
		return nil, errors.New("keyless identities need a trusted root")
	}
	opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1)}
	if len(t.Root.RekorLogs()) > 0 {
		opts = append(opts, sgverify.WithTransparencyLog(1))
	}
	if len(t.Root.CTLogs()) > 0 {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	v, err := sgverify.NewVerifier(t.Root, opts...)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	return v, nil
}

// IdentityPolicy returns sigstore-go policy options accepting any of t's
// keyless identities.
func (t Trust) IdentityPolicy() ([]sgverify.PolicyOption, error) {
	var opts []sgverify.PolicyOption
	for _, id := range t.Identities {
		ci, err := sgverify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp)
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", id, err)
		}
		opts = append(opts, sgverify.WithCertificateIdentity(ci))
	}
	return opts, nil
}

// Bundles verifies each bundle as a DSSE in-toto statement about subject's
// digest, signed by one of trust's keys or keyless identities. It returns
// the bundles that verified, and for each that did not, why (errors
// wrapping ErrVerification, naming the bundle by its position from 1).
// The error return is for what is not a verification failure: no trust
// given, more than MaxBundles bundles, an invalid subject digest.
func Bundles(subject ocispec.Descriptor, bundles [][]byte, trust Trust) ([]Signed, []error, error) {
	if len(bundles) > MaxBundles {
		return nil, nil, fmt.Errorf("%d bundles exceed the limit of %d", len(bundles), MaxBundles)
	}
	if err := subject.Digest.Validate(); err != nil {
		return nil, nil, fmt.Errorf("subject: %w", err)
	}
	want, err := hex.DecodeString(subject.Digest.Encoded())
	if err != nil {
		return nil, nil, fmt.Errorf("subject: %w", err)
	}
	verifiers, err := trust.verifiers()
	if err != nil {
		return nil, nil, err
	}
	artifact := sgverify.WithArtifactDigest(subject.Digest.Algorithm().String(), want)
	keyPolicy := sgverify.NewPolicy(artifact, sgverify.WithKey())
	idOpts, err := trust.IdentityPolicy()
	if err != nil {
		return nil, nil, err
	}
	idPolicy := sgverify.NewPolicy(artifact, idOpts...)

	var ok []Signed
	var reasons []error
	for bi, data := range bundles {
		b, err := ParseBundle(data)
		if err != nil {
			reasons = append(reasons, fmt.Errorf("bundle %d: %w", bi+1, err))
			continue
		}
		vc, err := b.VerificationContent()
		if err != nil {
			reasons = append(reasons, fmt.Errorf("bundle %d: %w: %w", bi+1, ErrVerification, err))
			continue
		}
		hasCert := vc.Certificate() != nil
		var bundleReasons []error
		for _, v := range verifiers {
			if v.keyless != hasCert {
				continue
			}
			policy := keyPolicy
			if v.keyless {
				policy = idPolicy
			}
			res, err := v.v.Verify(b, policy)
			if err != nil {
				if !v.keyless && strings.Contains(err.Error(), "failed to verify signature") {
					// sigstore-go says "accepted signatures do not match
					// threshold, Found: 0, Expected 1": another key signed.
					bundleReasons = append(bundleReasons, fmt.Errorf("bundle %d: %w: not signed by key %s (its signature does not verify with that key)", bi+1, ErrVerification, v.name))
					continue
				}
				who := "keyless identities"
				if !v.keyless {
					who = "key " + v.name
				}
				bundleReasons = append(bundleReasons, fmt.Errorf("bundle %d, %s: %w: %w", bi+1, who, ErrVerification, err))
				continue
			}
			s := Signed{Signer: v.name, KeyID: v.keyID, Statement: res.Statement, Index: bi}
			if v.keyless {
				s.Keyless = true
				s.Signer = certIdentity(res)
			}
			for _, ts := range res.VerifiedTimestamps {
				if s.Time.IsZero() || ts.Timestamp.Before(s.Time) {
					s.Time = ts.Timestamp
				}
			}
			ok = append(ok, s)
			bundleReasons = nil
			break
		}
		if len(bundleReasons) == 0 && (len(ok) == 0 || ok[len(ok)-1].Index != bi) {
			if hasCert {
				bundleReasons = append(bundleReasons, fmt.Errorf("bundle %d: %w: signed keylessly (a certificate), and no keyless identity is trusted", bi+1, ErrVerification))
			} else {
				bundleReasons = append(bundleReasons, fmt.Errorf("bundle %d: %w: signed with a key, and no key is trusted", bi+1, ErrVerification))
			}
		}
		reasons = append(reasons, bundleReasons...)
	}
	return ok, reasons, nil
}

// certIdentity names the signer of a keyless bundle.
func certIdentity(res *sgverify.VerificationResult) string {
	c := res.Signature.Certificate
	if c == nil {
		return "certificate"
	}
	return c.SubjectAlternativeName + " (" + c.Issuer + ")"
}

// Verified is the outcome of verifying a model's bundles once: the ones
// that verified, and why each other one did not. Signature, Newest and
// Attestations pick from it without verifying again.
type Verified struct {
	subject ocispec.Descriptor
	n       int
	ok      []Signed
	reasons []error
}

// VerifyAll verifies bundles against trust once (as Bundles does) for the
// picks of Verified. The error is for what is not a verification failure.
func VerifyAll(subject ocispec.Descriptor, bundles [][]byte, trust Trust) (*Verified, error) {
	ok, reasons, err := Bundles(subject, bundles, trust)
	if err != nil {
		return nil, err
	}
	return &Verified{subject: subject, n: len(bundles), ok: ok, reasons: reasons}, nil
}

// Signature returns the first verified cosign signature (predicate
// PredicateCosignSign). No bundles gives ErrUnsigned; bundles of which
// none is such a signature give ErrUntrustedSignature, with each bundle's
// reason.
func (v *Verified) Signature() (Signed, error) {
	if v.n == 0 {
		return Signed{}, fmt.Errorf("%s: %w", v.subject.Digest, ErrUnsigned)
	}
	reasons := v.reasons
	for _, s := range v.ok {
		if s.PredicateType() == PredicateCosignSign {
			return s, nil
		}
		reasons = append(reasons, fmt.Errorf("bundle %d: predicate type %q, not a signature (%s)", s.Index+1, s.PredicateType(), PredicateCosignSign))
	}
	return Signed{}, fmt.Errorf("%s: %w: %w", v.subject.Digest, ErrUntrustedSignature, errors.Join(firstReasons(reasons)...))
}

// maxReasons is how many bundles' reasons a refusal lists; a flood of junk
// bundles would otherwise make it a page long.
const maxReasons = 10

// firstReasons keeps the first maxReasons reasons and counts the rest.
func firstReasons(reasons []error) []error {
	if len(reasons) <= maxReasons {
		return reasons
	}
	out := slices.Clone(reasons[:maxReasons])
	return append(out, fmt.Errorf("and %d more reasons", len(reasons)-maxReasons))
}

// Newest is the latest verified time among the verified bundles of
// predicateType (zero when none has one).
func (v *Verified) Newest(predicateType string) time.Time {
	var t time.Time
	for _, s := range v.ok {
		if s.PredicateType() == predicateType && s.Time.After(t) {
			t = s.Time
		}
	}
	return t
}

// Attestations returns the verified bundles whose statement has
// predicateType. None gives ErrMissingAttestation, with each bundle's
// reason.
func (v *Verified) Attestations(predicateType string) ([]Signed, error) {
	var out []Signed
	for _, s := range v.ok {
		if s.PredicateType() == predicateType {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		if v.n == 0 {
			return nil, fmt.Errorf("%s: %w: %s: no bundles at all", v.subject.Digest, ErrMissingAttestation, predicateType)
		}
		return nil, fmt.Errorf("%s: %w: %s: %w", v.subject.Digest, ErrMissingAttestation, predicateType, errors.Join(v.reasons...))
	}
	return out, nil
}

// Signature checks that at least one of bundles is a cosign signature
// (predicate PredicateCosignSign) of subject's digest by one of trust's
// signers, and returns it: VerifyAll, then Verified.Signature.
func Signature(subject ocispec.Descriptor, bundles [][]byte, trust Trust) (Signed, error) {
	v, err := VerifyAll(subject, bundles, trust)
	if err != nil {
		return Signed{}, fmt.Errorf("verify signature: %w", err)
	}
	return v.Signature()
}

// Attestations returns the verified bundles among bundles whose statement
// has predicateType: VerifyAll, then Verified.Attestations.
func Attestations(subject ocispec.Descriptor, bundles [][]byte, trust Trust, predicateType string) ([]Signed, error) {
	v, err := VerifyAll(subject, bundles, trust)
	if err != nil {
		return nil, fmt.Errorf("verify attestations: %w", err)
	}
	return v.Attestations(predicateType)
}
