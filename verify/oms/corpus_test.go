package oms_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

const (
	vectorIdentity = "stefanb@us.ibm.com"
	vectorIssuer   = "https://sigstore.verify.ibm.com/oauth2"
)

// vector is one of the reference implementation's interop signatures.
type vector struct {
	name       string // folder under scripts/tests
	kind       string // elliptic-key, certificate or sigstore
	singleFile bool   // the model is the file signme-1
}

var vectors = []vector{
	{"v0.2.0-certificate", "certificate", false},
	{"v0.3.1-elliptic-key", "elliptic-key", true},
	{"v0.3.1-certificate", "certificate", false},
	{"v0.3.1-sigstore", "sigstore", false},
	{"v1.0.0-elliptic-key", "elliptic-key", true},
	{"v1.0.0-certificate", "certificate", false},
	{"v1.0.0-sigstore", "sigstore", false},
	{"v1.0.1-elliptic-key", "elliptic-key", false},
	{"v1.0.1-certificate", "certificate", false},
	{"v1.0.1-sigstore", "sigstore", false},
	{"v1.1.0-elliptic-key", "elliptic-key", false},
	{"v1.1.0-certificate", "certificate", false},
	{"v1.1.0-sigstore", "sigstore", false},
}

// vectorTrust returns the trust that verifies kind's vectors, and one of
// the same kind that must not (another key, CA or identity).
func vectorTrust(t *testing.T, kind string) (good, other oms.Trust) {
	t.Helper()
	keys := corpus(t, "oms", "scripts", "tests", "keys", "certificate")
	switch kind {
	case "elliptic-key":
		good.Keys = []verify.Key{{Name: "signing-key-pub.pem", Public: readPEMKey(t, filepath.Join(keys, "signing-key-pub.pem"))}}
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		other.Keys = []verify.Key{{Name: "other.pub", Public: k.Public()}}
	case "certificate":
		good.CAs = []oms.CA{{Name: "ca-cert.pem", Cert: readPEMCert(t, filepath.Join(keys, "ca-cert.pem"))}}
		ca, _ := newCA(t, "root-ca") // same name, other key
		other.CAs = []oms.CA{{Name: "other-ca.pem", Cert: ca}}
	case "sigstore":
		b, err := os.ReadFile(corpus(t, "sigstore", "public-good.json"))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := root.NewTrustedRootFromJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		good.Root, other.Root = tr, tr
		good.Identities = []verify.Identity{{Subject: vectorIdentity, Issuer: vectorIssuer}}
		other.Identities = []verify.Identity{{Subject: "someone@example.com", Issuer: vectorIssuer}}
	}
	return good, other
}

func (v vector) model(dir string) string {
	if v.singleFile {
		return filepath.Join(dir, "signme-1")
	}
	return dir
}

// The reference verifier is run with --ignore-paths ignore-me; the
// signature file lies in the model directory.
var vectorOptions = oms.Options{IgnorePaths: []string{"ignore-me", oms.SignatureFile}}

func TestVerify_Corpus(t *testing.T) {
	base := corpus(t, "oms", "scripts", "tests")
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			dir := filepath.Join(base, v.name)
			sig, err := os.ReadFile(filepath.Join(dir, oms.SignatureFile))
			if err != nil {
				t.Fatal(err)
			}
			good, other := vectorTrust(t, v.kind)

			t.Run("verifies", func(t *testing.T) {
				s, err := oms.Verify(t.Context(), v.model(dir), sig, good, vectorOptions)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 1, false: 2}[v.singleFile]; len(s.Manifest.Resources) != want {
					t.Errorf("%d resources, want %d", len(s.Manifest.Resources), want)
				}
				if v.kind == "sigstore" && (s.Time.IsZero() || !strings.Contains(s.Signer, vectorIdentity)) {
					t.Errorf("keyless: signer %q at %v", s.Signer, s.Time)
				}
			})

			t.Run("changed file", func(t *testing.T) {
				tmp := copyDir(t, dir)
				target := filepath.Join(tmp, "signme-1")
				if err := os.WriteFile(target, []byte("tampered\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := oms.Verify(t.Context(), v.model(tmp), sig, good, vectorOptions)
				var me *oms.MismatchError
				if !errors.As(err, &me) || !errors.Is(err, verify.ErrVerification) || len(me.Changed) != 1 {
					t.Fatalf("err = %v, want one changed file", err)
				}
				name := map[bool]string{true: ".", false: "signme-1"}[v.singleFile]
				actual := hex.EncodeToString(digestOf("tampered\n"))
				if msg := err.Error(); !strings.Contains(msg, name+" changed") || !strings.Contains(msg, hex.EncodeToString(me.Changed[0].Signed)) || !strings.Contains(msg, actual) {
					t.Errorf("message does not name the file and both digests: %s", msg)
				}
			})

			if !v.singleFile {
				t.Run("added file", func(t *testing.T) {
					tmp := copyDir(t, dir)
					writeFiles(t, tmp, map[string]string{"extra/new.bin": "new"})
					_, err := oms.Verify(t.Context(), tmp, sig, good, vectorOptions)
					if !errors.Is(err, oms.ErrModelMismatch) || !strings.Contains(err.Error(), "extra/new.bin is not covered") {
						t.Fatalf("err = %v, want extra/new.bin uncovered", err)
					}
				})
				t.Run("removed file", func(t *testing.T) {
					tmp := copyDir(t, dir)
					if err := os.Remove(filepath.Join(tmp, "signme-2")); err != nil {
						t.Fatal(err)
					}
					_, err := oms.Verify(t.Context(), tmp, sig, good, vectorOptions)
					if !errors.Is(err, oms.ErrModelMismatch) || !strings.Contains(err.Error(), "signme-2 is signed but missing") {
						t.Fatalf("err = %v, want signme-2 missing", err)
					}
				})
			}

			t.Run("other trust anchor", func(t *testing.T) {
				_, err := oms.Verify(t.Context(), v.model(dir), sig, other, vectorOptions)
				if !errors.Is(err, oms.ErrUntrusted) || !errors.Is(err, verify.ErrVerification) {
					t.Fatalf("err = %v, want ErrUntrusted", err)
				}
				t.Log(err)
			})

			t.Run("other kind of trust", func(t *testing.T) {
				wrong := map[string]string{"elliptic-key": "certificate", "certificate": "elliptic-key", "sigstore": "elliptic-key"}[v.kind]
				trust, _ := vectorTrust(t, wrong)
				_, err := oms.Verify(t.Context(), v.model(dir), sig, trust, vectorOptions)
				if !errors.Is(err, oms.ErrUntrusted) {
					t.Fatalf("err = %v, want ErrUntrusted", err)
				}
			})
		})
	}
}

// TestVerify_CorpusIgnoreMe checks that v1.1.0 signatures leave out the
// paths they record without being told, while v1.0.1 ones need
// ignore-me to be named.
func TestVerify_CorpusIgnoreMe(t *testing.T) {
	base := corpus(t, "oms", "scripts", "tests")
	good, _ := vectorTrust(t, "elliptic-key")
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"v1.1.0-elliptic-key", true}, {"v1.0.1-elliptic-key", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, tc.name)
			sig, err := os.ReadFile(filepath.Join(dir, oms.SignatureFile))
			if err != nil {
				t.Fatal(err)
			}
			_, err = oms.Verify(t.Context(), dir, sig, good, oms.Options{IgnorePaths: []string{oms.SignatureFile}})
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "ignore-me is not covered") {
				t.Fatalf("err = %v, want ignore-me uncovered", err)
			}
		})
	}
}
