package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry/client"
)

func newLoginCmd() *cobra.Command {
	var (
		ro            remoteOptions
		user          string
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "login REGISTRY",
		Short: "Log in to a registry and store the credential for later commands",
		Long: `Check a user name and password (or API token) against REGISTRY and store them
in the docker-style credential store (~/.docker/config.json or its credential
helper), the same store oras and docker use: a login with any of them works
for the others.`,
		Example: `  cairn login reg.example.com -u alice
  echo "$TOKEN" | cairn login reg.example.com -u ci --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := args[0]
			store, err := client.CredentialStore()
			if err != nil {
				return err
			}
			in := cmd.InOrStdin()
			if user == "" {
				if passwordStdin {
					return errors.New("--password-stdin needs -u")
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Username: ")
				line, err := bufio.NewReader(in).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read user name: %w", err)
				}
				user = strings.TrimSpace(line)
			}
			var pass string
			if passwordStdin {
				b, err := io.ReadAll(io.LimitReader(in, 64<<10))
				if err != nil {
					return err
				}
				pass = strings.TrimRight(string(b), "\r\n")
			} else {
				f, ok := in.(*os.File)
				if !ok || !term.IsTerminal(int(f.Fd())) {
					return errors.New("no terminal to ask for the password: use --password-stdin")
				}
				fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				pass = string(b)
			}
			where, err := client.Login(cmd.Context(), store, host, auth.Credential{Username: user, Password: pass}, ro.options())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Login succeeded; credential stored in %s\n", where)
			return nil
		},
	}
	ro.addFlags(cmd)
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password or token from standard input")
	return cmd
}
