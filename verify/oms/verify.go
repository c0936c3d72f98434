package oms

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"cairn.dev/cairn/verify"
)

// CA is a certificate trusted as the anchor of signatures made with a key
// and a certificate chain, and the name messages give it (its file, say).
type CA struct {
	Name string
	Cert *x509.Certificate
}

// Trust is what an OMS signature may be verified against: public keys and
// keyless identities with their trusted root (verify.Trust), and
// certificate authorities.
type Trust struct {
	verify.Trust
	// CAs are trust anchors for bundles that carry a certificate chain
	// (`model_signing sign certificate`): the leaf must chain to one of
	// them, through the intermediates the bundle carries, and be valid
	// now; it must allow digital signatures (key usage) or code signing
	// (extended key usage). No identity is checked: the reference
	// implementation's leaves need not name anyone.
	CAs []CA
}

// Signed is a verified OMS signature.
type Signed struct {
	// Manifest is what the signature covers.
	Manifest *Manifest
	// Signer names who signed: "key NAME", "certificate SUBJECT (CA NAME)"
	// or, keyless, "SUBJECT (ISSUER)".
	Signer string
	// Time is the earliest verified timestamp (transparency log or
	// timestamp authority); zero when there is none, as for key and
	// certificate-chain signatures.
	Time time.Time
}

type kind int

const (
	byKey kind = iota
	byCA
	keyless
)

// checker is one way a bundle may verify.
type checker struct {
	name   string
	kind   kind
	v      *sgverify.Verifier // keys and keyless
	policy []sgverify.PolicyOption
	ca     *root.FulcioCertificateAuthority // byCA
	tm     root.TrustedMaterial             // byCA: the CA as a trusted root
	key    verify.Key                       // byKey
}

func (t Trust) checkers() ([]checker, error) {
	var out []checker
	for _, k := range t.Keys {
		sv, err := signature.LoadDefaultVerifier(k.Public)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.Name, err)
		}
		ek := root.NewExpiringKey(sv, time.Time{}, time.Time{})
		// The key is returned for any hint: the hint only names a key
		// (the reference writes the hex SHA-256 of its PEM, cosign the
		// base64 SHA-256 of its DER), and trust comes from the signature.
		m := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
		v, err := sgverify.NewVerifier(m, sgverify.WithNoObserverTimestamps())
		if err != nil {
			return nil, err
		}
		out = append(out, checker{name: "key " + k.Name, kind: byKey, v: v, policy: []sgverify.PolicyOption{sgverify.WithKey()}, key: k})
	}
	for _, ca := range t.CAs {
		if ca.Cert == nil {
			return nil, fmt.Errorf("CA %s: no certificate", ca.Name)
		}
		fca := &root.FulcioCertificateAuthority{Root: ca.Cert}
		tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fca}, nil, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("CA %s: %w", ca.Name, err)
		}
		out = append(out, checker{name: "CA " + ca.Name, kind: byCA, ca: fca, tm: tr})
	}
	if len(t.Identities) > 0 {
		v, err := t.KeylessVerifier()
		if err != nil {
			return nil, err
		}
		policy, err := t.IdentityPolicy()
		if err != nil {
			return nil, err
		}
		out = append(out, checker{name: "keyless identity " + identities(t.Identities), kind: keyless, v: v, policy: policy})
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to verify against: no public key, certificate authority or keyless identity is trusted")
	}
	return out, nil
}

func identities(ids []verify.Identity) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += " or "
		}
		s += id.String()
	}
	return s
}

