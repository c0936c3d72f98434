package oms_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"cairn.dev/cairn/verify/oms"
)

// Locate finds a model on disk and where its signature goes by default;
// Ignores turns the user's ignore paths into the model's own.
func ExampleLocate() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	dir, _ = filepath.EvalSymlinks(dir) // Locate resolves a directory's symlinks
	model := filepath.Join(dir, "tiny")
	os.MkdirAll(filepath.Join(model, "docs"), 0o755)
	os.WriteFile(filepath.Join(model, "weights.bin"), []byte("1"), 0o644)

	m, err := oms.Locate(model)
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(dir, m.SignaturePath())
	fmt.Println(m.IsDir, rel)
	ignore, err := m.Ignores([]string{filepath.Join(model, "docs"), "README.md"}, m.SignaturePath())
	fmt.Println(ignore, err)

	f, _ := oms.Locate(filepath.Join(model, "weights.bin"))
	rel, _ = filepath.Rel(dir, f.SignaturePath())
	fmt.Println(f.IsDir, rel)
	// Output:
	// true tiny/model.sig
	// [docs README.md model.sig] <nil>
	// false tiny/model.sig
}

// ParseCertificates reads the CA certificates a certificate-signed model
// signature must chain to (`cairn verify --certificate-chain`).
func ExampleParseCertificates() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	file := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	certs, err := oms.ParseCertificates(file)
	fmt.Println(len(certs), certs[0].Subject.CommonName, certs[0].IsCA, err)
	_, err = oms.ParseCertificates([]byte("not a certificate"))
	fmt.Println(err)
	// Output:
	// 1 Example CA true <nil>
	// no PEM certificate found
}
