package attest_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"cairn.dev/cairn/attest"
)

// corpusDir is the shared public test corpus (see ../shared/corpus/README.md).
const corpusDir = "../../shared/corpus"

// checkSigner signs a message with s and verifies the signature with pub
// (or s.Public() when pub is nil).
func checkSigner(t testing.TB, s crypto.Signer, pub crypto.PublicKey) {
	t.Helper()
	if err := signVerify(s, pub); err != nil {
		t.Fatal(err)
	}
}

func signVerify(s crypto.Signer, pub crypto.PublicKey) error {
	if pub == nil {
		pub = s.Public()
	}
	msg := []byte("cairn signs this")
	digest := sha256.Sum256(msg)
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(p, digest[:], sig) {
			return errors.New("ECDSA signature does not verify")
		}
	case ed25519.PublicKey:
		sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			return err
		}
		if !ed25519.Verify(p, msg, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
	case *rsa.PublicKey:
		sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig); err != nil {
			return err
		}
	default:
		return errors.New("unexpected public key type")
	}
	return nil
}

// cosignKey encrypts key exactly as cosign's marshalKeyPair does
// (pkg/cosign/keys.go): PKCS#8 DER, encrypted.Encrypt, PEM of pemType.
func cosignKey(t testing.TB, key crypto.Signer, password []byte, pemType string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: enc})
}

