package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"

	"cairn.dev/cairn/registry/client"
)

// remoteOptions are the flags of commands that talk to a registry.
type remoteOptions struct {
	plainHTTP bool
}

func (o *remoteOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.plainHTTP, "plain-http", false, "use plain HTTP even for a non-loopback registry")
}

// isLoopback reports whether host (with or without port) is this machine.
func isLoopback(host string) bool { return client.IsLoopback(host) }

// baseURL returns the scheme and host of a registry: loopback registries
// are reached over plain HTTP, like docker does.
func (o *remoteOptions) baseURL(host string) string {
	if o.plainHTTP || isLoopback(host) {
		return "http://" + host
	}
	return "https://" + host
}

// client returns an HTTP client that authenticates with the docker-style
// credential store (shared with oras and docker).
func (o *remoteOptions) client() *auth.Client { return client.DefaultClient() }

// parseRef parses a docker-style reference (host:port/repo[:tag|@digest]).
func parseRef(s string) (registry.Reference, error) {
	ref, err := registry.ParseReference(s)
	if err != nil {
		return ref, fmt.Errorf("reference %q: %w", s, err)
	}
	return ref, nil
}
