package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
)

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout REGISTRY",
		Short: "Remove the credential stored for a registry",
		Long: `Remove the credential cairn login stored for REGISTRY from the docker-style
credential store (~/.docker/config.json or its helper), which oras and docker
share: they are logged out too. Credentials given in $CAIRN_REGISTRY_USERNAME
and $CAIRN_REGISTRY_PASSWORD are not stored and need no logout.`,
		Example: `  cairn logout reg.example.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := client.CredentialStore()
			if err != nil {
				return err
			}
			host, _ := client.Options{}.WithScheme(args[0])
			had, err := client.Logout(cmd.Context(), store, host)
			if err != nil {
				return err
			}
			if !had {
				fmt.Fprintf(cmd.ErrOrStderr(), "no credential stored for %s\n", host)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "removed the credential of %s\n", host)
			return nil
		},
	}
}
