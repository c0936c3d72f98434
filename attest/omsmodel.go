package attest

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/sign"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// SignModelOptions configure SignModel. The zero value writes model.sig
// where oms.Model.SignaturePath says, with the bare key.
type SignModelOptions struct {
	// Signature is the file written; empty means m.SignaturePath().
	Signature string
	// IgnorePaths are left out of the signature as the user gave them
	// (oms.Model.Ignores), besides the signature file and
	// oms.DefaultIgnorePaths.
	IgnorePaths []string
	// Chain is the signing certificate and its intermediates (see
	// SignOMS); nil names the key by its hint.
	Chain []*x509.Certificate
	// Bundle may add transparency logs or timestamp authorities.
	Bundle sign.BundleOptions
}

// SignModel signs a model on disk with OpenSSF Model Signing, as
// `model_signing sign` and `cairn sign PATH` do: oms.Serialize, then
// SignOMS with kp (make it with NewOMSKeypair), then the bundle is written
// to the signature file through a synced temporary file renamed into
// place. It returns what was signed and where the signature went.
func SignModel(ctx context.Context, kp sign.Keypair, m oms.Model, o SignModelOptions) (*oms.Manifest, string, error) {
	sigPath := o.Signature
	if sigPath == "" {
		sigPath = m.SignaturePath()
	}
	ignore, err := m.Ignores(o.IgnorePaths, sigPath)
	if err != nil {
		return nil, "", err
	}
	if m.IsDir {
		ignore = append(ignore, oms.DefaultIgnorePaths...)
	}
	man, err := oms.Serialize(ctx, m.Path, oms.Serialization{IgnorePaths: ignore}, verify.HashOptions{})
	if err != nil {
		return nil, "", err
	}
	bundle, err := SignOMS(ctx, kp, man, o.Chain, o.Bundle)
	if err != nil {
		return nil, "", err
	}
	if err := writeFileAtomic(sigPath, bundle); err != nil {
		return nil, "", err
	}
	return man, sigPath, nil
}

// writeFileAtomic writes data to path through a temporary file in the
// same directory, synced and renamed into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
