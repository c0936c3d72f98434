package main

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// maxCertFileSize bounds a PEM certificate file (a chain of a few
// certificates is a few KiB).
const maxCertFileSize = 1 << 20

// runSignLocal signs a local model directory or file with OpenSSF Model
// Signing: model.sig, a Sigstore bundle over the per-file digests, as the
// reference implementation (`model_signing sign key` or `sign
// certificate`) writes it.
func runSignLocal(cmd *cobra.Command, o signOptions, path string) error {
	ctx := cmd.Context()
	if len(o.certChain) > 0 && o.certificate == "" {
		return errors.New("--certificate-chain needs --certificate: the signing certificate of --key, which the chain's intermediates vouch for")
	}
	model, isDir, err := modelPath(path)
	if err != nil {
		return err
	}
	sigPath := o.signature
	if sigPath == "" {
		sigPath = defaultSignature(model, isDir)
	}
	var ignore []string
	if isDir {
		if ignore, err = modelIgnores(model, o.ignorePaths); err != nil {
			return err
		}
		if rel, ok := within(model, sigPath); ok {
			ignore = append(ignore, rel)
		}
		ignore = append(ignore, oms.DefaultIgnorePaths...)
	}

	signer, err := loadSigningKey(o.key, cmd.InOrStdin(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	kp, err := attest.NewOMSKeypair(signer)
	if err != nil {
		return fmt.Errorf("%s: %w", o.key, err)
	}
	var chain []*x509.Certificate
	if o.certificate != "" {
		leaf, err := readCertificates(o.certificate)
		if err != nil {
			return err
		}
		chain = append(chain, leaf[0])
		for _, p := range o.certChain {
			certs, err := readCertificates(p)
			if err != nil {
				return err
			}
			chain = append(chain, certs...)
		}
	}

	m, err := oms.Serialize(ctx, model, oms.Serialization{IgnorePaths: ignore}, verify.HashOptions{})
	if err != nil {
		return err
	}
	bundle, err := attest.SignOMS(ctx, kp, m, chain, sign.BundleOptions{})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(sigPath, bundle); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "signed %s: %s, sha256:%s\n", path, count(m), hex.EncodeToString(m.Digest()))
	fmt.Fprintln(cmd.OutOrStdout(), sigPath)
	return nil
}

// runVerifyLocal verifies a local model directory or file against its
// OpenSSF Model Signing signature (--signature, or model.sig in the
// directory or beside the file); without one, it is a directory that
// cairn pull wrote.
func runVerifyLocal(cmd *cobra.Command, o verifyOptions, path string) error {
	model, isDir, err := modelPath(path)
	if err != nil {
		return err
	}
	sigPath := o.signature
	if sigPath == "" {
		sigPath = defaultSignature(model, isDir)
		if _, err := os.Stat(sigPath); errors.Is(err, fs.ErrNotExist) {
			return runVerifyPulled(cmd, o, path)
		}
	}
	if o.policy != "" {
		return errors.New("--policy applies to models in a registry; a local model verifies against --key, --certificate-chain, or --trusted-root with a keyless identity")
	}
	trust, err := o.omsTrust()
	if err != nil {
		return err
	}
	var ignore []string
	if isDir {
		if ignore, err = modelIgnores(model, o.ignorePaths); err != nil {
			return err
		}
		if rel, ok := within(model, sigPath); ok {
			ignore = append(ignore, rel)
		}
	}
	sig, err := readSignature(sigPath)
	if err != nil {
		return err
	}
	signed, err := oms.Verify(cmd.Context(), model, sig, trust, oms.Options{IgnorePaths: ignore})
	if errors.Is(err, verify.ErrVerification) {
		return refused(fmt.Errorf("%s: %s: %w", path, sigPath, err))
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", path, sigPath, err)
	}
	when := ""
	if !signed.Time.IsZero() {
		when = " at " + signed.Time.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "verified: %s (%s, sha256:%s) signed by %s%s\n",
		path, count(signed.Manifest), hex.EncodeToString(signed.Manifest.Digest()), signed.Signer, when)
	return nil
}

// omsTrust builds what an OMS signature is checked against: --key and
// the keyless flags as for registry models, and --certificate-chain.
func (o verifyOptions) omsTrust() (oms.Trust, error) {
	var t oms.Trust
	if o.trustOptions.given() {
		var err error
		if t.Trust, err = o.trustOptions.trust(); err != nil {
			return t, err
		}
	}
	for _, p := range o.certChains {
		certs, err := readCertificates(p)
		if err != nil {
			return t, err
		}
		for i, c := range certs {
			name := p
			if len(certs) > 1 {
				name = fmt.Sprintf("%s#%d", p, i+1)
			}
			t.CAs = append(t.CAs, oms.CA{Name: name, Cert: c})
		}
	}
	if len(t.Keys) == 0 && len(t.Identities) == 0 && len(t.CAs) == 0 {
		return t, errors.New("nothing to verify against: give --key PUB, --certificate-chain CA.pem, or --trusted-root FILE with --certificate-identity and --certificate-oidc-issuer")
	}
	return t, nil
}

// modelPath returns the absolute path of a model and whether it is a
// directory. A directory given through a symlink is resolved (the model is
// what it leads to); a file is left as given, so that a symlinked file is
// refused as the reference refuses it.
func modelPath(path string) (string, bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", false, err
	}
	if !fi.IsDir() {
		return abs, false, nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", false, err
	}
	return real, true, nil
}

// defaultSignature is where model.sig goes: in the model directory, or
// beside a single-file model (the reference writes ./model.sig in the
// working directory; its test vectors keep it beside the file).
func defaultSignature(model string, isDir bool) string {
	if isDir {
		return filepath.Join(model, oms.SignatureFile)
	}
	return filepath.Join(filepath.Dir(model), oms.SignatureFile)
}

// within returns p's slash path relative to dir when p lies inside dir.
func within(dir, p string) (string, bool) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(real, filepath.Base(abs))
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// modelIgnores turns --ignore-paths values into slash paths relative to
// the model directory. As with the reference implementation, a value is
// first taken relative to the working directory (or as absolute) and used
// if it lands inside the model; unlike it, a value that does not is then
// taken relative to the model directory, and one that escapes both is an
// error rather than silently ignored.
func modelIgnores(model string, paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if rel, ok := within(model, p); ok {
			out = append(out, rel)
			continue
		}
		if !filepath.IsAbs(p) {
			rel := filepath.ToSlash(filepath.Clean(p))
			if rel != "." && fs.ValidPath(rel) {
				out = append(out, rel)
				continue
			}
		}
		return nil, fmt.Errorf("--ignore-paths %s: not inside the model directory %s", p, model)
	}
	return out, nil
}

// readCertificates reads the PEM certificates of a file: at least one.
func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := readBounded(path, maxCertFileSize)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return certs, nil
}

// readSignature reads model.sig, refusing (exit 1) one larger than
// verify.MaxBundleSize without reading it all.
func readSignature(path string) ([]byte, error) {
	b, err := readBounded(path, verify.MaxBundleSize)
	if errors.Is(err, errTooLarge) {
		return nil, refused(fmt.Errorf("%s: %w: larger than the %d-byte limit for a signature", path, oms.ErrMalformed, verify.MaxBundleSize))
	}
	return b, err
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

// count says how many resources m has, in the unit of its serialization.
func count(m *oms.Manifest) string {
	unit := "file"
	if m.Serialization.Method == oms.MethodShards {
		unit = "shard"
	}
	if len(m.Resources) != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", len(m.Resources), unit)
}
