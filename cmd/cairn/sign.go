package main

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/client"
)

type signOptions struct {
	remoteOptions
	key string // --key: private key

	// OpenSSF Model Signing of a local directory or file.
	signature   string   // --signature: where model.sig is written
	certificate string   // --certificate: the key's signing certificate (PEM)
	certChain   []string // --certificate-chain: intermediates to embed
	ignorePaths []string // --ignore-paths
}

func newSignCmd() *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign REF|PATH --key KEY",
		Short: "Sign a model in a registry, or a local model, with a private key",
		Long: `Sign the manifest REF resolves to, the way cosign v3 signs an image: a Sigstore
bundle (v0.3) holding a DSSE envelope over an in-toto statement whose subject
is the manifest digest (predicate type https://sigstore.dev/cosign/sign/v1),
pushed as an OCI referrer of the manifest. Prints the signature manifest's
digest.

KEY is a private key from cairn keygen or cosign generate-key-pair. An
encrypted key's password comes from CAIRN_PASSWORD when it is set, and
otherwise is asked for once on the terminal. The bundle records only the
key's fingerprint: no certificate, no transparency log entry.

A local PATH (a directory or a single file) is signed with OpenSSF Model
Signing v1.0 instead, as the reference model_signing does: model.sig, a
Sigstore bundle over the SHA-256 of every file (predicate
https://model_signing/signature/v1.0), written in the directory or beside the
file unless --signature names another place. Left out: .git, .gitattributes,
.github, .gitignore, the signature itself, and each --ignore-paths (a path
from the working directory, or else from the model directory). With
--certificate, and --certificate-chain for its intermediates, the bundle
carries that chain, as model_signing sign certificate does. Prints the
signature's path. cairn verify PATH checks it.`,
		Example: `  cairn sign 127.0.0.1:5000/models/llama:v1 --key cairn.key
  CAIRN_PASSWORD="$(pass show cairn/signing)" cairn sign reg.example/m@sha256:... --key ci.key
  cairn sign ./tiny-llm --key cairn.key --ignore-paths ./tiny-llm/notes
  cairn sign ./tiny-llm --key signer.key --certificate signer.pem --certificate-chain intermediate.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isLocalPath(args[0]) {
				return runSignLocal(cmd, o, args[0])
			}
			return runSign(cmd, o, args[0])
		},
	}
	o.remoteOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.key, "key", "", "private key file (PEM)")
	f.StringVar(&o.signature, "signature", "", "local model: where to write the signature (default PATH/model.sig)")
	f.StringVar(&o.certificate, "certificate", "", "local model: the signing certificate of --key (PEM)")
	f.StringArrayVar(&o.certChain, "certificate-chain", nil, "local model: intermediate certificates to include (PEM); repeatable")
	f.StringArrayVar(&o.ignorePaths, "ignore-paths", nil, "local model: paths to leave out of the signature; repeatable")
	cmd.MarkFlagRequired("key")
	return cmd
}

func runSign(cmd *cobra.Command, o signOptions, refStr string) error {
	ctx := cmd.Context()
	kp, err := signingKeypair(cmd, o.key)
	if err != nil {
		return err
	}
	repo, err := o.open(refStr)
	if err != nil {
		return err
	}
	res, err := client.Sign(ctx, repo, kp, sign.BundleOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "signed %s/%s@%s\n", repo.Repo.Reference.Registry, repo.Repo.Reference.Repository, res.Subject.Digest)
	fmt.Fprintln(cmd.OutOrStdout(), res.Referrer.Digest)
	return nil
}

// signingKeypair loads the private key at path (asking for its password
// as loadSigningKey does) as a cosign-style sigstore-go keypair.
func signingKeypair(cmd *cobra.Command, path string) (*attest.Keypair, error) {
	signer, err := loadSigningKey(path, cmd.InOrStdin(), cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	kp, err := attest.NewKeypair(signer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}

// loadSigningKey reads a private key. Its password is $CAIRN_PASSWORD when
// set; otherwise the key is tried without one and, only if it is encrypted,
// the password is asked for once on the terminal.
func loadSigningKey(path string, in io.Reader, errOut io.Writer) (crypto.Signer, error) {
	pemBytes, err := attest.ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	password, set := os.LookupEnv(passwordEnv)
	key, err := attest.LoadPrivateKey(pemBytes, []byte(password))
	if errors.Is(err, attest.ErrPasswordRequired) && !set {
		f, ok := in.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil, fmt.Errorf("%s is encrypted and there is no terminal to ask for its password: set %s", path, passwordEnv)
		}
		fmt.Fprintf(errOut, "Enter password for %s: ", path)
		p, rerr := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errOut)
		if rerr != nil {
			return nil, fmt.Errorf("read password: %w", rerr)
		}
		key, err = attest.LoadPrivateKey(pemBytes, p)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}
