package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/auth"
	"cairn.dev/cairn/registry/client"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
		Long: `API tokens are long-lived credentials for CI and scripts. A token is used as
the password, with any user name (cairn login -u ci, oras -u ci -p TOKEN,
docker login). It can do only what its scopes allow AND what its owner's
roles allow at the time it is used, and it is stored only as a hash: it is
shown once, when it is created.

Scopes are docker scopes whose repository names may be patterns (as in
cairn access): repository:PATTERN:ACTIONS with the actions pull, push,
delete or *, and registry:catalog:* to list the repositories it may pull.
Everyone can make tokens for themselves; administrators see and revoke
everyone's.`,
		Example: `  cairn token create --registry 127.0.0.1:5000 --scope 'repository:team-a/*:pull' --expires 1h --name ci
  cairn token list --registry 127.0.0.1:5000
  cairn token revoke 3f2a9c0d1e4b5a6f --registry 127.0.0.1:5000`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var (
		o       adminOptions
		scopes  []string
		expires time.Duration
		name    string
	)
	cmd := &cobra.Command{
		Use:   "create --scope SCOPE... [--expires DURATION] [--name NAME]",
		Short: "Create an API token for yourself; it is printed on the last line, once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(scopes) == 0 {
				return fmt.Errorf("at least one --scope, e.g. --scope 'repository:team-a/*:pull'")
			}
			for _, s := range scopes {
				if _, err := auth.ParseScope(s, true); err != nil {
					return err
				}
			}
			if expires < 0 || expires > 0 && expires < time.Second {
				return fmt.Errorf("--expires %v: 0 (never) or at least a second", expires)
			}
			var ct auth.CreatedToken
			req := auth.NewToken{Name: name, Scopes: scopes, ExpiresIn: int64(expires / time.Second)}
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				ct, err = a.CreateToken(ctx, req)
				return err
			}); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), ct)
			}
			until := "never expires"
			if !ct.Expires.IsZero() {
				until = "expires " + ct.Expires.Local().Format(time.DateTime)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "API token %s of %s (%s), scopes %s.\nIt is shown only now; use it as the password with any user name:\n",
				ct.ID, ct.User, until, strings.Join(ct.Scopes, " "))
			fmt.Fprintln(cmd.OutOrStdout(), ct.Token)
			return nil
		},
	}
	o.addFlags(cmd, true)
	f := cmd.Flags()
	f.StringArrayVar(&scopes, "scope", nil, "what the token may do, e.g. 'repository:team-a/*:pull,push' (repeatable)")
	f.DurationVar(&expires, "expires", 30*24*time.Hour, "lifetime (0: never expires)")
	f.StringVar(&name, "name", "", "a name to recognise the token by")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var (
		o    adminOptions
		all  bool
		user string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your API tokens (--all or --user: an administrator's view of others')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var tokens []auth.TokenInfo
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				tokens, err = a.Tokens(ctx, user, all)
				return err
			}); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), tokens)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tNAME\tCREATED\tEXPIRES\tSCOPES")
			for _, t := range tokens {
				exp := "never"
				if !t.Expires.IsZero() {
					exp = t.Expires.Local().Format(time.DateTime)
				}
				name := t.Name
				if name == "" {
					name = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, name, t.Created.Local().Format(time.DateTime), exp, strings.Join(t.Scopes, " "))
			}
			return tw.Flush()
		},
	}
	o.addFlags(cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "every user's tokens (administrators)")
	cmd.Flags().StringVar(&user, "user", "", "another user's tokens (administrators)")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token (and the bearer tokens exchanged for it) at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) error { return a.RevokeToken(ctx, args[0]) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked API token %s\n", args[0])
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}
