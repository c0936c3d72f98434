package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
)

// Quarantines lists the repository's quarantined versions (the registry's
// /_cairn/quarantine endpoint).
func Quarantines(ctx context.Context, r *Repository) ([]storage.Quarantine, error) {
	body, err := r.call(ctx, http.MethodGet, r.extensionURL("quarantine"), nil)
	if err != nil {
		return nil, err
	}
	var qs []storage.Quarantine
	if err := json.Unmarshal(body, &qs); err != nil {
		return nil, fmt.Errorf("decode quarantines: %w", err)
	}
	return qs, nil
}

// Quarantine makes the registry refuse every pull of the version the
// repository's reference names (by tag or by digest), with reason, and
// returns its digest. It needs the admin role on a registry with
// authentication.
func Quarantine(ctx context.Context, r *Repository, reason string) (digest.Digest, error) {
	b, _ := json.Marshal(map[string]string{"reason": reason})
	return r.quarantine(ctx, http.MethodPut, b)
}

// Release lifts the quarantine of the version the repository's reference
// names, found by tag even though the registry refuses to resolve it, and
// returns its digest.
func Release(ctx context.Context, r *Repository) (digest.Digest, error) {
	return r.quarantine(ctx, http.MethodDelete, nil)
}

func (r *Repository) quarantine(ctx context.Context, method string, body []byte) (digest.Digest, error) {
	ref := r.Repo.Reference
	if ref.Reference == "" {
		return "", fmt.Errorf("%s: name a tag or digest", ref)
	}
	d, err := r.resolveEvenIfQuarantined(ctx)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	_, err = r.call(ctx, method, r.extensionURL("quarantine?digest="+url.QueryEscape(d.String())), body)
	return d, err
}

// resolveEvenIfQuarantined resolves a tag or digest; a quarantined version
// answers 403 to a HEAD, so a tag is then looked up in the versions list.
func (r *Repository) resolveEvenIfQuarantined(ctx context.Context) (digest.Digest, error) {
	ref := r.Repo.Reference.Reference
	if d, err := digest.Parse(ref); err == nil {
		return d, nil
	}
	desc, err := r.Repo.Resolve(ctx, ref)
	if err == nil {
		return desc.Digest, nil
	}
	if !Denied(err) {
		return "", err
	}
	body, ok, verr := r.extension(ctx, "versions", MaxVersionsResponse)
	if verr != nil || !ok {
		return "", err
	}
	var vs []registry.Version
	if json.Unmarshal(body, &vs) != nil {
		return "", err
	}
	for _, v := range vs {
		for _, t := range v.Tags {
			if t == ref {
				return v.Digest, nil
			}
		}
	}
	return "", err
}
