package attest_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// SignModel signs a model directory with OpenSSF Model Signing, as `cairn
// sign DIR` does; oms.Verify checks it, as `cairn verify DIR` does, and
// refuses it once a file changed.
func ExampleSignModel() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	model := filepath.Join(dir, "tiny")
	os.MkdirAll(filepath.Join(model, ".git"), 0o755)
	os.WriteFile(filepath.Join(model, "config.json"), []byte(`{"model_type":"tiny"}`), 0o644)
	os.WriteFile(filepath.Join(model, "weights.bin"), []byte("0123456789"), 0o644)
	os.WriteFile(filepath.Join(model, "notes.txt"), []byte("not signed"), 0o644)
	os.WriteFile(filepath.Join(model, ".git", "HEAD"), []byte("ref: main"), 0o644)

	key, _ := attest.GenerateKey()
	kp, _ := attest.NewOMSKeypair(key)
	m, _ := oms.Locate(model)
	signed, sigPath, err := attest.SignModel(ctx, kp, m, attest.SignModelOptions{IgnorePaths: []string{"notes.txt"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(sigPath), len(signed.Resources), "files signed")

	trust := oms.Trust{Trust: verify.Trust{Keys: []verify.Key{{Name: "release", Public: key.Public()}}}}
	check := func() error {
		ignore, err := m.Ignores([]string{"notes.txt"}, sigPath)
		if err != nil {
			return err
		}
		sig, err := oms.ReadSignature(sigPath)
		if err != nil {
			return err
		}
		s, err := oms.Verify(ctx, m.Path, sig, trust, oms.Options{IgnorePaths: ignore})
		if err == nil {
			fmt.Println("verified, signed by", s.Signer)
		}
		return err
	}
	fmt.Println(check())

	os.WriteFile(filepath.Join(model, "weights.bin"), []byte("9876543210"), 0o644)
	err = check()
	fmt.Println(errors.Is(err, oms.ErrModelMismatch), errors.Is(err, verify.ErrVerification))

	_, err = m.Ignores([]string{"../elsewhere"}, sigPath)
	fmt.Println(errors.Is(err, oms.ErrNotInModel))
	// Output:
	// model.sig 2 files signed
	// verified, signed by key release
	// <nil>
	// true true
	// true
}

// WriteKeyPair writes a key pair as `cairn keygen` and cosign do; the
// private key, encrypted with the password, loads back with it.
func ExampleWriteKeyPair() {
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	prefix := filepath.Join(dir, "release")

	key, _ := attest.GenerateKey()
	fmt.Println(attest.CheckKeyPairFree(prefix))
	if err := attest.WriteKeyPair(prefix, key, []byte("correct horse"), false); err != nil {
		fmt.Println(err)
		return
	}
	keyPath, pubPath := attest.KeyPairPaths(prefix)
	for _, p := range []string{keyPath, pubPath} {
		fi, _ := os.Stat(p)
		fmt.Println(filepath.Base(p), fi.Mode())
	}

	b, _ := attest.ReadKeyFile(keyPath)
	_, err := attest.LoadPrivateKey(b, nil)
	fmt.Println(errors.Is(err, attest.ErrPasswordRequired))
	loaded, err := attest.LoadPrivateKey(b, []byte("correct horse"))
	fmt.Println(err, key.PublicKey.Equal(loaded.Public()))

	// An existing pair is not overwritten unless asked to.
	err = attest.WriteKeyPair(prefix, key, nil, false)
	var ee *attest.ExistsError
	fmt.Println(errors.As(err, &ee), filepath.Base(ee.Path), errors.Is(err, fs.ErrExist))
	// Output:
	// <nil>
	// release.key -rw-------
	// release.pub -rw-r--r--
	// true
	// <nil> true
	// true release.key true
}

// verify.LoadPublicKey and verify.LoadTrustedRoot read what `cairn verify
// --key` and `--trusted-root` name (and what a policy's key: and
// trustedRoot: name) into a verify.Trust, by one rule.
func Example_trust() {
	dir, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(dir)
	key, _ := attest.GenerateKey()
	attest.WriteKeyPair(filepath.Join(dir, "ci"), key, nil, false)
	_, pubPath := attest.KeyPairPaths(filepath.Join(dir, "ci"))

	pub, err := verify.LoadPublicKey(pubPath)
	k := verify.Key{Name: pubPath, Public: pub}
	fmt.Println(filepath.Base(k.Name), err, key.PublicKey.Equal(k.Public))
	tr, err := verify.LoadTrustedRoot("../testdata/policy/trusted_root.json")
	fmt.Println(err, len(tr.FulcioCertificateAuthorities()) > 0)
	trust := verify.Trust{Keys: []verify.Key{k}, Root: tr,
		Identities: []verify.Identity{{Subject: "trainer@example.com", Issuer: "https://accounts.example.com"}}}
	fmt.Println(len(trust.Keys), len(trust.Identities))

	_, err = verify.LoadTrustedRoot(pubPath)
	fmt.Println(err != nil)
	// Output:
	// ci.pub <nil> true
	// <nil> true
	// 1 1
	// true
}
