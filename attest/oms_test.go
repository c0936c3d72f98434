package attest_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// testChain is a root CA, an intermediate CA and a leaf certificate for
// key, as `model_signing sign certificate` uses them.
type testChain struct {
	root, intermediate, leaf *x509.Certificate
}

func newCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestChain(t *testing.T, key crypto.Signer, leafUsage x509.KeyUsage, leafEKU []x509.ExtKeyUsage) testChain {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	intKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ca := func(cn string, serial int64) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	}
	rootTmpl := ca("test root", 1)
	root := newCert(t, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	intermediate := newCert(t, ca("test intermediate", 2), root, intKey.Public(), rootKey)
	leaf := newCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "model signer"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: leafUsage, ExtKeyUsage: leafEKU}, intermediate, key.Public(), intKey)
	return testChain{root, intermediate, leaf}
}

// serializeModel writes a small model and returns its manifest.
func serializeModel(t *testing.T) (string, *oms.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-llm")
	for p, b := range map[string]string{"config.json": `{"a":1}`, "weights/model.safetensors": "weights", "tokenizer/vocab.txt": "a b c"} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := oms.Serialize(t.Context(), dir, oms.Serialization{IgnorePaths: append([]string{oms.SignatureFile}, oms.DefaultIgnorePaths...)}, verify.HashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func TestSignOMS_Key(t *testing.T) {
	dir, m := serializeModel(t)
	for _, tc := range []struct {
		name string
		key  func() crypto.Signer
	}{
		{"P-256", func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }},
		{"P-384", func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader); return k }},
		{"Ed25519", func() crypto.Signer { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key()
			kp, err := attest.NewOMSKeypair(key)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := attest.SignOMS(t.Context(), kp, m, nil, sign.BundleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var b struct {
				MediaType            string
				VerificationMaterial struct {
					PublicKey struct{ Hint string }
				}
				DsseEnvelope struct{ PayloadType, Payload string }
			}
			if err := json.Unmarshal(sig, &b); err != nil {
				t.Fatal(err)
			}
			if b.MediaType != attest.MediaTypeBundle || b.DsseEnvelope.PayloadType != oms.PayloadType || len(b.VerificationMaterial.PublicKey.Hint) != 64 {
				t.Errorf("bundle %s", sig)
			}
			payload, _ := base64.StdEncoding.DecodeString(b.DsseEnvelope.Payload)
			if !strings.Contains(string(payload), `"predicateType":"`+oms.PredicateType+`"`) || !strings.Contains(string(payload), `"name":"tiny-llm"`) {
				t.Errorf("statement %s", payload)
			}

			trust := oms.Trust{Trust: verify.Trust{Keys: []verify.Key{{Name: "k.pub", Public: key.Public()}}}}
			s, err := oms.Verify(t.Context(), dir, sig, trust, oms.Options{IgnorePaths: []string{oms.SignatureFile}})
			if err != nil {
				t.Fatal(err)
			}
			if s.Signer != "key k.pub" || len(s.Manifest.Resources) != 3 {
				t.Errorf("signed %+v", s)
			}
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			trust.Keys[0] = verify.Key{Name: "other.pub", Public: other.Public()}
			if _, err := oms.Verify(t.Context(), dir, sig, trust, oms.Options{}); !errors.Is(err, oms.ErrUntrusted) || !strings.Contains(err.Error(), "key other.pub") {
				t.Fatalf("other key: %v", err)
			}
		})
	}
}

// publicOnly is a crypto.Signer that only has a public key, to compute
// hints for keys whose private half is not at hand.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }
func (publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("no private key")
}

// TestNewOMSKeypair_Hint checks the hint against the one the reference
// wrote into its v1.1.0 vector for the same key.
func TestNewOMSKeypair_Hint(t *testing.T) {
	keyPath := filepath.Join("..", "..", "shared", "corpus", "oms", "scripts", "tests", "keys", "certificate", "signing-key-pub.pem")
	pemBytes, err := os.ReadFile(keyPath)
	if err != nil {
		t.Skipf("OMS corpus not found (../shared/corpus from the repository root): %v", err)
	}
	pub, err := attest.LoadPublicKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewOMSKeypair(publicOnly{pub})
	if err != nil {
		t.Fatal(err)
	}
	const want = "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e" // v1.1.0-elliptic-key/model.sig
	if got := string(kp.GetHint()); got != want {
		t.Fatalf("hint %s, want %s", got, want)
	}
}

