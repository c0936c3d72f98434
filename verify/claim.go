package verify

import (
	"encoding/base64"
	"encoding/hex"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Claim is who a bundle says signed it, read without verifying anything:
// what a page may show beside "not checked", never a reason to trust.
type Claim struct {
	// KeyID is the key's fingerprint (see KeyID) when the bundle's public
	// key hint is one, as cosign and cairn write it (the base64 SHA-256 of
	// the PKIX DER key).
	KeyID string
	// Hint is the public key hint as written, when it is not a KeyID (an
	// OpenSSF Model Signing hint, say).
	Hint string
	// Identity is the certificate's "subject (issuer)" for a keyless
	// bundle.
	Identity string
}

// ClaimedSigner returns the signer a bundle names: its public key hint, or
// its certificate's identity. Nothing is verified; a bundle that does not
// parse gives the zero Claim.
func ClaimedSigner(data []byte) Claim {
	b, err := ParseBundle(data)
	if err != nil {
		return Claim{}
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return Claim{}
	}
	if cert := vc.Certificate(); cert != nil {
		s, err := certificate.SummarizeCertificate(cert)
		if err != nil {
			return Claim{Identity: "an unreadable certificate"}
		}
		return Claim{Identity: s.SubjectAlternativeName + " (" + s.Issuer + ")"}
	}
	pk := vc.PublicKey()
	if pk == nil {
		return Claim{}
	}
	hint := pk.Hint()
	if raw, err := base64.StdEncoding.DecodeString(hint); err == nil && len(raw) == 32 {
		return Claim{KeyID: hex.EncodeToString(raw)}
	}
	return Claim{Hint: hint}
}
