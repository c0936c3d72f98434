package attest

import (
	"fmt"
	"io"
	"os"

	"github.com/sigstore/sigstore-go/pkg/root"

	"cairn.dev/cairn/verify"
)

// MaxTrustedRootSize bounds a Sigstore trusted_root.json (public-good's is
// about 10 KiB).
const MaxTrustedRootSize = 4 << 20

// LoadPublicKeyFile reads a trusted public key (PEM: cairn keygen's or
// cosign's .pub, or a certificate) as a verify.Key named by its path.
func LoadPublicKeyFile(path string) (verify.Key, error) {
	b, err := ReadKeyFile(path)
	if err != nil {
		return verify.Key{}, err
	}
	pub, err := LoadPublicKey(b)
	if err != nil {
		return verify.Key{}, fmt.Errorf("%s: %w", path, err)
	}
	return verify.Key{Name: path, Public: pub}, nil
}

// LoadTrustedRoot reads a Sigstore trusted_root.json (the Fulcio CAs, Rekor
// logs and timestamp authorities keyless signatures are checked against
// offline), refusing one over MaxTrustedRootSize.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTrustedRootSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxTrustedRootSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxTrustedRootSize)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a Sigstore trusted root: %w", path, err)
	}
	return tr, nil
}