func mustMarshal(t testing.TB, key crypto.Signer, password []byte) []byte {
	t.Helper()
	b, err := attest.MarshalPrivateKey(key, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustGenerate(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGenerateKey(t *testing.T) {
	k := mustGenerate(t)
	if k.Curve != elliptic.P256() {
		t.Fatalf("curve %s, want P-256", k.Curve.Params().Name)
	}
	checkSigner(t, k, nil)
}

func TestMarshalPrivateKey_PEMType(t *testing.T) {
	k := mustGenerate(t)
	for _, tc := range []struct {
		name     string
		password []byte
		want     string
	}{
		{"plain", nil, "PRIVATE KEY"},
		{"empty password", []byte{}, "PRIVATE KEY"},
		{"encrypted", []byte("pw"), "ENCRYPTED PRIVATE KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := pem.Decode(mustMarshal(t, k, tc.password))
			if b == nil || b.Type != tc.want {
				t.Fatalf("PEM block %v, want type %q", b, tc.want)
			}
		})
	}
}

func TestLoadPrivateKey(t *testing.T) {
	ec := mustGenerate(t)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte("correct horse battery staple")

	for _, tc := range []struct {
		name     string
		pem      []byte
		password []byte
		want     crypto.Signer
	}{
		{"PKCS#8 plain", mustMarshal(t, ec, nil), nil, ec},
		{"PKCS#8 plain, password ignored", mustMarshal(t, ec, nil), pw, ec},
		{"PKCS#8 encrypted", mustMarshal(t, ec, pw), pw, ec},
		{"PKCS#8 encrypted P-384", mustMarshal(t, p384, pw), pw, p384},
		{"PKCS#8 encrypted Ed25519", mustMarshal(t, ed, pw), pw, ed},
		{"PKCS#8 plain RSA", mustMarshal(t, rsaKey, nil), nil, rsaKey},
		{"PKCS#8 encrypted, unicode password", mustMarshal(t, ec, []byte("pässwört🔑")), []byte("pässwört🔑"), ec},
		{"SEC1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), nil, ec},
		{"PKCS#1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), nil, rsaKey},
		{"text before the block", append([]byte("comment line\n"), mustMarshal(t, ec, nil)...), nil, ec},
		{"cosign SIGSTORE", cosignKey(t, ec, pw, "ENCRYPTED SIGSTORE PRIVATE KEY"), pw, ec},
		{"cosign COSIGN (older)", cosignKey(t, ec, pw, "ENCRYPTED COSIGN PRIVATE KEY"), pw, ec},
		{"cosign, empty password", cosignKey(t, ec, nil, "ENCRYPTED SIGSTORE PRIVATE KEY"), nil, ec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // key derivation is slow under -race
			s, err := attest.LoadPrivateKey(tc.pem, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			eq, ok := s.(interface{ Equal(crypto.PrivateKey) bool })
			if !ok || !eq.Equal(tc.want) {
				t.Fatalf("loaded %T is not the key that was written", s)
			}
			checkSigner(t, s, tc.want.Public())
		})
	}
}

// encryptedPKCS8 builds an "ENCRYPTED PRIVATE KEY" PEM around arbitrary
// PBES2 parameters, for the malformed-input cases.
func encryptedPKCS8(t testing.TB, iterations int, ivLen int, data []byte) []byte {
	t.Helper()
	type pbkdf2Params struct {
		Salt           []byte
		IterationCount int
	}
	type pbes2Params struct {
		KDF    pkix.AlgorithmIdentifier
		Scheme pkix.AlgorithmIdentifier
	}
	type info struct {
		Alg  pkix.AlgorithmIdentifier
		Data []byte
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kdf := must(asn1.Marshal(pbkdf2Params{Salt: make([]byte, 8), IterationCount: iterations}))
	iv := must(asn1.Marshal(make([]byte, ivLen)))
	params := must(asn1.Marshal(pbes2Params{
		KDF:    pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}, Parameters: asn1.RawValue{FullBytes: kdf}},
		Scheme: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, Parameters: asn1.RawValue{FullBytes: iv}},
	}))
	der := must(asn1.Marshal(info{
		Alg:  pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, Parameters: asn1.RawValue{FullBytes: params}},
		Data: data,
	}))
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func TestLoadPrivateKey_Errors(t *testing.T) {
	ec := mustGenerate(t)
	pw := []byte("right")
	enc := mustMarshal(t, ec, pw)
	plain := mustMarshal(t, ec, nil)
	cosign := cosignKey(t, ec, pw, "ENCRYPTED SIGSTORE PRIVATE KEY")
	pub, err := attest.MarshalPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cosignBody := func(s string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte(s)})
	}
	// A cosign key whose box is intact but whose ciphertext was altered.
	tampered := func() []byte {
		b, _ := pem.Decode(cosign)
		body := bytes.Replace(b.Bytes, []byte(`"ciphertext":"`), []byte(`"ciphertext":"AAAA`), 1)
		return pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: body})
	}()
	legacy := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}})

	for _, tc := range []struct {
		name     string
		pem      []byte
		password []byte
		is       error  // errors.Is target, if any
		contains string // substring of the message
	}{
		{"wrong password", enc, []byte("wrong"), attest.ErrWrongPassword, "wrong password"},
		{"no password for encrypted key", enc, nil, attest.ErrPasswordRequired, "no password"},
		{"cosign wrong password", cosign, []byte("wrong"), attest.ErrWrongPassword, "wrong password"},
		{"cosign no password", cosign, nil, attest.ErrWrongPassword, "wrong password"},
		{"cosign tampered ciphertext", tampered, pw, attest.ErrWrongPassword, ""},
		{"empty input", nil, nil, nil, "no PEM block"},
		{"garbage", []byte("not a key at all"), nil, nil, "no PEM block"},
		{"truncated PEM", plain[:len(plain)/2], nil, nil, "no PEM block"},
		{"truncated encrypted PEM body", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: func() []byte { b, _ := pem.Decode(enc); return b.Bytes[:len(b.Bytes)-20] }()}), pw, nil, "malformed EncryptedPrivateKeyInfo"},
		{"oversize", append(bytes.Repeat([]byte("#"), attest.MaxKeySize), plain...), nil, nil, "limit"},
		{"public key as private", pub, nil, nil, "unsupported PEM block type"},
		{"PKCS#8 garbage body", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), nil, nil, "PRIVATE KEY"},
		{"SEC1 garbage body", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")}), nil, nil, "EC PRIVATE KEY"},
		{"legacy PEM encryption", legacy, pw, nil, "legacy PEM encryption"},
		{"RSA too small", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), nil, nil, "at least 2048"},
		{"PBKDF2 iterations too high", encryptedPKCS8(t, attest.MaxPBKDF2Iterations+1, 16, make([]byte, 32)), pw, nil, "iteration count"},
		{"PBKDF2 iterations zero", encryptedPKCS8(t, 0, 16, make([]byte, 32)), pw, nil, "iteration count"},
		{"short IV", encryptedPKCS8(t, 1, 3, make([]byte, 32)), pw, nil, "IV of 3 bytes"},
		{"ragged ciphertext", encryptedPKCS8(t, 1, 16, make([]byte, 17)), pw, nil, "multiple of the AES block size"},
		{"empty ciphertext", encryptedPKCS8(t, 1, 16, nil), pw, nil, "multiple of the AES block size"},
		{"cosign bad JSON", cosignBody("{"), pw, nil, "malformed encrypted key JSON"},
		{"cosign unknown KDF", cosignBody(`{"kdf":{"name":"argon2"},"cipher":{"name":"nacl/secretbox"}}`), pw, nil, "want scrypt"},
		{"cosign huge scrypt N", cosignBody(`{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1}},"cipher":{"name":"nacl/secretbox"}}`), pw, nil, "unsupported scrypt parameters"},
		{"cosign short nonce", cosignBody(`{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1}},"cipher":{"name":"nacl/secretbox","nonce":"AAAA"}}`), pw, nil, "nonce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := attest.LoadPrivateKey(tc.pem, tc.password)
			if err == nil {
				t.Fatalf("loaded %T, want an error", s)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q does not wrap %q", err, tc.is)
			}
			if tc.is == nil && errors.Is(err, attest.ErrWrongPassword) {
				t.Fatalf("malformed input reported as a wrong password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not mention %q", err, tc.contains)
			}
		})
	}
}

