package main

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/spf13/cobra"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify/oms"
)

// maxCertFileSize bounds a PEM certificate file (a chain of a few
// certificates is a few KiB).
const maxCertFileSize = 1 << 20

// runSignLocal signs a local model directory or file with OpenSSF Model
// Signing (attest.SignModel): model.sig, as the reference implementation
// (`model_signing sign key` or `sign certificate`) writes it.
func runSignLocal(cmd *cobra.Command, o signOptions, path string) error {
	if len(o.certChain) > 0 && o.certificate == "" {
		return errors.New("--certificate-chain needs --certificate: the signing certificate of --key, which the chain's intermediates vouch for")
	}
	m, err := oms.Locate(path)
	if err != nil {
		return err
	}
	// Bad ignore paths are reported before the key's password is asked.
	sigPath := o.signature
	if sigPath == "" {
		sigPath = m.SignaturePath()
	}
	if _, err := m.Ignores(o.ignorePaths, sigPath); err != nil {
		return ignoreErr(err)
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
	man, _, err := attest.SignModel(cmd.Context(), kp, m, attest.SignModelOptions{
		Signature: sigPath, IgnorePaths: o.ignorePaths, Chain: chain, Bundle: sign.BundleOptions{},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "signed %s: %s, sha256:%s\n", path, count(man), hex.EncodeToString(man.Digest()))
	fmt.Fprintln(cmd.OutOrStdout(), sigPath)
	return nil
}

// runVerifyLocal verifies a local model directory or file against its
// OpenSSF Model Signing signature (--signature, or model.sig in the
// directory or beside the file); without one, it is a directory that
// cairn pull wrote.
func runVerifyLocal(cmd *cobra.Command, o verifyOptions, path string) error {
	m, err := oms.Locate(path)
	if err != nil {
		return err
	}
	sigPath := o.signature
	if sigPath == "" {
		sigPath = m.SignaturePath()
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
	ignore, err := m.Ignores(o.ignorePaths, sigPath)
	if err != nil {
		return ignoreErr(err)
	}
	sig, err := oms.ReadSignature(sigPath)
	if err != nil {
		return agentErr(err)
	}
	signed, err := oms.Verify(cmd.Context(), m.Path, sig, trust, oms.Options{IgnorePaths: ignore})
	if err != nil {
		return agentErr(fmt.Errorf("%s: %s: %w", path, sigPath, err))
	}
	when := ""
	if !signed.Time.IsZero() {
		when = " at " + signed.Time.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "verified: %s (%s, sha256:%s) signed by %s%s\n",
		path, count(signed.Manifest), hex.EncodeToString(signed.Manifest.Digest()), signed.Signer, when)
	return nil
}

// ignoreErr names the flag of an ignore path outside the model.
func ignoreErr(err error) error {
	if errors.Is(err, oms.ErrNotInModel) {
		return fmt.Errorf("--ignore-paths %w", err)
	}
	return err
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

// readCertificates reads the PEM certificates of a file: at least one.
func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := readBounded(path, maxCertFileSize)
	if err != nil {
		return nil, err
	}
	certs, err := oms.ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
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
