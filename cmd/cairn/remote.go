package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry/client"
)

// remoteOptions are the flags of commands that talk to a registry.
type remoteOptions struct {
	plainHTTP bool
	caFile    string
	insecure  bool
	https     bool // an https:// prefix on a reference
	// warn prints the --insecure warning once per command.
	warn   *sync.Once
	stderr func() io.Writer
}

func (o *remoteOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.plainHTTP, "plain-http", false, "use plain HTTP even for a non-loopback registry")
	f.StringVar(&o.caFile, "ca-file", "", "trust the certificate authorities in this PEM file too (a registry with a private CA); implies HTTPS, even on loopback")
	f.BoolVar(&o.insecure, "insecure", false, "do not verify the registry's TLS certificate (implies HTTPS; digests are still checked)")
	o.warn = new(sync.Once)
	o.stderr = cmd.ErrOrStderr
}

// options are the client options the flags say, with a warning on stderr
// for --insecure.
func (o *remoteOptions) options() client.Options {
	if o.insecure && o.warn != nil {
		o.warn.Do(func() {
			fmt.Fprintln(o.stderr(), "warning: --insecure: the registry's TLS certificate is not verified; anyone on the path can read and change the traffic (and see passwords)")
		})
	}
	return client.Options{PlainHTTP: o.plainHTTP, HTTPS: o.https, CAFile: o.caFile, Insecure: o.insecure}
}

// isLoopback reports whether host (with or without port) is this machine.
func isLoopback(host string) bool { return client.IsLoopback(host) }

// baseURL returns the scheme and host of a registry (client.Options.Plain
// decides the scheme).
func (o *remoteOptions) baseURL(host string) string {
	host, opts := o.options().WithScheme(host)
	return opts.BaseURL(host)
}

// client returns the HTTP client of the flags for the registry at host:
// their TLS settings, and the credential of the environment (for host) or
// the docker-style store (shared with oras and docker).
func (o *remoteOptions) client(host string) (remote.Client, error) {
	host, opts := o.options().WithScheme(host)
	return opts.HTTPClient(host)
}

// parseRef parses a docker-style reference (host:port/repo[:tag|@digest]);
// an http:// or https:// prefix sets the scheme (--plain-http, or HTTPS).
func (o *remoteOptions) parseRef(s string) (registry.Reference, error) {
	rest, opts := o.options().WithScheme(s)
	o.plainHTTP = opts.PlainHTTP
	if opts.HTTPS {
		o.plainHTTP = false
		o.https = true
	}
	return parseRef(rest)
}

// parseRef parses a docker-style reference (host:port/repo[:tag|@digest]).
func parseRef(s string) (registry.Reference, error) {
	ref, err := registry.ParseReference(s)
	if err != nil {
		return ref, fmt.Errorf("reference %q: %w", s, err)
	}
	return ref, nil
}
