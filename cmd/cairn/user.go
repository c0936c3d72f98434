package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/client"
)

// adminOptions are the flags of the commands that manage a running
// server's accounts (user, access, token).
type adminOptions struct {
	remoteOptions
	registry string
	json     bool
}

func (o *adminOptions) addFlags(cmd *cobra.Command, withJSON bool) {
	o.remoteOptions.addFlags(cmd)
	cmd.Flags().StringVar(&o.registry, "registry", os.Getenv("CAIRN_REGISTRY"), "the registry, HOST:PORT (default $CAIRN_REGISTRY); log in to it first with cairn login")
	if withJSON {
		cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	}
}

// admin runs f with the account API client of --registry, using the
// credential stored by cairn login (or docker, oras), and adds to its
// refusals what to do about them.
func (o *adminOptions) admin(ctx context.Context, f func(context.Context, *client.Admin) error) error {
	if o.registry == "" {
		return errors.New("--registry HOST:PORT is required (or set CAIRN_REGISTRY)")
	}
	hc, err := o.client(o.registry)
	if err != nil {
		return err
	}
	err = f(ctx, &client.Admin{Client: hc, Base: o.baseURL(o.registry)})
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		return fmt.Errorf("%w (log in first: cairn login %s)", err, o.registry)
	case errors.Is(err, client.ErrForbidden):
		return fmt.Errorf("%w (this needs an administrator of the registry: admin on **)", err)
	}
	return err
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readNewPassword reads a password from standard input (--password-stdin)
// or, on a terminal, asks for it twice.
func readNewPassword(cmd *cobra.Command, fromStdin bool, what string) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(in, 64<<10)).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for the password: use --password-stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	p1, err := ask("New password for " + what + ": ")
	if err != nil {
		return "", err
	}
	p2, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("the passwords differ")
	}
	return p1, nil
}

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the users of a running registry (administrators only)",
		Long: `Add, list, remove users and set their passwords on a running cairn serve with
authentication on. The commands use the credential that cairn login (or
docker, oras) stored for --registry, which must be an administrator's
(admin on **). Give users roles with cairn access.`,
		Example: `  cairn login 127.0.0.1:5000 -u admin
  cairn user add alice --registry 127.0.0.1:5000
  echo "$PASSWORD" | cairn user add ci --password-stdin --registry 127.0.0.1:5000
  cairn user list --registry 127.0.0.1:5000
  cairn user sessions revoke alice --registry 127.0.0.1:5000`,
	}
	cmd.AddCommand(newUserAddCmd(), newUserListCmd(), newUserRmCmd(), newUserPasswdCmd(), newUserSessionsCmd())
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var o adminOptions
	var stdin bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user (with no roles yet: see cairn access grant)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !auth.ValidUserName(args[0]) {
				return fmt.Errorf("user name %q: letters, digits, '.', '_', '@' and '-', starting with a letter or digit, at most %d", args[0], auth.MaxUserNameLength)
			}
			pw, err := readNewPassword(cmd, stdin, args[0])
			if err != nil {
				return err
			}
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) error { return a.AddUser(ctx, args[0], pw) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added user %s\n", args[0])
			return nil
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newUserListCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users and their roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var users []auth.UserInfo
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				users, err = a.Users(ctx)
				return err
			}); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), users)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tCREATED\tROLES")
			for _, u := range users {
				var roles []string
				for _, g := range u.Grants {
					roles = append(roles, g.Role+" on "+g.Pattern)
				}
				if len(roles) == 0 {
					roles = []string{"-"}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Created.Local().Format(time.DateTime), strings.Join(roles, ", "))
			}
			return tw.Flush()
		},
	}
	o.addFlags(cmd, true)
	return cmd
}

func newUserRmCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a user, with its roles and API tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) error { return a.RemoveUser(ctx, args[0]) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed user %s\n", args[0])
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}

func newUserPasswdCmd() *cobra.Command {
	var o adminOptions
	var stdin bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (refresh tokens and web sessions from before stop working)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readNewPassword(cmd, stdin, args[0])
			if err != nil {
				return err
			}
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) error { return a.SetPassword(ctx, args[0], pw) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", args[0])
			return nil
		},
	}
	o.addFlags(cmd, false)
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newUserSessionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List or end users' web UI sessions",
		Long: `Web UI logins are sessions kept in the registry's metadata store. A logout,
a password or role change and the user's removal end them on every node;
cairn user sessions revoke ends them at once, for example when a browser
was lost.`,
	}
	cmd.AddCommand(newUserSessionsListCmd(), newUserSessionsRevokeCmd())
	return cmd
}

func newUserSessionsListCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "list [USER]",
		Short: "List the live web UI sessions (of USER, else of everyone)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sessions []auth.SessionInfo
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				sessions, err = a.Sessions(ctx, strings.Join(args, ""))
				return err
			}); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), sessions)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tPRINCIPAL\tSTARTED\tEXPIRES\tADDRESS\tID")
			for _, s := range sessions {
				addr := s.Address
				if addr == "" {
					addr = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.16s\n", s.User, s.Principal, s.Created.Local().Format(time.DateTime),
					s.Expires.Local().Format(time.DateTime), addr, s.ID)
			}
			return tw.Flush()
		},
	}
	o.addFlags(cmd, true)
	return cmd
}

func newUserSessionsRevokeCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "revoke USER",
		Short: "End every web UI session of USER, on every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n int
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				n, err = a.RevokeSessions(ctx, args[0])
				return err
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %d web sessions of %s\n", n, args[0])
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}
