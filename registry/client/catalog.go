package client

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote"
)

// MaxCatalog is the most repository names Catalog reads from a registry:
// a registry's answer is untrusted, and a listing must end.
const MaxCatalog = 100000

// Catalog lists the repositories of r's registry (GET /v2/_catalog,
// following its pages), in the registry's order. A registry lists only
// what the caller may pull.
func (r *Repository) Catalog(ctx context.Context) ([]string, error) {
	reg, err := remote.NewRegistry(r.Repo.Reference.Registry)
	if err != nil {
		return nil, err
	}
	reg.Client, reg.PlainHTTP = r.Repo.Client, r.Repo.PlainHTTP
	var names []string
	err = reg.Repositories(ctx, "", func(page []string) error {
		if len(names)+len(page) > MaxCatalog {
			return fmt.Errorf("catalog of %s: more than %d repositories", reg.Reference.Registry, MaxCatalog)
		}
		names = append(names, page...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog of %s: %w", reg.Reference.Registry, err)
	}
	return names, nil
}
