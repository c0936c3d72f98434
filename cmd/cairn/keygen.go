package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/attest"
)

// passwordEnv names the environment variable keygen (and later sign) reads
// the private key's password from. Set but empty means no password.
const passwordEnv = "CAIRN_PASSWORD"

type keygenOptions struct {
	out   string
	force bool
}

func newKeygenCmd() *cobra.Command {
	var o keygenOptions
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a key pair for signing models",
		Long: `Generate an ECDSA P-256 key pair, the kind cosign generate-key-pair makes, and
write PREFIX.key (private, mode 0600) and PREFIX.pub (public, mode 0644).

The private key is PKCS#8 PEM encrypted with a password (PBKDF2-HMAC-SHA256
and AES-256-CBC; openssl pkcs8 reads it). The password comes from the
CAIRN_PASSWORD environment variable when it is set, even to the empty string,
and otherwise is asked for twice on the terminal. An empty password writes
the private key unencrypted, with a warning.

PREFIX.pub is PKIX PEM, like cosign.pub: give it to whoever verifies. Keys
made by cosign generate-key-pair work wherever cairn takes a key.
Existing files are never overwritten unless --force is given.`,
		Example: `  cairn keygen
  cairn keygen --out release
  CAIRN_PASSWORD="$(pass show cairn/signing)" cairn keygen --out ci --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeygen(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "cairn", "write the keys to PREFIX.key and PREFIX.pub")
	f.BoolVar(&o.force, "force", false, "overwrite existing key files")
	return cmd
}

func runKeygen(cmd *cobra.Command, o keygenOptions) error {
	keyPath, pubPath := attest.KeyPairPaths(o.out)
	if !o.force {
		if err := attest.CheckKeyPairFree(o.out); err != nil {
			return existsErr(err)
		}
	}
	password, err := keyPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	key, err := attest.GenerateKey()
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	if len(password) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: empty password: %s is written unencrypted; anyone who can read it can sign as you\n", keyPath)
	}
	if err := attest.WriteKeyPair(o.out, key, password, o.force); err != nil {
		return existsErr(err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath)
	return nil
}

// existsErr says how to overwrite an existing key file.
func existsErr(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: use --force to overwrite it", err)
	}
	return err
}

// keyPassword returns the password for a new key: $CAIRN_PASSWORD if set,
// else read twice from the terminal on in.
func keyPassword(in io.Reader, errOut io.Writer) ([]byte, error) {
	if p, ok := os.LookupEnv(passwordEnv); ok {
		return []byte(p), nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("no terminal to ask for the key password: set %s (empty for an unencrypted key)", passwordEnv)
	}
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(errOut, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errOut)
		return b, err
	}
	p1, err := read("Enter password for private key: ")
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	p2, err := read("Enter password for private key again: ")
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if !bytes.Equal(p1, p2) {
		return nil, errors.New("passwords do not match")
	}
	return p1, nil
}
