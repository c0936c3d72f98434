package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/verifytest"
)

const (
	identity = "trainer@example.com"
	issuer   = "https://accounts.example.com"
)

var (
	subject = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("model"), Size: 5}
	other   = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: 5}
)

// statement is an in-toto Statement v1 about d.
func statement(d digest.Digest, predicateType string) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"reg.example/m","digest":{%q:%q}}],"predicateType":%q,"predicate":{}}`,
		d.Algorithm(), d.Encoded(), predicateType)
}

// signed returns a key-signed bundle (no log entry, no timestamp) over c.
func signed(t testing.TB, kp sign.Keypair, c sign.Content) []byte {
	t.Helper()
	b, err := sign.Bundle(c, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func dsse(st []byte) sign.Content {
	return &sign.DSSEData{Data: st, PayloadType: "application/vnd.in-toto+json"}
}

func newKeypair(t testing.TB) *sign.EphemeralKeypair {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestSignature(t *testing.T) {
	right, wrong := newKeypair(t), newKeypair(t)
	rightKey := verify.Key{Name: "right.pub", Public: right.GetPublicKey()}
	wrongKey := verify.Key{Name: "wrong.pub", Public: wrong.GetPublicKey()}
	good := signed(t, right, dsse(statement(subject.Digest, verify.PredicateCosignSign)))
	for _, tc := range []struct {
		name    string
		bundles [][]byte
		keys    []verify.Key
		want    error // nil: verified by rightKey
	}{
		{"signed", [][]byte{good}, []verify.Key{rightKey}, nil},
		{"second key", [][]byte{good}, []verify.Key{wrongKey, rightKey}, nil},
		{"bad then good bundle", [][]byte{[]byte("{}"), good}, []verify.Key{rightKey}, nil},
		{"unsigned", nil, []verify.Key{rightKey}, verify.ErrUnsigned},
		{"wrong key", [][]byte{good}, []verify.Key{wrongKey}, verify.ErrUntrustedSignature},
		{"other digest", [][]byte{signed(t, right, dsse(statement(other.Digest, verify.PredicateCosignSign)))}, []verify.Key{rightKey}, verify.ErrUntrustedSignature},
		{"other predicate", [][]byte{signed(t, right, dsse(statement(subject.Digest, "https://slsa.dev/provenance/v1")))}, []verify.Key{rightKey}, verify.ErrUntrustedSignature},
		{"message signature", [][]byte{signed(t, right, &sign.PlainData{Data: []byte("model")})}, []verify.Key{rightKey}, verify.ErrUntrustedSignature},
		{"malformed", [][]byte{[]byte(`{"mediaType":`)}, []verify.Key{rightKey}, verify.ErrUntrustedSignature},
		{"oversized", [][]byte{append(bytes.Repeat([]byte(" "), verify.MaxBundleSize), good...)}, []verify.Key{rightKey}, verify.ErrUntrustedSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := verify.Signature(subject, tc.bundles, verify.Trust{Keys: tc.keys})
			if tc.want == nil {
				if err != nil || s.Signer != rightKey.Name || s.Keyless {
					t.Fatalf("got %+v, %v; want %q", s, err, rightKey.Name)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignature_NotAVerificationFailure(t *testing.T) {
	kp := newKeypair(t)
	good := signed(t, kp, dsse(statement(subject.Digest, verify.PredicateCosignSign)))
	if _, err := verify.Signature(subject, [][]byte{good}, verify.Trust{}); err == nil || errors.Is(err, verify.ErrVerification) {
		t.Errorf("no keys: %v", err)
	}
	many := make([][]byte, verify.MaxBundles+1)
	if _, err := verify.Signature(subject, many, verify.Trust{Keys: []verify.Key{{Name: "k", Public: kp.GetPublicKey()}}}); err == nil || errors.Is(err, verify.ErrVerification) {
		t.Errorf("too many bundles: %v", err)
	}
}

// FuzzVerifyBundle feeds arbitrary bytes to bundle parsing and signature
// verification: they must return, never panic.
func FuzzVerifyBundle(f *testing.F) {
	kp := newKeypair(f)
	vs := verifytest.New(f)
	trust := verify.Trust{
		Keys:       []verify.Key{{Name: "k", Public: kp.GetPublicKey()}},
		Identities: []verify.Identity{{Issuer: issuer, Subject: identity}},
		Root:       vs.TrustedRoot(f),
	}
	f.Add(vs.SignStatement(f, identity, issuer, statement(subject.Digest, verify.PredicateCosignSign)))
	f.Add(signed(f, kp, dsse(statement(subject.Digest, verify.PredicateCosignSign))))
	f.Add(signed(f, kp, &sign.PlainData{Data: []byte("model")}))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		verify.ParseBundle(data)
		verify.Signature(subject, [][]byte{data}, trust)
		verify.Attestations(subject, [][]byte{data}, trust, verify.PredicateSLSAProvenance)
	})
}

func TestSignature_Keyless(t *testing.T) {
	vs, otherVS := verifytest.New(t), verifytest.New(t)
	good := vs.SignStatement(t, identity, issuer, statement(subject.Digest, verify.PredicateCosignSign))
	right := verify.Identity{Issuer: issuer, Subject: identity}
	kp := newKeypair(t)
	for _, tc := range []struct {
		name    string
		bundles [][]byte
		trust   verify.Trust
		want    error // nil: verified as identity
	}{
		{"right identity", [][]byte{good}, verify.Trust{Identities: []verify.Identity{right}, Root: vs.TrustedRoot(t)}, nil},
		{"regexp identity", [][]byte{good}, verify.Trust{Identities: []verify.Identity{{IssuerRegexp: `^https://accounts\.example\.com$`, SubjectRegexp: `@example\.com$`}}, Root: vs.TrustedRoot(t)}, nil},
		{"one of two identities", [][]byte{good}, verify.Trust{Identities: []verify.Identity{{Issuer: issuer, Subject: "x@example.com"}, right}, Root: vs.TrustedRoot(t)}, nil},
		{"wrong identity", [][]byte{good}, verify.Trust{Identities: []verify.Identity{{Issuer: issuer, Subject: "mallory@example.com"}}, Root: vs.TrustedRoot(t)}, verify.ErrUntrustedSignature},
		{"wrong issuer", [][]byte{good}, verify.Trust{Identities: []verify.Identity{{Issuer: "https://evil.example", Subject: identity}}, Root: vs.TrustedRoot(t)}, verify.ErrUntrustedSignature},
		{"untrusted root", [][]byte{good}, verify.Trust{Identities: []verify.Identity{right}, Root: otherVS.TrustedRoot(t)}, verify.ErrUntrustedSignature},
		{"changed artifact", [][]byte{vs.SignStatement(t, identity, issuer, statement(other.Digest, verify.PredicateCosignSign))}, verify.Trust{Identities: []verify.Identity{right}, Root: vs.TrustedRoot(t)}, verify.ErrUntrustedSignature},
		{"keyless bundle, only keys trusted", [][]byte{good}, verify.Trust{Keys: []verify.Key{{Name: "k", Public: kp.GetPublicKey()}}}, verify.ErrUntrustedSignature},
		{"key bundle, only identities trusted", [][]byte{signed(t, kp, dsse(statement(subject.Digest, verify.PredicateCosignSign)))}, verify.Trust{Identities: []verify.Identity{right}, Root: vs.TrustedRoot(t)}, verify.ErrUntrustedSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := verify.Signature(subject, tc.bundles, tc.trust)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !s.Keyless || s.Signer != identity+" ("+issuer+")" || s.Time.IsZero() {
					t.Fatalf("got %+v", s)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := verify.Signature(subject, [][]byte{good}, verify.Trust{Identities: []verify.Identity{right}}); err == nil || errors.Is(err, verify.ErrVerification) {
		t.Errorf("identities without a root: %v", err)
	}
	if _, err := verify.Signature(subject, [][]byte{good}, verify.Trust{Identities: []verify.Identity{{Issuer: issuer, SubjectRegexp: "("}}, Root: vs.TrustedRoot(t)}); err == nil || errors.Is(err, verify.ErrVerification) {
		t.Errorf("bad regexp: %v", err)
	}
}

func TestAttestations(t *testing.T) {
	kp := newKeypair(t)
	trust := verify.Trust{Keys: []verify.Key{{Name: "k", Public: kp.GetPublicKey()}}}
	sig := signed(t, kp, dsse(statement(subject.Digest, verify.PredicateCosignSign)))
	prov := signed(t, kp, dsse(statement(subject.Digest, verify.PredicateSLSAProvenance)))
	got, err := verify.Attestations(subject, [][]byte{sig, prov}, trust, verify.PredicateSLSAProvenance)
	if err != nil || len(got) != 1 || got[0].Index != 1 || got[0].PredicateType() != verify.PredicateSLSAProvenance {
		t.Fatalf("got %+v, %v", got, err)
	}
	for name, bundles := range map[string][][]byte{
		"none":          nil,
		"only a sig":    {sig},
		"other subject": {signed(t, kp, dsse(statement(other.Digest, verify.PredicateSLSAProvenance)))},
		"other key":     {signed(t, newKeypair(t), dsse(statement(subject.Digest, verify.PredicateSLSAProvenance)))},
	} {
		if _, err := verify.Attestations(subject, bundles, trust, verify.PredicateSLSAProvenance); !errors.Is(err, verify.ErrMissingAttestation) {
			t.Errorf("%s: err = %v, want ErrMissingAttestation", name, err)
		}
	}
}

// TestSignature_KeylessInThePast: a keyless signature made hours ago (by
// verifytest's past CA) verifies with its own time, which the rule's
// maxAge then refuses, and a fresh one passes.
func TestSignature_KeylessInThePast(t *testing.T) {
	vs := verifytest.New(t)
	at := time.Now().Add(-3 * time.Hour)
	old := vs.SignStatementAt(t, identity, issuer, statement(subject.Digest, verify.PredicateCosignSign), at)
	trust := verify.Trust{Identities: []verify.Identity{{Issuer: issuer, Subject: identity}}, Root: vs.TrustedRoot(t)}
	s, err := verify.Signature(subject, [][]byte{old}, trust)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Time.Sub(at); d < 0 || d > 2*time.Minute {
		t.Errorf("verified time %s, want about %s", s.Time, at)
	}
	rule := verify.Rule{MaxAge: time.Hour}
	if err := rule.CheckAge(s.Time, time.Now()); !errors.Is(err, verify.ErrPolicyDenied) {
		t.Errorf("a 3h old signature under maxAge 1h: %v", err)
	}
	fresh, err := verify.Signature(subject, [][]byte{vs.SignStatement(t, identity, issuer, statement(subject.Digest, verify.PredicateCosignSign))}, trust)
	if err != nil {
		t.Fatal(err)
	}
	if err := rule.CheckAge(fresh.Time, time.Now()); err != nil {
		t.Errorf("a fresh signature under maxAge 1h: %v", err)
	}
}
