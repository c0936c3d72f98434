package client

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// CredentialStore opens the docker-style credential store shared with oras
// and docker (~/.docker/config.json or its credential helper); like them,
// it falls back to the config file when no helper is configured.
func CredentialStore() (*credentials.DynamicStore, error) {
	return credentials.NewStoreFromDocker(credentials.StoreOptions{AllowPlaintextPut: true})
}

// Login checks cred against the registry at host and, when it is good,
// stores it in store for later commands (and for oras and docker). It
// returns where the credential went: the config file, or "the credential
// store" for a helper. The scheme is o's (Options.Plain: plain HTTP for
// loopback unless asked otherwise).
func Login(ctx context.Context, store *credentials.DynamicStore, host string, cred auth.Credential, o Options) (string, error) {
	host, o = o.WithScheme(host)
	reg, err := remote.NewRegistry(host)
	if err != nil {
		return "", err
	}
	reg.PlainHTTP = o.Plain(host)
	c, err := o.HTTPClient(host)
	if err != nil {
		return "", err
	}
	if ac, ok := c.(*auth.Client); ok && o.Client == nil {
		ac.Credential = nil
	}
	reg.Client = c
	if err := credentials.Login(ctx, store, reg, cred); err != nil {
		return "", fmt.Errorf("login to %s: %w", host, err)
	}
	if p := store.ConfigPath(); p != "" {
		return p, nil
	}
	return "the credential store", nil
}

// Logout removes the credential of the registry at host from store (and
// so from oras and docker too). It reports whether there was one.
func Logout(ctx context.Context, store *credentials.DynamicStore, host string) (bool, error) {
	host, _ = Options{}.WithScheme(host)
	cred, err := store.Get(ctx, host)
	if err != nil {
		return false, fmt.Errorf("credential of %s: %w", host, err)
	}
	if cred == auth.EmptyCredential {
		return false, nil
	}
	if err := credentials.Logout(ctx, store, host); err != nil {
		return false, fmt.Errorf("logout of %s: %w", host, err)
	}
	return true, nil
}
