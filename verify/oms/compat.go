package oms

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// verifyV01 checks a model_signing v0.2 signature (predicate
// PredicateTypeV01) the way the reference implementation's compatibility
// path does: v0.2 computed the DSSE pre-authentication encoding wrongly
// (paeV01), and for certificates hashed it with SHA-256 whatever the key.
// The certificate chain is still checked by sigstore-go's certificate
// authority (FulcioCertificateAuthority.Verify, at the current time, with
// the bundle's intermediates); only the signature over the envelope is
// checked here. Keyless bundles have no such path.
func verifyV01(b *bundle.Bundle, vc verify.VerificationContent, c checker) error {
	env := b.GetDsseEnvelope()
	sig := env.Signatures[0].Sig
	pae := paeV01(env.Payload)
	var pub *ecdsa.PublicKey
	h := sha256.New()
	switch c.kind {
	case byKey:
		k, ok := c.key.Public.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("v0.2 signatures are ECDSA")
		}
		pub, h = k, hashFor(k)
	case byCA:
		leaf := vc.Certificate()
		ca := *c.ca
		ca.Intermediates = vc.Intermediates()
		if _, err := ca.Verify(leaf, time.Now()); err != nil {
			return fmt.Errorf("certificate chain: %w", err)
		}
		if err := checkSigningUsage(leaf); err != nil {
			return err
		}
		k, ok := leaf.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("v0.2 signatures are ECDSA")
		}
		pub = k
	default:
		return errors.New("keyless v0.2 signatures have no compatibility path")
	}
	h.Write(pae)
	if !ecdsa.VerifyASN1(pub, h.Sum(nil), sig) {
		return errors.New("the v0.2 signature does not verify")
	}
	return nil
}

// paeV01 is model_signing v0.2's DSSE pre-authentication encoding, which
// formatted the payload bytes with Python's repr (b'...') into a string:
// "DSSEV1 <len(type)> <type> <len(payload)> b'<payload, escaped>'".
func paeV01(payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEV1 %d %s %d %s", len(PayloadType), PayloadType, len(payload), pyBytesRepr(payload))
}

// pyBytesRepr is Python 3's repr of a bytes object.
func pyBytesRepr(b []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	var s strings.Builder
	s.WriteByte('b')
	s.WriteByte(quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c == '\t':
			s.WriteString(`\t`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\r':
			s.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&s, `\x%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	s.WriteByte(quote)
	return s.String()
}

// hashFor is the hash the reference pairs with an ECDSA key's curve.
func hashFor(pub *ecdsa.PublicKey) hash.Hash {
	switch pub.Curve {
	case elliptic.P384():
		return sha512.New384()
	case elliptic.P521():
		return sha512.New()
	}
	return sha256.New()
}