func TestSignOMS_Chain(t *testing.T) {
	dir, m := serializeModel(t)
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	kp, err := attest.NewOMSKeypair(key)
	if err != nil {
		t.Fatal(err)
	}
	good := newTestChain(t, key, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning})
	sig, err := attest.SignOMS(t.Context(), kp, m, []*x509.Certificate{good.leaf, good.intermediate}, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sig), `"x509CertificateChain"`) {
		t.Fatalf("bundle without a certificate chain: %s", sig)
	}
	trust := func(c *x509.Certificate) oms.Trust { return oms.Trust{CAs: []oms.CA{{Name: "root.pem", Cert: c}}} }
	s, err := oms.Verify(t.Context(), dir, sig, trust(good.root), oms.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Signer, "model signer") || !strings.Contains(s.Signer, "root.pem") {
		t.Errorf("signer %q", s.Signer)
	}
	other := newTestChain(t, key, x509.KeyUsageDigitalSignature, nil)
	if _, err := oms.Verify(t.Context(), dir, sig, trust(other.root), oms.Options{}); !errors.Is(err, oms.ErrUntrusted) || !strings.Contains(err.Error(), "does not chain") {
		t.Fatalf("other CA: %v", err)
	}
	// Trusting the intermediate alone also works: a trust anchor need not be self-signed.
	if _, err := oms.Verify(t.Context(), dir, sig, trust(good.intermediate), oms.Options{}); err != nil {
		t.Fatalf("intermediate as anchor: %v", err)
	}

	t.Run("leaf usages", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			usage x509.KeyUsage
			eku   []x509.ExtKeyUsage
			want  string // empty: verifies
		}{
			{"digital signature only", x509.KeyUsageDigitalSignature, nil, ""},
			{"code signing only", x509.KeyUsageKeyEncipherment, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, ""},
			{"neither", x509.KeyUsageKeyEncipherment, nil, "may not sign"},
			{"server auth", x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "incompatible key usage"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := newTestChain(t, key, tc.usage, tc.eku)
				sig, err := attest.SignOMS(t.Context(), kp, m, []*x509.Certificate{c.leaf, c.intermediate}, sign.BundleOptions{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = oms.Verify(t.Context(), dir, sig, trust(c.root), oms.Options{})
				if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, oms.ErrUntrusted) || !strings.Contains(err.Error(), tc.want)) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
			})
		}
	})

	t.Run("bad chains", func(t *testing.T) {
		otherKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		for _, tc := range []struct {
			name  string
			chain []*x509.Certificate
			want  string
		}{
			{"leaf for another key", []*x509.Certificate{newTestChain(t, otherKey, x509.KeyUsageDigitalSignature, nil).leaf}, "not for the signing key"},
			{"root in chain", []*x509.Certificate{good.leaf, good.intermediate, good.root}, "self-signed"},
			{"leaf as intermediate", []*x509.Certificate{good.leaf, good.leaf}, "not a CA"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := attest.SignOMS(t.Context(), kp, m, tc.chain, sign.BundleOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
			})
		}
	})
}