// VerifySignature parses model.sig (ParseBundle, then ParseStatement on
// its payload) and verifies its signature with sigstore-go against trust:
// a key-signed bundle against each of trust's keys, a bundle with a
// certificate against each CA and against the keyless identities (whose
// certificates are checked at the times the bundle's log entries and
// timestamps prove, offline). The statement's subject must be the digest
// of its resources. It returns the signed manifest; it does not look at
// any model.
//
// Malformed input gives an error wrapping ErrMalformed; a signature that
// verifies with nothing trusted, ErrUntrusted with each check's reason.
// An empty trust is an error that is not a verification failure.
func VerifySignature(data []byte, trust Trust) (*Signed, error) {
	checkers, err := trust.checkers()
	if err != nil {
		return nil, err
	}
	b, err := ParseBundle(data)
	if err != nil {
		return nil, err
	}
	m, err := ParseStatement(b.GetDsseEnvelope().Payload)
	if err != nil {
		return nil, err
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	leaf := vc.Certificate()
	digest := m.Digest()
	if m.legacy && len(m.Resources) > 0 {
		// A v0.2 statement has a subject per file and no manifest digest.
		digest = m.Resources[0].Digest
	}
	var reasons []error
	tried := false
	for _, c := range checkers {
		if (c.kind == byKey) != (leaf == nil) {
			continue
		}
		tried = true
		var res *sgverify.VerificationResult
		switch c.kind {
		case byCA:
			err = c.verifyChain(b, vc, digest)
		default:
			res, err = c.v.Verify(b, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", digest), c.policy...))
		}
		if err != nil && m.legacy && c.kind != keyless {
			if lerr := verifyV01(b, vc, c); lerr == nil {
				err = nil
			} else {
				err = fmt.Errorf("%w; as a v0.2 signature: %w", err, lerr)
			}
		}
		if err != nil {
			reasons = append(reasons, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		out := &Signed{Manifest: m, Signer: signer(c, leaf, res)}
		if res != nil {
			out.Time = earliest(res)
		}
		return out, nil
	}
	if !tried {
		if leaf == nil {
			hint := ""
			if h := vc.PublicKey().Hint(); h != "" {
				hint = fmt.Sprintf(" (hint %q)", truncate(h))
			}
			return nil, fmt.Errorf("%w: signed with a key%s, and no public key is trusted", ErrUntrusted, hint)
		}
		return nil, fmt.Errorf("%w: signed with a certificate (subject %q, issuer %q), and neither a certificate authority nor a keyless identity is trusted",
			ErrUntrusted, truncate(leaf.Subject.String()), truncate(leaf.Issuer.String()))
	}
	return nil, fmt.Errorf("%w: %w", ErrUntrusted, errors.Join(reasons...))
}

// verifyChain checks a bundle with a certificate chain against c's CA
// with sigstore-go's parts: the CA's Verify builds the chain from the
// leaf through the bundle's intermediates at the current time (requiring
// the code-signing usage when usages are listed), and
// VerifySignatureWithArtifactDigests checks the DSSE signature with the
// leaf's key and that the statement's subject is digest. (sigstore-go's
// Verifier would also demand a subject alternative name, which the
// reference's certificates need not have.)
func (c checker) verifyChain(b *bundle.Bundle, vc sgverify.VerificationContent, digest []byte) error {
	leaf := vc.Certificate()
	ca := *c.ca
	ca.Intermediates = vc.Intermediates()
	if _, err := ca.Verify(leaf, time.Now()); err != nil {
		return fmt.Errorf("certificate %q does not chain to the CA %q: %w", truncate(leaf.Subject.String()), truncate(c.ca.Root.Subject.String()), err)
	}
	if err := checkSigningUsage(leaf); err != nil {
		return err
	}
	sc, err := b.SignatureContent()
	if err != nil {
		return err
	}
	return sgverify.VerifySignatureWithArtifactDigests(sc, vc, c.tm, []sgverify.ArtifactDigest{{Algorithm: "sha256", Digest: digest}})
}

// checkSigningUsage requires what the reference implementation requires
// of a leaf certificate: the digitalSignature key usage or the codeSigning
// extended key usage. (x509 verification already refused a leaf whose
// extended key usages exclude code signing.)
func checkSigningUsage(leaf *x509.Certificate) error {
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature != 0 || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return nil
	}
	return fmt.Errorf("certificate %q may not sign: it has neither the digitalSignature key usage nor the codeSigning extended key usage", truncate(leaf.Subject.String()))
}

func signer(c checker, leaf *x509.Certificate, res *sgverify.VerificationResult) string {
	switch c.kind {
	case byCA:
		return fmt.Sprintf("certificate %q (%s)", leaf.Subject.String(), c.name)
	case keyless:
		if res != nil && res.Signature != nil && res.Signature.Certificate != nil {
			return res.Signature.Certificate.SubjectAlternativeName + " (" + res.Signature.Certificate.Issuer + ")"
		}
	}
	return c.name
}

func earliest(res *sgverify.VerificationResult) time.Time {
	var t time.Time
	for _, ts := range res.VerifiedTimestamps {
		if ts.Type == "CurrentTime" {
			continue
		}
		if t.IsZero() || ts.Timestamp.Before(t) {
			t = ts.Timestamp
		}
	}
	return t
}

// Options are the model-side settings of Verify.
type Options struct {
	// IgnorePaths are slash paths relative to the model directory left out
	// besides those the signature records and DefaultIgnorePaths; the
	// signature file, when it lies inside the model, belongs here.
	IgnorePaths []string
	// Hash tunes hashing.
	Hash verify.HashOptions
}

// Verify checks the model at path (a directory, or a single file) against
// its OMS signature sig: VerifySignature, then Serialize with the
// signature's own serialization (method, hash type, shard size, symlinks)
// and ignore paths plus opts.IgnorePaths and those of DefaultIgnorePaths
// that cover no signed file, then Compare. The model is read only once the
// signature verifies.
//
// A model that differs gives a *MismatchError (wrapping ErrModelMismatch)
// naming each changed file with both digests, and each missing or
// uncovered file; a model holding a file that cannot be signed (a
// symlink, say) also wraps ErrModelMismatch. A signature this package
// cannot check wraps ErrUnsupported.
func Verify(ctx context.Context, path string, sig []byte, trust Trust, opts Options) (*Signed, error) {
	signed, err := VerifySignature(sig, trust)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && len(signed.Manifest.Resources) > 0 {
		switch file := singleFile(signed.Manifest); {
		case file && fi.IsDir():
			return nil, fmt.Errorf("%w: the signature covers a single file, and %s is a directory", ErrModelMismatch, path)
		case !file && !fi.IsDir():
			return nil, fmt.Errorf("%w: the signature covers a directory (%d resources), and %s is a single file", ErrModelMismatch, len(signed.Manifest.Resources), path)
		}
	}
	s := signed.Manifest.Serialization
	s.IgnorePaths = verifyIgnores(signed.Manifest, opts.IgnorePaths)
	got, err := Serialize(ctx, path, s, opts.Hash)
	if errors.Is(err, ErrUnsupportedFile) || errors.Is(err, ErrTooMany) {
		return nil, fmt.Errorf("%w: %w", ErrModelMismatch, err)
	}
	if err != nil {
		return nil, err
	}
	if err := Compare(signed.Manifest, got); err != nil {
		return nil, err
	}
	return signed, nil
}

// singleFile reports whether m's resources are those of a single-file
// model: "." or, for shards, ".:start:end".
func singleFile(m *Manifest) bool {
	for _, r := range m.Resources {
		if resourcePath(m.Serialization, r.Name) != "." {
			return false
		}
	}
	return true
}

// resourcePath is the file a resource name is about.
func resourcePath(s Serialization, name string) string {
	if s.method() == MethodShards {
		name, _, _ = cutLast(name, ":")
		name, _, _ = cutLast(name, ":")
	}
	return name
}

// verifyIgnores is what Verify leaves out of the model: extra, the
// signature's recorded ignore paths that are valid, and the default ones
// unless the signature covers a file at or under them.
func verifyIgnores(m *Manifest, extra []string) []string {
	out := slices.Clone(extra)
	for _, p := range m.Serialization.IgnorePaths {
		if validPath(p) && p != "." {
			out = append(out, p)
		}
	}
	for _, d := range DefaultIgnorePaths {
		covered := false
		for _, r := range m.Resources {
			if ignored(resourcePath(m.Serialization, r.Name), []string{d}) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, d)
		}
	}
	return sortedUnique(out)
}
