package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// NewOMSKeypair is NewKeypair with the public-key hint that OpenSSF Model
// Signing's reference implementation writes and checks: the hex SHA-256
// of the public key's PEM (SubjectPublicKeyInfo). Its verifier refuses a
// key-signed bundle whose hint is not the verifying key's, so bundles for
// it must carry this hint rather than cosign's.
func NewOMSKeypair(signer crypto.Signer) (*Keypair, error) {
	kp, err := NewKeypair(signer)
	if err != nil {
		return nil, err
	}
	pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(signer.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pemBytes)
	kp.hint = []byte(hex.EncodeToString(sum[:]))
	return kp, nil
}

// SignOMS signs the manifest of a local model (from oms.Serialize) as an
// OpenSSF Model Signing v1.0 signature, the content of model.sig: m's
// statement (predicate oms.PredicateType) in a DSSE envelope signed by kp,
// in a Sigstore bundle v0.3.
//
// Without chain the bundle names the key by its hint (make kp with
// NewOMSKeypair), as `model_signing sign key` does. With chain (the
// signing certificate first, then intermediates, without the root) the
// bundle carries those certificates as its x509CertificateChain instead,
// as `model_signing sign certificate` does; the first must certify kp's
// public key, and the others must be CA certificates that are not
// self-signed. The reference verifies ECDSA keys only (P-256, P-384,
// P-521); cairn also verifies RSA and Ed25519 signatures.
//
// opts may add transparency logs or timestamp authorities; a certificate
// provider cannot be combined with chain. A bundle larger than
// verify.MaxBundleSize (a model with very many files) is refused, so that
// what SignOMS writes, oms.VerifySignature reads.
func SignOMS(ctx context.Context, kp sign.Keypair, m *oms.Manifest, chain []*x509.Certificate, opts sign.BundleOptions) ([]byte, error) {
	if len(chain) > 0 {
		if opts.CertificateProvider != nil {
			return nil, errors.New("sign model: a certificate chain and a certificate provider cannot both be given")
		}
		if err := checkChain(kp.GetPublicKey(), chain); err != nil {
			return nil, fmt.Errorf("sign model: %w", err)
		}
	}
	st, err := m.Statement()
	if err != nil {
		return nil, fmt.Errorf("sign model: %w", err)
	}
	if opts.Context == nil {
		opts.Context = ctx
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: st, PayloadType: oms.PayloadType}, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("sign model: %w", err)
	}
	if len(chain) > 0 {
		certs := make([]*protocommon.X509Certificate, len(chain))
		for i, c := range chain {
			certs[i] = &protocommon.X509Certificate{RawBytes: c.Raw}
		}
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_X509CertificateChain{
			X509CertificateChain: &protocommon.X509CertificateChain{Certificates: certs},
		}
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign model: %w", err)
	}
	if len(out) > verify.MaxBundleSize {
		return nil, fmt.Errorf("sign model: the signature would be %d bytes, more than the %d a verifier reads (%d resources); sign fewer or larger files",
			len(out), verify.MaxBundleSize, len(m.Resources))
	}
	return out, nil
}

// checkChain checks what a verifier will: the leaf certifies pub, and the
// rest are CA certificates, none self-signed.
func checkChain(pub crypto.PublicKey, chain []*x509.Certificate) error {
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(chain[0].PublicKey) {
		return fmt.Errorf("the signing certificate %q is not for the signing key", chain[0].Subject)
	}
	for _, c := range chain[1:] {
		if !c.IsCA {
			return fmt.Errorf("chain certificate %q is not a CA certificate", c.Subject)
		}
		if bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil {
			return fmt.Errorf("chain certificate %q is self-signed: give only intermediates, the verifier brings the root", c.Subject)
		}
	}
	return nil
}