func TestSignOMS_TooLarge(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp, _ := attest.NewOMSKeypair(key)
	m := &oms.Manifest{Name: "big"}
	long := strings.Repeat("n", 4000)
	for i := range 1200 {
		m.Resources = append(m.Resources, oms.Resource{Name: fmt.Sprintf("%s/%d", long, i), Algorithm: "sha256", Digest: make([]byte, 32)})
	}
	if _, err := attest.SignOMS(t.Context(), kp, m, nil, sign.BundleOptions{}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

// ExampleSignOMS signs a model directory with a key and verifies it.
func ExampleSignOMS() {
	dir, _ := os.MkdirTemp("", "model")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("weights"), 0o644)

	ctx := context.Background()
	m, _ := oms.Serialize(ctx, dir, oms.Serialization{IgnorePaths: []string{oms.SignatureFile}}, verify.HashOptions{})
	key, _ := attest.GenerateKey()
	kp, _ := attest.NewOMSKeypair(key)
	sig, _ := attest.SignOMS(ctx, kp, m, nil, sign.BundleOptions{})
	os.WriteFile(filepath.Join(dir, oms.SignatureFile), sig, 0o644)

	trust := oms.Trust{Trust: verify.Trust{Keys: []verify.Key{{Name: "cairn.pub", Public: key.Public()}}}}
	s, err := oms.Verify(ctx, dir, sig, trust, oms.Options{IgnorePaths: []string{oms.SignatureFile}})
	fmt.Println(s.Signer, len(s.Manifest.Resources), err)
	// Output: key cairn.pub 1 <nil>
}

// TestSignOMS_ReferenceReader reads cairn's model.sig the way the
// reference implementation's key and certificate verifiers do
// (sign_ec_key.py, sign_certificate.py, signing.py), without sigstore-go:
// the hint is the hex SHA-256 of the key's PEM, the signature is ECDSA
// with the curve's hash over the DSSE PAE, the chain is certificates[0]
// then the intermediates, and the statement's subject is SHA-256 over the
// resources' digests in the order listed.
func TestSignOMS_ReferenceReader(t *testing.T) {
	_, m := serializeModel(t)
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			key, _ := ecdsa.GenerateKey(curve, rand.Reader)
			kp, err := attest.NewOMSKeypair(key)
			if err != nil {
				t.Fatal(err)
			}
			chain := newTestChain(t, key, x509.KeyUsageDigitalSignature, nil)
			for _, certs := range [][]*x509.Certificate{nil, {chain.leaf, chain.intermediate}} {
				sig, err := attest.SignOMS(t.Context(), kp, m, certs, sign.BundleOptions{})
				if err != nil {
					t.Fatal(err)
				}
				var b struct {
					MediaType            string `json:"mediaType"`
					VerificationMaterial struct {
						PublicKey *struct {
							Hint string `json:"hint"`
						} `json:"publicKey"`
						X509CertificateChain *struct {
							Certificates []struct {
								RawBytes []byte `json:"rawBytes"`
							} `json:"certificates"`
						} `json:"x509CertificateChain"`
					} `json:"verificationMaterial"`
					DsseEnvelope struct {
						Payload     []byte `json:"payload"`
						PayloadType string `json:"payloadType"`
						Signatures  []struct {
							Sig []byte `json:"sig"`
						} `json:"signatures"`
					} `json:"dsseEnvelope"`
				}
				if err := json.Unmarshal(sig, &b); err != nil {
					t.Fatal(err)
				}
				if b.MediaType != "application/vnd.dev.sigstore.bundle.v0.3+json" || b.DsseEnvelope.PayloadType != "application/vnd.in-toto+json" || len(b.DsseEnvelope.Signatures) != 1 {
					t.Fatalf("bundle %s", sig)
				}
				vm := b.VerificationMaterial
				if certs == nil {
					der, _ := x509.MarshalPKIXPublicKey(key.Public())
					sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
					if vm.PublicKey == nil || vm.PublicKey.Hint != hex.EncodeToString(sum[:]) {
						t.Fatalf("hint %+v, want %x", vm.PublicKey, sum)
					}
				} else {
					if vm.X509CertificateChain == nil || len(vm.X509CertificateChain.Certificates) != 2 ||
						!bytes.Equal(vm.X509CertificateChain.Certificates[0].RawBytes, chain.leaf.Raw) ||
						!bytes.Equal(vm.X509CertificateChain.Certificates[1].RawBytes, chain.intermediate.Raw) {
						t.Fatalf("chain %+v", vm.X509CertificateChain)
					}
				}
				payload := b.DsseEnvelope.Payload
				pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(b.DsseEnvelope.PayloadType), b.DsseEnvelope.PayloadType, len(payload), payload)
				h := map[string]crypto.Hash{"P-256": crypto.SHA256, "P-384": crypto.SHA384, "P-521": crypto.SHA512}[curve.Params().Name].New()
				h.Write(pae)
				if !ecdsa.VerifyASN1(&key.PublicKey, h.Sum(nil), b.DsseEnvelope.Signatures[0].Sig) {
					t.Fatal("the signature does not verify over the DSSE PAE with the curve's hash")
				}
				var st struct {
					Type    string `json:"_type"`
					Subject []struct {
						Name   string
						Digest map[string]string
					} `json:"subject"`
					PredicateType string `json:"predicateType"`
					Predicate     struct {
						Serialization map[string]any `json:"serialization"`
						Resources     []struct{ Name, Algorithm, Digest string }
					} `json:"predicate"`
				}
				if err := json.Unmarshal(payload, &st); err != nil {
					t.Fatal(err)
				}
				all := sha256.New()
				for _, r := range st.Predicate.Resources {
					d, _ := hex.DecodeString(r.Digest)
					all.Write(d)
				}
				ser := st.Predicate.Serialization
				if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != "https://model_signing/signature/v1.0" || len(st.Subject) != 1 ||
					st.Subject[0].Digest["sha256"] != hex.EncodeToString(all.Sum(nil)) ||
					ser["method"] != "files" || ser["hash_type"] != "sha256" || ser["allow_symlinks"] != false {
					t.Fatalf("statement %s", payload)
				}
			}
		})
	}
}

// TestSignOMS_Shards signs a model by 1000-byte shards; Verify follows
// the signature's serialization and names the shard that changed.
func TestSignOMS_Shards(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if err := os.MkdirAll(filepath.Join(dir, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2500)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "w", "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := oms.Serialize(t.Context(), dir, oms.Serialization{Method: oms.MethodShards, ShardSize: 1000}, verify.HashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range m.Resources {
		names = append(names, r.Name+" "+r.Algorithm)
	}
	if want := "w/big.bin:0:1000 sha256-sharded-1000,w/big.bin:1000:2000 sha256-sharded-1000,w/big.bin:2000:2500 sha256-sharded-1000"; strings.Join(names, ",") != want {
		t.Fatalf("shards %q, want %q", names, want)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp, _ := attest.NewOMSKeypair(key)
	sig, err := attest.SignOMS(t.Context(), kp, m, nil, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	trust := oms.Trust{Trust: verify.Trust{Keys: []verify.Key{{Name: "k", Public: key.Public()}}}}
	if _, err := oms.Verify(t.Context(), dir, sig, trust, oms.Options{}); err != nil {
		t.Fatal(err)
	}
	data[1500] ^= 1
	if err := os.WriteFile(filepath.Join(dir, "w", "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = oms.Verify(t.Context(), dir, sig, trust, oms.Options{})
	var me *oms.MismatchError
	if !errors.As(err, &me) || len(me.Changed) != 1 || me.Changed[0].Name != "w/big.bin:1000:2000" || me.Changed[0].Algorithm != "sha256-sharded-1000" {
		t.Fatalf("err = %v, want shard 1000:2000 changed", err)
	}
}
