package verifytest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"cairn.dev/cairn/attest"
)

// Sigstore is an in-memory Fulcio, Rekor and timestamp authority.
type Sigstore struct {
	VS *ca.VirtualSigstore
	// past is a second Fulcio CA, valid from PastLimit before New to as
	// long after, that issues the certificates of SignStatementAt (the
	// VirtualSigstore's own CA is valid from a few minutes before New).
	past *root.FulcioCertificateAuthority
	// pastKey is past's intermediate key.
	pastKey *ecdsa.PrivateKey
	// created is when New made the Sigstore.
	created time.Time
}

// PastLimit is how far before New (and after) SignStatementAt may sign.
const PastLimit = 30 * 24 * time.Hour

// New returns a fresh Sigstore with its own keys.
func New(t testing.TB) *Sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	s := &Sigstore{VS: vs, created: time.Now()}
	from, to := s.created.Add(-PastLimit), s.created.Add(PastLimit)
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "past-root"}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	if s.pastKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	midTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "past-intermediate"}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true, IsCA: true}
	midDER, err := x509.CreateCertificate(rand.Reader, midTmpl, rootCert, s.pastKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := x509.ParseCertificate(midDER)
	if err != nil {
		t.Fatal(err)
	}
	s.past = &root.FulcioCertificateAuthority{Root: rootCert, Intermediates: []*x509.Certificate{mid}, ValidityPeriodStart: from, ValidityPeriodEnd: to}
	return s
}

// SignStatement signs an in-toto statement keylessly as identity (the
// certificate's e-mail SAN) from issuer, the way cosign does against
// Fulcio and Rekor: a short-lived leaf certificate, a DSSE envelope, a
// Rekor entry with its inclusion proof and signed entry timestamp. It returns the
// bundle's JSON.
func (s *Sigstore) SignStatement(t testing.TB, identity, issuer string, statement []byte) []byte {
	t.Helper()
	cert, priv, err := s.VS.GenerateLeafCert(identity, issuer)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(priv.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.SignStatement(t.Context(), kp, statement, sign.BundleOptions{
		CertificateProvider: fixedCert(cert.Raw),
		TransparencyLogs:    []sign.Transparency{rekor{s.VS, cert, time.Now()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SignStatementAt is SignStatement as it would have happened at a time
// within PastLimit of New: the certificate is valid from then for ten
// minutes and the log entry integrated a minute after. It makes a
// signature that is old (for a policy's maxAge) without waiting.
func (s *Sigstore) SignStatementAt(t testing.TB, identity, issuer string, statement []byte, at time.Time) []byte {
	t.Helper()
	if at.Before(s.created.Add(-PastLimit)) || at.After(s.created.Add(PastLimit)) {
		t.Fatalf("verifytest: SignStatementAt %s: more than %s from %s", at, PastLimit, s.created)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.GenerateLeafCert(identity, issuer, at, priv, s.past.Intermediates[0], s.pastKey)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.SignStatement(t.Context(), kp, statement, sign.BundleOptions{
		CertificateProvider: fixedCert(cert.Raw),
		TransparencyLogs:    []sign.Transparency{rekor{s.VS, cert, at}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TrustedRoot returns the trusted material that verifies what this
// Sigstore signs: its CA, log and timestamp authority. It lists no CT
// logs, because the leaf certificates carry no SCTs.
func (s *Sigstore) TrustedRoot(t testing.TB) *root.TrustedRoot {
	t.Helper()
	// VirtualSigstore's logs carry their ID as hex text rather than bytes;
	// a trusted_root.json must hold the raw key ID that bundles name.
	logs := map[string]*root.TransparencyLog{}
	for id, l := range s.VS.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.ID = raw
		// The log vouches for what SignStatementAt signs in the past too.
		c.ValidityPeriodStart = s.created.Add(-PastLimit)
		logs[id] = &c
	}
	cas := append(s.VS.FulcioCertificateAuthorities(), s.past)
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, s.VS.TimestampingAuthorities(), logs)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TrustedRootJSON returns TrustedRoot as trusted_root.json bytes, for
// --trusted-root.
func (s *Sigstore) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	j, err := s.TrustedRoot(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

type fixedCert []byte

func (c fixedCert) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return c, nil
}

type rekor struct {
	vs   *ca.VirtualSigstore
	cert *x509.Certificate
	at   time.Time // when the signing happens
}

// GetTransparencyLogEntry logs the bundle's DSSE envelope and adds the
// entry, with its inclusion proof, to the bundle.
func (r rekor) GetTransparencyLogEntry(_ context.Context, _ []byte, b *protobundle.Bundle) error {
	env := b.GetDsseEnvelope()
	if env == nil || len(env.Signatures) != 1 {
		return errors.New("rekor double: want a DSSE envelope with one signature")
	}
	sig := env.Signatures[0].Sig
	e := &dsse.Envelope{
		PayloadType: env.PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(env.Payload),
		Signatures:  []dsse.Signature{{KeyID: env.Signatures[0].Keyid, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
	// The leaf is valid from its creation for ten minutes.
	integrated := r.at.Add(time.Minute).Unix()
	entry, err := r.vs.GenerateTlogEntry(r.cert, e, sig, integrated, true)
	if err != nil {
		return err
	}
	// tlog.NewEntry leaves out what a bundle's entry must also carry: the
	// entry's kind and the log's promise (signed entry timestamp), which
	// GenerateTlogEntry computed over the same payload.
	tle := proto.Clone(entry.TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	logID, err := r.vs.RekorLogID()
	if err != nil {
		return err
	}
	set, err := r.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: integrated,
		LogIndex:       tle.LogIndex,
		LogID:          logID,
	})
	if err != nil {
		return err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
	return nil
}

// Marshal is protojson.Marshal, for tests that build bundles by hand.
var Marshal = protojson.Marshal
