package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"cairn.dev/cairn/registry/auth"
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

// call sends a JSON request to the server's admin or token API with the
// credential stored by cairn login (or docker, oras), through the token
// flow, and decodes the JSON answer into out.
func (o *adminOptions) call(ctx context.Context, method, path string, in, out any) error {
	if o.registry == "" {
		return errors.New("--registry HOST:PORT is required (or set CAIRN_REGISTRY)")
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.baseURL(o.registry)+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := o.client().Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "unauthorized") {
			return fmt.Errorf("%w (log in first: cairn login %s)", err, o.registry)
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
			msg = e.Errors[0].Message
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			msg += " (log in first: cairn login " + o.registry + ")"
		case http.StatusForbidden:
			msg += " (this needs an administrator of the registry: admin on **)"
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
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
			if err := o.call(cmd.Context(), "POST", "/_cairn/admin/users", auth.NewUser{Name: args[0], Password: pw}, nil); err != nil {
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
			var out struct {
				Users []auth.UserInfo `json:"users"`
			}
			if err := o.call(cmd.Context(), "GET", "/_cairn/admin/users", nil, &out); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), out.Users)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tCREATED\tROLES")
			for _, u := range out.Users {
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
			if err := o.call(cmd.Context(), "DELETE", "/_cairn/admin/users/"+pathEscape(args[0]), nil, nil); err != nil {
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
			if err := o.call(cmd.Context(), "PUT", "/_cairn/admin/users/"+pathEscape(args[0])+"/password", auth.NewPassword{Password: pw}, nil); err != nil {
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
			path := "/_cairn/admin/sessions"
			if len(args) == 1 {
				path += "?user=" + url.QueryEscape(args[0])
			}
			var out struct {
				Sessions []auth.SessionInfo `json:"sessions"`
			}
			if err := o.call(cmd.Context(), "GET", path, nil, &out); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), out.Sessions)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tPRINCIPAL\tSTARTED\tEXPIRES\tADDRESS\tID")
			for _, s := range out.Sessions {
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
			var out auth.RevokedSessions
			if err := o.call(cmd.Context(), "DELETE", "/_cairn/admin/sessions?user="+url.QueryEscape(args[0]), nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %d web sessions of %s\n", out.Revoked, args[0])
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}
