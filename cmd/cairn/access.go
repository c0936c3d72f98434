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

func newAccessCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Grant and revoke roles on repository patterns (administrators only)",
		Long: `Give a user a role on every repository a pattern matches, on a running cairn
serve with authentication on. Roles: read (pull), write (push; implies
read) and admin (delete; implies write). Patterns are repository names in
which "*" matches within one path element and "**" any number of them:
team-a/* (team-a/x, not team-a/x/y), team-a/** (everything under team-a),
** (everything). admin on ** makes a user an administrator of the registry.
A user's role on a repository is the highest any of its grants gives.`,
		Example: `  cairn access grant alice 'team-a/*' write --registry 127.0.0.1:5000
  cairn access grant bob '**' read --registry 127.0.0.1:5000
  cairn access revoke alice 'team-a/*' --registry 127.0.0.1:5000
  cairn access list alice --registry 127.0.0.1:5000`,
	}
	cmd.AddCommand(newAccessGrantCmd(), newAccessRevokeCmd(), newAccessListCmd())
	return cmd
}

func newAccessGrantCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "grant USER PATTERN ROLE",
		Short: "Give USER the ROLE (read, write or admin) on the repositories PATTERN matches",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			user, pattern, role := args[0], args[1], args[2]
			if !auth.ValidPattern(pattern) {
				return fmt.Errorf("pattern %q: path elements of a-z 0-9 . _ - and *, or **", pattern)
			}
			if !auth.ValidRole(role) {
				return fmt.Errorf("role %q: read, write or admin", role)
			}
			var g auth.GrantInfo
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				g, err = a.Grant(ctx, auth.GrantInfo{User: user, Pattern: pattern, Role: role})
				return err
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "granted %s %s on %s\n", g.User, g.Role, g.Pattern)
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}

func newAccessRevokeCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "revoke USER PATTERN",
		Short: "Remove USER's grant on PATTERN",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) error { return a.Revoke(ctx, args[0], args[1]) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked the grant of %s on %s\n", args[0], args[1])
			return nil
		},
	}
	o.addFlags(cmd, false)
	return cmd
}

func newAccessListCmd() *cobra.Command {
	var o adminOptions
	cmd := &cobra.Command{
		Use:   "list [USER]",
		Short: "List the grants (of one user, or of all)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var grants []auth.GrantInfo
			if err := o.admin(cmd.Context(), func(ctx context.Context, a *client.Admin) (err error) {
				grants, err = a.Grants(ctx, strings.Join(args, ""))
				return err
			}); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), grants)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tPATTERN\tROLE\tGRANTED\tBY")
			for _, g := range grants {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.User, g.Pattern, g.Role, g.Created.Local().Format(time.DateTime), strings.TrimSpace(g.By))
			}
			return tw.Flush()
		},
	}
	o.addFlags(cmd, true)
	return cmd
}