func TestLoadPublicKey(t *testing.T) {
	ec := mustGenerate(t)
	pub, err := attest.MarshalPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	got, err := attest.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !ec.PublicKey.Equal(got) {
		t.Fatal("loaded public key differs")
	}
	checkSigner(t, ec, got)

	for _, tc := range []struct {
		name     string
		pem      []byte
		contains string
	}{
		{"empty", nil, "no PEM block"},
		{"garbage", []byte("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"), "no PEM block"},
		{"private key", mustMarshal(t, ec, nil), `holds a private key`},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0x03, 1}}), "load public key"},
		{"truncated", pub[:len(pub)-30], "no PEM block"},
		{"oversize", append(bytes.Repeat([]byte(" "), attest.MaxKeySize), pub...), "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := attest.LoadPublicKey(tc.pem)
			if err == nil {
				t.Fatalf("loaded %T, want an error", k)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not mention %q", err, tc.contains)
			}
		})
	}
}

// TestLoadPublicKey_Corpus loads the OMS vectors' public key (a P-384 key
// with certtool's text before the PEM block). The corpus holds no private
// keys, cosign's or OMS's.
func TestLoadPublicKey_Corpus(t *testing.T) {
	path := filepath.Join(corpusDir, "oms/scripts/tests/keys/certificate/signing-key-pub.pem")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("shared corpus not present (%s): skipping", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attest.LoadPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P384() {
		t.Fatalf("got %T, want a P-384 ECDSA key", pub)
	}
}

// TestOpenSSLInterop checks both directions against the openssl program:
// `openssl pkcs8` decrypts our encrypted keys, and keys OpenSSL encrypts
// (its defaults and a non-default PRF and cipher) load here. Skipped when
// openssl is not installed.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed: skipping the interoperability check")
	}
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(openssl, args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatal(err)
		}
		return out
	}
	ec := mustGenerate(t)

	t.Run("openssl reads ours", func(t *testing.T) {
		path := filepath.Join(dir, "ours.key")
		if err := os.WriteFile(path, mustMarshal(t, ec, []byte("s3cret")), 0o600); err != nil {
			t.Fatal(err)
		}
		out := run("pkcs8", "-in", path, "-passin", "pass:s3cret")
		s, err := attest.LoadPrivateKey(out, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !ec.Equal(s) {
			t.Fatal("openssl decrypted a different key")
		}
	})

	plainPath := filepath.Join(dir, "plain.key")
	if err := os.WriteFile(plainPath, mustMarshal(t, ec, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default PBES2", nil},
		{"AES-128-CBC, HMAC-SHA512", []string{"-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512"}},
		{"AES-256-CBC, HMAC-SHA1", []string{"-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"}},
	} {
		t.Run("we read openssl "+tc.name, func(t *testing.T) {
			args := append([]string{"pkcs8", "-topk8", "-in", plainPath, "-passout", "pass:s3cret"}, tc.args...)
			out := run(args...)
			s, err := attest.LoadPrivateKey(out, []byte("s3cret"))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !ec.Equal(s) {
				t.Fatal("loaded a different key")
			}
			if _, err := attest.LoadPrivateKey(out, []byte("wrong")); !errors.Is(err, attest.ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
}

// fuzzPassword is the password of the encrypted fuzz seeds.
var fuzzPassword = []byte("fuzz")

// FuzzLoadPrivateKey feeds arbitrary PEM to LoadPrivateKey: it must never
// panic, and whatever it accepts must sign verifiably.
func FuzzLoadPrivateKey(f *testing.F) {
	ec := mustGenerate(f)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustMarshal(f, ec, nil))
	f.Add(mustMarshal(f, ed, nil))
	f.Add(mustMarshal(f, ec, fuzzPassword))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	f.Add(cosignKey(f, ec, fuzzPassword, "ENCRYPTED SIGSTORE PRIVATE KEY"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := attest.LoadPrivateKey(data, fuzzPassword)
		if err != nil {
			if s != nil {
				t.Fatal("non-nil signer with an error")
			}
			return
		}
		if err := signVerify(s, nil); err != nil {
			t.Fatalf("accepted key does not sign: %v", err)
		}
	})
}

func ExampleLoadPrivateKey() {
	key, err := attest.GenerateKey()
	if err != nil {
		panic(err)
	}
	password := []byte("correct horse battery staple")
	privPEM, err := attest.MarshalPrivateKey(key, password) // PREFIX.key
	if err != nil {
		panic(err)
	}
	pubPEM, err := attest.MarshalPublicKey(key.Public()) // PREFIX.pub
	if err != nil {
		panic(err)
	}

	signer, err := attest.LoadPrivateKey(privPEM, password)
	if err != nil {
		panic(err)
	}
	pub, err := attest.LoadPublicKey(pubPEM)
	if err != nil {
		panic(err)
	}
	digest := sha256.Sum256([]byte("payload"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		panic(err)
	}
	fmt.Println(ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig))

	_, err = attest.LoadPrivateKey(privPEM, []byte("guess"))
	fmt.Println(errors.Is(err, attest.ErrWrongPassword))
	// Output:
	// true
	// true
}
